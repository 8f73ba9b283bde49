"""Benchmark: serving the map's data — a snapshot read of the batch's map items against
reading the batch's rows and the live vacancy table (the way before issue 14's item 3).

On bench/map_longtask.py's province database (16,374 communities, 80,000 open worksites):
refreshes it once more if its newest batch has no map items, then times, side by side in
one run, `load_map_base` on that batch (the items) and the same arrays built from the
batch's rows and the source tables (`maplayer.build_map_base`, what a batch without items
falls back to), plus what the refresh spends on the items and how many bytes they add.

    flock /tmp/bench.lock python -m bench.map_read [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench.map_longtask import TZ, ensure_db
from bench.serve import machine


def main() -> None:
    """Time both reads on the newest batch and print them with the items' cost."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from queries import maplayer
    from queries.db import make_engine
    from queries.models import RefreshRun, SnapshotItem
    from queries.refresh import refresh
    from queries.snapshots import latest_batch
    from queries.versions import visible

    engine = make_engine(f"sqlite:///{ensure_db()}")
    batch = latest_batch(engine)

    def item_bytes(batch_id: int) -> tuple[int, int]:
        with engine.connect() as conn:
            return conn.execute(select(func.count(), func.sum(func.length(SnapshotItem.body)))
                                .where(visible(SnapshotItem, batch_id),
                                       SnapshotItem.item_id < 0)).one()

    if not item_bytes(batch.id)[0]:
        out = refresh(engine, tz=TZ)
        assert out.status == "ok", out.error
        batch = latest_batch(engine)
    with engine.connect() as conn:
        as_of = conn.execute(select(RefreshRun.as_of).where(RefreshRun.id == batch.id)).scalar()
    day = as_of.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(TZ)).date()
    load = os.getloadavg()[0]

    def live() -> maplayer.MapBase:
        with engine.connect() as conn:
            from queries.models import SnapshotRegion
            rows = conn.execute(
                select(SnapshotRegion.region_code, SnapshotRegion.parent_code,
                       SnapshotRegion.name, SnapshotRegion.level, SnapshotRegion.metrics)
                .where(visible(SnapshotRegion, batch.id))).tuples().all()
            keys = maplayer.metric_keys(conn.execute(select(SnapshotItem.body).where(
                visible(SnapshotItem, batch.id), SnapshotItem.item_id == 0)).scalar())
            centres = maplayer._centres(conn)
            sites = maplayer._worksites(conn, day)
        return maplayer.build_map_base(list(rows), keys, centres, sites)

    def timed(fn) -> tuple[float, maplayer.MapBase]:  # noqa: ANN001
        t0 = time.perf_counter()
        got = fn()
        return time.perf_counter() - t0, got

    snap_t, live_t, build_t = [], [], []
    for _ in range(args.repeat):
        s, a = timed(lambda: maplayer.load_map_base(engine, batch.id, day))
        v, b = timed(live)
        snap_t.append(s)
        live_t.append(v)
        # What the refresh adds: the arrays (from the batch's rows here) and their encoding.
        e, _ = timed(lambda b=b: maplayer.encode_map_base(b))
        build_t.append(v + e)
    n, size = item_bytes(batch.id)
    assert a.codes == b.codes and a.vac_head.sum() == b.vac_head.sum()
    print(f"{dt.date.today().isoformat()} · map data read at province scale "
          f"({len(a.codes):,} communities, {a.vac_head.size:,} open worksites) · {machine()} "
          f"· load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    print("| read | median s | min s |\n|---|---|---|")
    print(f"| batch rows + live vacancies (before) | {statistics.median(live_t):.3f} | "
          f"{min(live_t):.3f} |")
    print(f"| snapshot map items (now) | {statistics.median(snap_t):.3f} | {min(snap_t):.3f} |")
    print(f"| ratio now ÷ before | {statistics.median(snap_t) / statistics.median(live_t):.3f}"
          " | |")
    print(f"refresh side: arrays + encoding ≈ {statistics.median(build_t):.2f} s; "
          f"{n} items, {size / 1e6:.2f} MB per batch")


if __name__ == "__main__":
    main()
