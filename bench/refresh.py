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

from sqlalchemy import Engine, create_engine, func, inspect, select, text

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
    outcome = refresh(engine, as_of=AS_OF, tz=TZ)
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
            engine.dispose()
    print(f"worst refresh/floor_index = {max(r / f for _, f, _, r in rows):.2f}, "
          f"worst refresh/floor_rows = {max(r / fr for _, _, fr, r in rows):.2f} "
          f"(target ≤ 2.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
