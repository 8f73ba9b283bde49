"""Benchmark: full refresh vs the floor (one GROUP BY community scan per source table).

Builds demo data at two sizes (about 100,000 and 1,000,000 persons, everything else in
proportion) on SQLite and on PostgreSQL, then, in one run and side by side, times

* the floors, two definitions, each one query per source table, fetched to the client:
  - index floor: `SELECT community_code, COUNT(*) FROM t GROUP BY community_code`. Every
    source table has an index whose first column is community_code, so both SQLite and
    PostgreSQL answer this from that index alone (an index-only scan): the table rows are
    never read. It is the cheapest conceivable "one pass per table", not a real read.
  - row floor: `SELECT community_code, COUNT(<col>) FROM t GROUP BY community_code` where
    <col> is a NOT NULL column that is in no index (ROW_FLOOR_COLUMNS). Counting a column
    forces the database to fetch every row of the table (no index holds the column), so
    this is "one GROUP BY community scan reading each table's rows once", with whatever
    plan the database picks for it (SQLite: walk the community index and fetch each row;
    PostgreSQL: sequential scan + hash aggregate);
* the full refresh: aggregation of every SPEC section 3 metric for every region, written
  as a snapshot batch and made visible;

and prints refresh ÷ floor for both floors (target ≤ 2.0) and the refresh's peak memory
(peak RSS, VmHWM, of a fresh child process that only runs the refresh, and how much of it
the refresh added).

Then full and incremental side by side (issue 13, target incremental ≤ 0.1 × full): a
share (`--changed`, 1 %) of the rows of persons, households, vacancies, placements and
assistance is re-imported through the importer with one value changed (so the changes are
marked as in production), then one refresh is timed; alternately incremental (the
default path) and `full=True`, each after its own change, same database. Three kinds of
change: `scattered` (random rows anywhere) and `clustered` (rows of a random 1 % of the
communities, as when a few service halls upload their records), and clustered without
vacancies (a vacancy also marks every community within 3 km of its worksite).

    python -m bench.refresh                 # scales 2 and 20 (≈100k and ≈1M persons)
    python -m bench.refresh --scales 2 --repeat 5 --backends sqlite
    python -m bench.refresh --scales 2 --no-floor     # only full vs incremental
    python -m bench.refresh --url sqlite:////tmp/prov.db --no-floor   # a database made elsewhere
Data is built once and kept (bench/data/*.db, PostgreSQL schemas bench_s<scale>).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, bindparam, create_engine, func, inspect, select, text

from queries.db import init_db, make_engine
from queries.models import Person

TZ = "Asia/Shanghai"
DATA_DIR = Path(__file__).with_name("data")
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SOURCE_TABLES = ("persons", "households", "vacancies", "placements", "assistance")
# Per source table a NOT NULL column that no index contains (checked at run time).
ROW_FLOOR_COLUMNS = {
    "persons": "status",
    "households": "household_id",  # only in the primary-key index, not with community_code
    "vacancies": "title",
    "placements": "person_id",  # indexed only with placed_on, not with community_code
    "assistance": "kind",
}
# Fixed data day and as-of instant so every run measures the same work.
DATA_DAY = dt.date(2026, 11, 20)
AS_OF = dt.datetime(2026, 11, 20, 18, 0, tzinfo=ZoneInfo(TZ))
AS_OF_USED = [AS_OF]  # --as-of (a database made elsewhere, for another day)


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
    from demo.generator import load_demo

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
            # VACUUM too: after a bulk load the visibility map is empty (index-only scans
            # read the heap) until autovacuum gets to it, at some point during the runs.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        with engine.connect() as conn:
            persons = conn.execute(select(func.count()).select_from(Person)).scalar_one()
    return engine, persons


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows per source table."""
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in SOURCE_TABLES}


def floor_sql(table: str, rows: bool) -> str:
    """The floor query of one table: index-only (COUNT(*)) or row-reading (COUNT(col))."""
    what = f"COUNT({ROW_FLOOR_COLUMNS[table]})" if rows else "COUNT(*)"
    return f"SELECT community_code, {what} FROM {table} GROUP BY community_code"


