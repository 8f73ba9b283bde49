"""Benchmark: the outbox's cost on imports, and the pusher's throughput (SPEC 7).

Side by side, on SQLite and PostgreSQL, in one run:

* import slowdown: the same `persons` CSV (N rows) and `vacancies` CSV imported with the
  outbox and without it (its trackers switched off, everything else identical), in three
  situations: first import (every row new: N events / feed entries), re-import with every
  status changed (N events), re-import unchanged (no event, only the locking comparison).
  Median of --repeat runs; the ratio with ÷ without is the slowdown.
* pusher throughput: events/s that one pusher delivers to a local receiver process
  (tests/outbox_receiver.py, answering 200), for several batch sizes.

    python -m bench.push                     # N = 20,000
    python -m bench.push --rows 5000 --repeat 3 --backends sqlite
Prints a Markdown table (append it to bench/RESULTS.md) with the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from sqlalchemy import create_engine, text

from queries import outbox
from queries.db import init_db, make_engine
from queries.exchange.pipeline import import_file, import_records
from queries.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RECEIVER = ROOT / "tests" / "outbox_receiver.py"
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STATUSES = ("employed", "flexible", "unemployed", "inactive")
REGIONS = [
    {"code": "340000000000", "name": "安徽省", "level": "province", "parent_code": ""},
    {"code": "340100000000", "name": "合肥市", "level": "city", "parent_code": "340000000000"},
    {"code": "340102000000", "name": "瑶海区", "level": "county", "parent_code": "340100000000"},
    {"code": "340102001000", "name": "明光路街道", "level": "township",
     "parent_code": "340102000000"},
] + [{"code": f"3401020010{i:02d}", "name": f"社区{i}", "level": "community",
      "parent_code": "340102001000", "lat": "31.87", "lon": "117.31"} for i in range(1, 21)]


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def persons_file(d: Path, n: int, shift: int) -> Path:
    """n persons; `shift` moves every status by one (each row then changes)."""
    return _write(d / f"persons-{shift}.csv", [
        {"person_id": f"b{i:07d}", "community_code": f"3401020010{i % 20 + 1:02d}",
         "gender": "MF"[i % 2], "birth_year": 1970 + i % 30, "education": "高中",
         "status": STATUSES[(i + shift) % 4], "seeking_job": "true" if (i + shift) % 3 else
         "false", "key_groups": "graduate" if i % 7 == 0 else "", "registered_on": "2024-03-01"}
        for i in range(n)])


def vacancies_file(d: Path, n: int, shift: int) -> Path:
    """n vacancies; `shift` changes every headcount."""
    return _write(d / f"vacancies-{shift}.csv", [
        {"vacancy_id": f"bv{i:07d}", "community_code": f"3401020010{i % 20 + 1:02d}",
         "lat": "31.87", "lon": "117.31", "title": f"岗位{i}", "type": "full_time",
         "headcount": 1 + (i + shift) % 9, "salary_min": 3000, "salary_max": 6000,
         "posted_on": "2024-05-01"} for i in range(n)])


@contextlib.contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    """A fresh migrated database URL with the region tree."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'b-{uuid.uuid4().hex[:6]}.db'}"
        admin = schema = None
    else:
        schema = "bench_push_" + uuid.uuid4().hex[:8]
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    init_db(engine)
    import_records(engine, "regions", REGIONS)
    engine.dispose()
    try:
        yield url
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


@contextlib.contextmanager
def outbox_off() -> Iterator[None]:
    """The same import with the outbox's trackers switched off."""
    saved = dict(outbox.TRACKERS)
    outbox.TRACKERS.clear()
    try:
        yield
    finally:
        outbox.TRACKERS.update(saved)


def time_imports(backend: str, kind: str, n: int, tmp: Path, on: bool) -> dict[str, float]:
    """Seconds of the first import, a changed re-import and an unchanged one."""
    make = persons_file if kind == "persons" else vacancies_file
    files = [make(tmp, n, 0), make(tmp, n, 1)]
    out: dict[str, float] = {}
    with database(backend, tmp) as url:
        engine = make_engine(url)
        ctx = contextlib.nullcontext() if on else outbox_off()
        with ctx:
            for label, f in (("new", files[0]), ("changed", files[1]),
                             ("unchanged", files[1])):
                t = time.perf_counter()
                res = import_file(engine, kind, f, progress=False)
                out[label] = time.perf_counter() - t
                assert res.exit_code == 0 and res.imported == n, (res.error, res.rejected)
        engine.dispose()
    return out


def throughput(backend: str, n: int, batch: int, tmp: Path) -> float:
    """Events/s of one pusher delivering n events to a local receiver process."""
    from tests.httpserver import free_port

    with database(backend, tmp) as url:
        engine = make_engine(url)
        import_file(engine, "persons", persons_file(tmp, n, 0), progress=False)
        port = free_port()
        log = tmp / f"recv-{uuid.uuid4().hex[:6]}.jsonl"
        proc = subprocess.Popen([sys.executable, str(RECEIVER), str(port), "s", str(log)],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout and proc.stdout.readline().strip() == "ready"
            settings = replace(Settings(), province_url=f"http://127.0.0.1:{port}/e",
                               province_secret="s", push_batch=batch, push_timeout=30)
            t = time.perf_counter()
            got = outbox.push_once(engine, settings, budget_seconds=3600)
            secs = time.perf_counter() - t
        finally:
            proc.kill()
            proc.wait()
        assert got.delivered == n, got
        engine.dispose()
    return n / secs


def main() -> int:
    """Run both measurements and print the Markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--batches", default="100,500,1000")
    args = ap.parse_args()
    backends = args.backends.split(",")
    print(f"# bench/push.py {dt.date.today()} · {platform.node()} · {os.cpu_count()} CPUs · "
          f"load {os.getloadavg()[0]:.1f}/{os.getloadavg()[1]:.1f} at start · "
          f"{args.rows:,} rows, median of {args.repeat}\n")
    print("| backend | KIND | import | without outbox s | with outbox s | ratio |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for backend in backends:
            for kind in ("persons", "vacancies"):
                runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
                for _ in range(args.repeat):
                    for on in (False, True):  # alternate, so load drifts hit both alike
                        runs[on].append(time_imports(backend, kind, args.rows, tmp, on))
                for label in ("new", "changed", "unchanged"):
                    off = statistics.median(r[label] for r in runs[False])
                    on_ = statistics.median(r[label] for r in runs[True])
                    print(f"| {backend} | {kind} | {label} | {off:.2f} | {on_:.2f} | "
                          f"{on_ / off:.2f} |", flush=True)
        print(f"\nload {os.getloadavg()[0]:.1f} after imports\n")
        print("| backend | batch | events | events/s (median) |")
        print("|---|---|---|---|")
        for backend in backends:
            for batch in (int(b) for b in args.batches.split(",")):
                rates = [throughput(backend, args.rows, batch, tmp) for _ in range(args.repeat)]
                print(f"| {backend} | {batch} | {args.rows:,} | "
                      f"{statistics.median(rates):,.0f} |", flush=True)
    print(f"\nload {os.getloadavg()[0]:.1f}/{os.getloadavg()[1]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
