"""Benchmark: what the SPEC section 6 metrics add to a refresh's aggregation.

Side by side on the same database (the Hefei demo at scale 1, with every services KIND
loaded), alternating runs of `compute_snapshot`:

* with section 6: the aggregation as it is (labour, employers, fairs, trainings,
  interviews, loans, surveys, full-employment criteria, upcoming fairs, act-on lists);
* without: the same code with the section 6 passes answering empty frames (what the
  aggregation costs for the section 3 metrics alone on this data).

Prints the medians, their ratio and the load average before and after (2 shared cores:
read the ratio, not the seconds).

    python -m bench.services_cost [--repeat 5] [--scale 1] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine, text

from queries import aggregate
from queries.db import init_db, make_engine

TZ = "Asia/Shanghai"
TODAY = dt.date(2026, 4, 30)
AS_OF = dt.datetime(2026, 4, 30, 20, tzinfo=ZoneInfo(TZ))
DATA_DIR = Path(__file__).with_name("data")
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# The section 6 source passes of queries.aggregate.
PASSES = ("_labour_parts", "_unassisted_parts", "_employer_parts", "_service_parts",
          "_upcoming_fairs")


def _engine(backend: str, scale: float) -> Engine:
    """The demo database, built once and kept (bench/data, or a PostgreSQL schema)."""
    from demo.generator import load_demo

    tag = f"services_s{str(scale).replace('.', '_')}"
    if backend == "sqlite":
        DATA_DIR.mkdir(exist_ok=True)
        path = DATA_DIR / f"{tag}.db"
        fresh = not path.exists()
        engine = make_engine(f"sqlite:///{path}")
    else:
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            fresh = conn.execute(text(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"
            ), {"s": tag}).scalar() == 0
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{tag}"'))
        admin.dispose()
        engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{tag}")
    if fresh:
        init_db(engine)
        load_demo(engine, scale=scale, seed=7, today=TODAY, tz=TZ)
    return engine


def _empty(*_: Any) -> pd.DataFrame:
    return pd.DataFrame(index=pd.Index([], name="code"))


def _without_section6() -> Callable[[], None]:
    """Patch the section 6 passes to answer nothing; returns the undo."""
    saved = {name: getattr(aggregate, name) for name in PASSES}
    for name in PASSES:
        setattr(aggregate, name, _empty)

    def undo() -> None:
        for name, fn in saved.items():
            setattr(aggregate, name, fn)

    return undo


def main() -> int:
    """Time both variants alternately and print the side-by-side ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    engine = _engine(args.backend, args.scale)
    load0 = os.getloadavg()
    times: dict[str, list[float]] = {"with": [], "without": []}
    aggregate.compute_snapshot(engine, AS_OF, TZ, as_json=True)  # warm the page cache
    for _ in range(args.repeat):
        for variant in ("with", "without"):
            undo = _without_section6() if variant == "without" else (lambda: None)
            try:
                t = time.perf_counter()
                aggregate.compute_snapshot(engine, AS_OF, TZ, as_json=True)
                times[variant].append(time.perf_counter() - t)
            finally:
                undo()
    load1 = os.getloadavg()
    w, wo = statistics.median(times["with"]), statistics.median(times["without"])
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M} compute_snapshot, Hefei demo scale "
          f"{args.scale:g}, {args.backend}, {args.repeat} alternating runs each")
    runs = {k: ", ".join(f"{x:.2f}" for x in v) for k, v in times.items()}
    print(f"  with section 6:    median {w:.2f} s  (runs {runs['with']})")
    print(f"  without section 6: median {wo:.2f} s  (runs {runs['without']})")
    print(f"  ratio with / without: {w / wo:.2f}")
    print(f"  load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
          f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} ({os.cpu_count()} CPUs)")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