def check_row_floor_columns(engine: Engine) -> None:
    """A row-floor column must be in no index together with community_code."""
    insp = inspect(engine)
    for t, col in ROW_FLOOR_COLUMNS.items():
        for ix in insp.get_indexes(t):
            cols = ix["column_names"]
            if col in cols and "community_code" in cols:
                raise SystemExit(f"row floor of {t}: {col} is in index {ix['name']}")


def floor_once(engine: Engine, rows: bool = False) -> float:
    """Seconds for one GROUP BY community_code scan of every source table."""
    t0 = time.perf_counter()
    with engine.connect() as conn:
        for t in SOURCE_TABLES:
            conn.execute(text(floor_sql(t, rows))).fetchall()
    return time.perf_counter() - t0


def refresh_once(engine: Engine) -> float:
    """Seconds for one full refresh (compute, write, make visible)."""
    from queries.refresh import refresh

    t0 = time.perf_counter()
    # full=True: with nothing changed, the default (incremental) refresh only copies the
    # base batch, which is not what the floors are compared with.
    outcome = refresh(engine, as_of=AS_OF, tz=TZ, full=True)
    elapsed = time.perf_counter() - t0
    if outcome.status != "ok":
        raise RuntimeError(f"refresh failed: {outcome.error}")
    return elapsed


def newest_batch_bytes(engine: Engine) -> int:
    """UTF-8 bytes of JSON the newest batch wrote (region rows and items)."""
    from bench.batch_bytes import batch_bytes
    from queries.snapshots import latest_batch

    return batch_bytes(engine, latest_batch(engine).id)["total"]


def _peak_rss_kib() -> int:
    """Peak RSS of this process in KiB: VmHWM (ru_maxrss survives exec on Linux, so a
    spawned child would report its parent's peak)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child_refresh(url: str, queue: mp.Queue) -> None:
    engine = make_engine(url)
    import queries.refresh  # noqa: F401 - imports are not part of the refresh's memory
    before = _peak_rss_kib()
    refresh_once(engine)
    after = _peak_rss_kib()
    queue.put((before, after))


def refresh_peak_memory(url: str) -> tuple[float, float]:
    """(peak RSS MiB, growth MiB) of a fresh process that runs one refresh."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_refresh, args=(url, queue))
    proc.start()
    before, after = queue.get()
    proc.join()
    return after / 1024, (after - before) / 1024


# ---------------------------------------------------------------- full vs incremental
CHANGE_TABLES = ("persons", "households", "vacancies", "placements", "assistance")


def _records(table: str, rows: list[Any]) -> list[dict[str, Any]]:
    """Exchange records of stored rows, each with one value changed."""
    from queries.domain import ASSISTANCE_KINDS, KEY_GROUPS, PLACEMENT_FORMS

    out = []
    for r in rows:
        m = dict(r._mapping)
        if table == "persons":
            rec = {k: m[k] for k in ("person_id", "community_code", "status", "gender",
                                     "birth_year", "education", "registered_on",
                                     "household_id", "unemployed_since")}
            rec["seeking_job"] = not m["seeking_job"]
            rec["key_groups"] = ";".join(g for g in KEY_GROUPS if m.get(f"kg_{g}"))
        elif table == "households":
            rec = {k: m[k] for k in ("household_id", "community_code", "zero_identified_on",
                                     "zero_cleared_on")}
        elif table == "vacancies":
            rec = {k: m[k] for k in ("vacancy_id", "employer_id", "community_code", "lat",
                                     "lon", "title", "type", "salary_min", "salary_max",
                                     "industry", "posted_on", "closed_on")}
            rec["headcount"] = m["headcount"] % 9 + 1
        elif table == "placements":
            rec = {k: m[k] for k in ("placement_id", "person_id", "vacancy_id",
                                     "community_code", "placed_at")}
            rec["form"] = PLACEMENT_FORMS[(PLACEMENT_FORMS.index(m["form"]) + 1) % 5]
        else:
            rec = {k: m[k] for k in ("record_id", "person_id", "community_code", "served_on")}
            rec["kind"] = ASSISTANCE_KINDS[(ASSISTANCE_KINDS.index(m["kind"]) + 1) % 6]
        out.append({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                    for k, v in rec.items() if v is not None})
    return out


