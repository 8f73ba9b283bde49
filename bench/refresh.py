"""Benchmark: full refresh vs the floor (one GROUP BY community scan per source table).

Builds demo data at two sizes (about 100,000 and 1,000,000 persons, everything else in
proportion) on SQLite and on PostgreSQL, then, in one run and side by side, times

* the floor: `SELECT community_code, COUNT(*) FROM t GROUP BY community_code` for every
  source table, fetched to the client;
* the full refresh: aggregation of every SPEC section 3 metric for every region, written
  as a snapshot batch and made visible;

and prints refresh ÷ floor (target ≤ 2.0) and the refresh's peak memory (max RSS of a child
process that only runs the refresh, minus its RSS before the refresh).

    python -m bench.refresh                 # scales 2 and 20 (≈100k and ≈1M persons)
    python -m bench.refresh --scales 2 --repeat 5 --backends sqlite
Data is built once and kept (bench/data/*.db, PostgreSQL schemas bench_s<scale>).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, create_engine, func, select, text

from queries.db import init_db, make_engine
from queries.models import Person

TZ = "Asia/Shanghai"
DATA_DIR = Path(__file__).with_name("data")
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SOURCE_TABLES = ("persons", "households", "vacancies", "placements", "assistance")
# Fixed data day and as-of instant so every run measures the same work.
DATA_DAY = dt.date(2026, 11, 20)
AS_OF = dt.datetime(2026, 11, 20, 18, 0, tzinfo=ZoneInfo(TZ))


def db_url(backend: str, scale: float) -> str:
    """Where the data set of this backend and scale lives."""
    tag = str(scale).replace(".", "_")
    if backend == "sqlite":
        return f"sqlite:///{DATA_DIR / f'refresh-s{tag}.db'}"
    schema = f"bench_s{tag}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    admin.dispose()
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def ensure_data(url: str, scale: float) -> tuple[Engine, int]:
    """Build the demo data set once (through the real importer); return engine and persons."""
    from queries.demo import load_demo

    engine = make_engine(url)
    init_db(engine)
    with engine.connect() as conn:
        persons = conn.execute(select(func.count()).select_from(Person)).scalar_one()
    if persons == 0:
        t0 = time.perf_counter()
        print(f"  building scale {scale} data ({url.split('?')[0]}) …", flush=True)
        load_demo(engine, scale=scale, seed=1, today=DATA_DAY, tz=TZ, progress=True)
        print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        with engine.connect() as conn:
            persons = conn.execute(select(func.count()).select_from(Person)).scalar_one()
    return engine, persons


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows per source table."""
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in SOURCE_TABLES}


def floor_once(engine: Engine) -> float:
    """Seconds for one GROUP BY community_code scan of every source table."""
    t0 = time.perf_counter()
    with engine.connect() as conn:
        for t in SOURCE_TABLES:
            conn.execute(
                text(f"SELECT community_code, COUNT(*) FROM {t} GROUP BY community_code")
            ).fetchall()
    return time.perf_counter() - t0


def refresh_once(engine: Engine) -> float:
    """Seconds for one full refresh (compute, write, make visible)."""
    from queries.refresh import refresh

    t0 = time.perf_counter()
    outcome = refresh(engine, as_of=AS_OF, tz=TZ)
    elapsed = time.perf_counter() - t0
    if outcome.status != "ok":
        raise RuntimeError(f"refresh failed: {outcome.error}")
    return elapsed


def _child_refresh(url: str, queue: mp.Queue) -> None:
    engine = make_engine(url)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refresh_once(engine)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((before, after))


def refresh_peak_memory(url: str) -> tuple[float, float]:
    """(max RSS MiB, growth MiB) of a fresh process that runs one refresh."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_refresh, args=(url, queue))
    proc.start()
    before, after = queue.get()
    proc.join()
    return after / 1024, (after - before) / 1024


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per backend and size."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", default="2,20", help="demo scales (1 ≈ 50,000 persons)")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    DATA_DIR.mkdir(exist_ok=True)
    print(f"# bench/refresh.py  {dt.datetime.now().isoformat(timespec='minutes')}  "
          f"{platform.node()}  {platform.processor() or platform.machine()}  "
          f"cpus={os.cpu_count()}  python {platform.python_version()}")
    rows = []
    for scale in [float(s) for s in args.scales.split(",")]:
        for backend in args.backends.split(","):
            url = db_url(backend, scale)
            engine, persons = ensure_data(url, scale)
            counts = table_counts(engine)
            refresh_once(engine)  # warm caches and the page cache equally for both sides
            floor_once(engine)
            floors, refreshes = [], []
            for _ in range(args.repeat):  # interleaved so machine noise hits both sides
                floors.append(floor_once(engine))
                refreshes.append(refresh_once(engine))
            f, r = statistics.median(floors), statistics.median(refreshes)
            rss, growth = refresh_peak_memory(url)
            rows.append((backend, persons, counts, f, r, rss, growth))
            print(f"{backend:10} persons={persons:>9,}  floor={f:7.3f}s  refresh={r:7.3f}s  "
                  f"refresh/floor={r / f:5.2f}  peak_rss={rss:7.1f} MiB "
                  f"(+{growth:.1f} MiB during refresh)  rows={counts}", flush=True)
            engine.dispose()
    worst = max(r / f for _, _, _, f, r, _, _ in rows)
    print(f"worst refresh/floor = {worst:.2f} (target ≤ 2.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