def change_rows(engine: Engine, share: float, clustered: bool, seed: int,
                tables: tuple[str, ...] = CHANGE_TABLES) -> tuple[int, float]:
    """Re-import `share` of the source rows with a value changed; (rows, seconds)."""
    from queries.importer import import_records

    rnd = "RANDOM()" if engine.dialect.name in ("sqlite", "postgresql") else "RAND()"
    t0 = time.perf_counter()
    n_rows = 0
    with engine.connect() as conn:
        comms = conn.execute(text(
            "SELECT code FROM regions WHERE level = 'community' ORDER BY code")).scalars().all()
        counts = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                  for t in CHANGE_TABLES}
        pick = random.Random(seed).sample(list(comms), max(1, round(share * len(comms))))
    for t in tables:
        n = max(1, round(share * counts[t]))
        with engine.connect() as conn:
            if clustered:
                rows = conn.execute(text(
                    f"SELECT * FROM {t} WHERE community_code IN :codes LIMIT {n}"
                ).bindparams(bindparam("codes", pick, expanding=True))).all()
            else:
                rows = conn.execute(text(f"SELECT * FROM {t} ORDER BY {rnd} LIMIT {n}")).all()
        recs = _records(t, rows)
        _, rejected = import_records(engine, t, recs, tz=TZ)
        if rejected:
            raise RuntimeError(f"{t}: {len(rejected)} rejected, e.g. {rejected[0]}")
        n_rows += len(recs)
    return n_rows, time.perf_counter() - t0


def marked_regions(engine: Engine) -> int:
    """Distinct region codes marked changed since the last batch."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(DISTINCT code) FROM refresh_marks")).scalar_one()


PRUNE_SECONDS: list[float] = []  # the pruning part of each timed_refresh


def timed_refresh(engine: Engine, full: bool) -> tuple[float, bool]:
    """Seconds of one refresh and whether it was incremental (PRUNE_SECONDS gets the
    part spent pruning older batches after the new one was published)."""
    from queries import incremental as inc
    from queries import refresh as rf

    seen: list[bool] = []
    real, real_prune = inc.plan, rf.prune

    def spy(*a: Any, **k: Any) -> Any:
        p = real(*a, **k)
        seen.append(p.full)
        return p

    def timed_prune(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return real_prune(*a, **k)
        finally:
            PRUNE_SECONDS.append(time.perf_counter() - t)

    inc.plan, rf.prune = spy, timed_prune
    try:
        t0 = time.perf_counter()
        outcome = rf.refresh(engine, as_of=AS_OF_USED[0], tz=TZ, full=full)
        elapsed = time.perf_counter() - t0
    finally:
        inc.plan, rf.prune = real, real_prune
    if outcome.status != "ok":
        raise RuntimeError(f"refresh failed: {outcome.error}")
    return elapsed, not seen[0]


def full_vs_incremental(engine: Engine, share: float, repeat: int, label: str) -> None:
    """Print full and incremental refresh times after `share` of the rows changed."""
    timed_refresh(engine, True)  # a base for the increments, and warm caches
    no_vac = tuple(t for t in CHANGE_TABLES if t != "vacancies")
    for kind, clustered, tables in (("scattered", False, CHANGE_TABLES),
                                    ("clustered", True, CHANGE_TABLES),
                                    ("clustered-no-vacancies", True, no_vac)):
        fulls, incs, marks, imports, prunes, rows = [], [], [], [], [], 0
        for i in range(repeat):  # interleaved so machine noise hits both sides
            rows, secs = change_rows(engine, share, clustered, seed=2 * i + clustered,
                                     tables=tables)
            imports.append(secs)
            marks.append(marked_regions(engine))
            t, was_inc = timed_refresh(engine, False)
            prunes.append(PRUNE_SECONDS[-1])
            if not was_inc:
                print(f"  note: the {kind} change was refreshed in full (too many regions)")
            incs.append(t)
            change_rows(engine, share, clustered, seed=2 * i + clustered + 100, tables=tables)
            fulls.append(timed_refresh(engine, True)[0])
        f, n = statistics.median(fulls), statistics.median(incs)
        published = statistics.median(a - b for a, b in zip(incs, prunes, strict=True))
        print(f"{label:32} {kind:22} changed={share:.0%} ({rows:,} rows, "
              f"{statistics.median(marks):,.0f} regions marked)  full={f:7.3f}s  "
              f"incremental={n:7.3f}s  incremental/full={n / f:5.3f}  (target ≤ 0.1)  "
              f"of which pruning older batches={statistics.median(prunes):6.3f}s "
              f"(without: {published / f:5.3f})  "
              f"import of the change={statistics.median(imports):6.2f}s  "
              f"all full={[round(x, 2) for x in fulls]}  "
              f"all incremental={[round(x, 2) for x in incs]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per backend and size."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", default="2,20", help="demo scales (1 ≈ 50,000 persons)")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--changed", type=float, default=0.01,
                   help="share of rows changed before an incremental refresh")
    p.add_argument("--no-floor", action="store_true",
                   help="only full vs incremental (no floors, no peak memory)")
    p.add_argument("--url", default=None,
                   help="measure full vs incremental on this database (made elsewhere)")
    p.add_argument("--as-of", default=None, help="ISO 8601 as-of instant for --url")
    args = p.parse_args(argv)
    if args.as_of:
        AS_OF_USED[0] = dt.datetime.fromisoformat(args.as_of)
    DATA_DIR.mkdir(exist_ok=True)
    print(f"# bench/refresh.py  {dt.datetime.now().isoformat(timespec='minutes')}  "
          f"{platform.node()}  {platform.processor() or platform.machine()}  "
          f"cpus={os.cpu_count()}  python {platform.python_version()}  "
          f"load={os.getloadavg()[0]:.1f}")
    if args.url:
        engine = make_engine(args.url)
        init_db(engine)
        with engine.connect() as conn:
            persons = conn.execute(select(func.count()).select_from(Person)).scalar_one()
        full_vs_incremental(engine, args.changed, args.repeat,
                            f"{engine.dialect.name} persons={persons:,}")
        print(f"load after: {os.getloadavg()[0]:.1f}")
        return 0
    rows = []
    for scale in [float(s) for s in args.scales.split(",")]:
        for backend in args.backends.split(","):
            url = db_url(backend, scale)
            engine, persons = ensure_data(url, scale)
            counts = table_counts(engine)
            if args.no_floor:
                full_vs_incremental(engine, args.changed, args.repeat,
                                    f"{backend} persons={persons:,}")
                engine.dispose()
                continue
            check_row_floor_columns(engine)
            refresh_once(engine)  # warm caches and the page cache equally for both sides
            floor_once(engine)
            floor_once(engine, rows=True)
            floors, row_floors, refreshes = [], [], []
            for _ in range(args.repeat):  # interleaved so machine noise hits every side
                floors.append(floor_once(engine))
                row_floors.append(floor_once(engine, rows=True))
                refreshes.append(refresh_once(engine))
            f, fr = statistics.median(floors), statistics.median(row_floors)
            r = statistics.median(refreshes)
            rss, growth = refresh_peak_memory(url)
            rows.append((backend, f, fr, r))
            written = newest_batch_bytes(engine)
            print(f"{backend:10} persons={persons:>9,}  floor_index={f:6.3f}s  "
                  f"floor_rows={fr:6.3f}s  refresh={r:7.3f}s  "
                  f"refresh/floor_index={r / f:5.2f}  refresh/floor_rows={r / fr:5.2f}  "
                  f"peak_rss={rss:6.1f} MiB (+{growth:.1f} MiB during refresh)  "
                  f"batch={written / 1e6:.2f} MB  "
                  f"all refreshes={[round(x, 2) for x in refreshes]}  rows={counts}",
                  flush=True)
            full_vs_incremental(engine, args.changed, args.repeat,
                                f"{backend} persons={persons:,}")
            engine.dispose()
    print(f"load after: {os.getloadavg()[0]:.1f}")
    if not rows:
        return 0
    print(f"worst refresh/floor_index = {max(r / f for _, f, _, r in rows):.2f}, "
          f"worst refresh/floor_rows = {max(r / fr for _, _, fr, r in rows):.2f} "
          f"(target ≤ 2.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
