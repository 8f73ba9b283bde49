"""Benchmark: bytes a snapshot batch writes, packed (items once) vs unpacked, and reads.

On a database already holding demo data (build it once outside the repository, e.g.
`DASHBOARD_DATABASE_URL=sqlite:////tmp/prov.db python -m dashboard demo-data --root
340000000000`), this runs one refresh (packed: list items once per batch, metrics by
position; queries/packing.py), then writes the same batch again in the unpacked form
(every item in full in every region's row, metrics as dicts: what the code wrote before
migration 0005) as a second, hidden batch, and prints side by side:

* bytes of JSON written per batch (rows + items), split into lists / metrics / rest, and
  for the packed batch (format 2) by list and by kind of item;
* the time to read a region with its children (queries.snapshots.region_with_children,
  the uncached part of /api/v1/regions/<code>/metrics and of every panel callback) for
  the province, a city, a county, a township and a community, median of --repeat, from
  each batch;
* the other design (no stored lists): the SQL alone that would read a region's 20 newest
  placements and 20 newest open vacancies from the source tables at request time.

    python -m bench.batch_bytes --url sqlite:////tmp/prov.db [--repeat 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text, update

from queries.aggregate import compute_snapshot
from queries.db import init_db, make_engine
from queries.models import RefreshRun, SnapshotItem, SnapshotRegion
from queries.packing import read_layout
from queries.refresh import ROW_COLUMNS, _rows, refresh
from queries.snapshots import region_with_children
from queries.versions import visible

TZ = "Asia/Shanghai"
AS_OF = dt.datetime(2026, 4, 30, 20, 0, tzinfo=ZoneInfo(TZ))
LEVELS = ("province", "city", "county", "township", "community")


def batch_bytes(engine, batch_id: int) -> dict[str, int]:  # noqa: ANN001
    """UTF-8 bytes of the batch's JSON columns and items."""
    out: dict[str, int] = {}
    with engine.connect() as conn:
        rows = conn.execute(select(SnapshotRegion).where(visible(SnapshotRegion, batch_id)))
        for r in rows:
            for k in ("path", "metrics", "series", "targets", "lists"):
                out[k] = out.get(k, 0) + len(getattr(r, k).encode())
        items = conn.execute(select(SnapshotItem.body)
                             .where(visible(SnapshotItem, batch_id))).scalars()
        out["items"] = sum(len(b.encode()) for b in items)
    out["total"] = sum(out.values())
    return out


def format2_parts(engine, batch_id: int) -> dict[str, int]:  # noqa: ANN001
    """Format 2 batches: UTF-8 bytes of each list in the rows and of each kind of item."""
    out: dict[str, int] = defaultdict(int)
    kind_of: dict[int, str] = {}
    with engine.connect() as conn:
        items = dict(conn.execute(select(SnapshotItem.item_id, SnapshotItem.body)
                                  .where(visible(SnapshotItem, batch_id))).tuples().all())
        layout = read_layout(items)
        if layout.get("v") != 2:
            return {}
        for path, lists in conn.execute(select(SnapshotRegion.path, SnapshotRegion.lists)
                                        .where(visible(SnapshotRegion, batch_id))):
            kind_of.update((s, "steps") for s in json.loads(path))
            for name, value in zip(layout["lists"], json.loads(lists), strict=False):
                out[f"lists: {name}"] += len(_js(value).encode()) + 1
                if name == "latest_placements":
                    groups = [value] if isinstance(value, int) else [g for g, _ in value]
                    kind_of.update((g, "placement groups") for g in groups)
                elif name in ("newest_vacancies", "nearby_vacancies"):
                    ids = value if name == "newest_vacancies" else (value or [[]])[0]
                    kind_of.update((v, "vacancies") for v in ids)
                elif name in ("upcoming_fairs", "fe_actions"):
                    kind_of.update((i, name.replace("_", " ")) for i in value or ())
    kind_of[0] = "layout"
    for i, body in items.items():
        kind = kind_of.get(i, "map (issue 14)" if i < 0 else "other")
        out[f"items: {kind}"] += len(body.encode())
    return dict(out)


def _js(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_unpacked(engine, batch_id: int) -> int:  # noqa: ANN001
    """Write the same snapshot unpacked as a new ok run; its id."""
    snap = compute_snapshot(engine, AS_OF, TZ, as_json=True)
    with engine.begin() as conn:
        run = conn.execute(insert(RefreshRun).values(
            as_of=AS_OF.astimezone(dt.UTC).replace(tzinfo=None),
            started_at=dt.datetime.now(dt.UTC).replace(tzinfo=None), status="running",
            holder="bench")).inserted_primary_key[0]
        rows = _rows(run, snap)
        for i in range(0, len(rows), 2000):
            conn.execute(insert(SnapshotRegion),
                         [dict(zip(ROW_COLUMNS, r, strict=True)) for r in rows[i:i + 2000]])
        # Not "ok": no reader of the application ever picks it.
        conn.execute(update(RefreshRun).where(RefreshRun.id == run)
                     .values(status="bench", finished_at=dt.datetime.now(dt.UTC)
                             .replace(tzinfo=None)))
    return run


def sample_codes(engine, batch_id: int) -> dict[str, str]:  # noqa: ANN001
    """One region per level: the one with the most children (the biggest read)."""
    out = {}
    with engine.connect() as conn:
        for level in LEVELS:
            code = conn.execute(
                select(SnapshotRegion.region_code)
                .where(visible(SnapshotRegion, batch_id), SnapshotRegion.level == level)
                .order_by(SnapshotRegion.region_code).limit(1)
            ).scalar()
            if code:
                out[level] = code
    return out


def read_ms(
    engine, batches: tuple[int, int], code: str, repeat: int  # noqa: ANN001
) -> list[float]:
    """Median milliseconds of one region_with_children from each batch, interleaved."""
    times: list[list[float]] = [[] for _ in batches]
    for _ in range(repeat):
        for i, batch_id in enumerate(batches):
            t0 = time.perf_counter()
            region_with_children(engine, batch_id, code)
            times[i].append((time.perf_counter() - t0) * 1000)
    return [statistics.median(t) for t in times]


# The other design of issue 13 goal 1: no stored lists, each region's bounded lists read
# from the source tables when asked (then cached per batch). Its SQL alone, per region:
# the subtree's communities (regions form a tree by parent_code, not by code prefix), then
# the 20 newest placements and the 20 newest open vacancies among them.
SUBTREE = ("WITH RECURSIVE sub(code) AS (SELECT :code UNION ALL "
           "SELECT r.code FROM regions r JOIN sub ON r.parent_code = sub.code) ")
REQUEST_TIME_SQL = (
    SUBTREE + "SELECT p.community_code, p.placed_at, p.form FROM placements p "
    "WHERE p.community_code IN (SELECT code FROM sub) AND p.placed_on <= :today "
    "ORDER BY p.placed_at DESC, p.placement_id DESC LIMIT 20",
    SUBTREE + "SELECT v.vacancy_id, v.title, e.name, v.headcount, v.posted_on FROM vacancies v "
    "LEFT JOIN employers e ON e.employer_id = v.employer_id "
    "WHERE v.community_code IN (SELECT code FROM sub) AND v.posted_on <= :today "
    "AND (v.closed_on IS NULL OR v.closed_on > :today) "
    "ORDER BY v.posted_on DESC, v.vacancy_id DESC LIMIT 20",
)


def request_time_ms(engine, code: str, repeat: int) -> float:  # noqa: ANN001
    """Median milliseconds of the two list queries of a region read at request time."""
    today = AS_OF.date()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with engine.connect() as conn:
            for sql in REQUEST_TIME_SQL:
                conn.execute(text(sql), {"code": code, "today": today}).all()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Refresh, write the unpacked twin, print bytes and read times side by side."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args(argv)
    engine = make_engine(args.url)
    init_db(engine)
    print(f"# bench/batch_bytes.py  {dt.datetime.now().isoformat(timespec='minutes')}  "
          f"{platform.node()}  cpus={os.cpu_count()}  loadavg={os.getloadavg()[0]:.1f}  "
          f"{args.url.split('?')[0]}")
    t0 = time.perf_counter()
    out = refresh(engine, as_of=AS_OF, tz=TZ, keep_batches=5)
    t_packed = time.perf_counter() - t0
    if out.status != "ok":
        raise SystemExit(f"refresh failed: {out.error}")
    t0 = time.perf_counter()
    twin = write_unpacked(engine, out.batch_id)
    t_unpacked = time.perf_counter() - t0
    packed, unpacked = batch_bytes(engine, out.batch_id), batch_bytes(engine, twin)
    print(f"regions={out.rows:,}  refresh (packed, write included)={t_packed:.1f}s  "
          f"compute+write unpacked twin={t_unpacked:.1f}s")
    print(f"{'bytes':10} {'unpacked':>14} {'packed':>14} {'ratio':>7}")
    for k in ("lists", "items", "metrics", "path", "series", "targets", "total"):
        a, b = unpacked.get(k, 0), packed.get(k, 0)
        ratio = f"{b / a:7.3f}" if a else "      -"
        print(f"{k:10} {a / 1e6:11.2f} MB {b / 1e6:11.2f} MB {ratio}")
    for part, n in sorted(format2_parts(engine, out.batch_id).items()):
        print(f"  packed {part:34} {n / 1e6:8.2f} MB")
    print(f"{'read ms':10} {'unpacked':>14} {'packed':>14} {'ratio':>7}  (median of "
          f"{args.repeat}, region_with_children, loadavg {os.getloadavg()[0]:.1f})")
    for level, code in sample_codes(engine, out.batch_id).items():
        a, b = read_ms(engine, (twin, out.batch_id), code, args.repeat)
        print(f"{level:10} {a:11.1f} ms {b:11.1f} ms {b / a:7.2f}  {code}")
    print(f"{'request-time lists':18} {'stored read':>11} {'SQL only':>11} {'ratio':>7}  (the "
          f"two lists read from the source tables instead; median of {args.repeat})")
    for level, code in sample_codes(engine, out.batch_id).items():
        b = read_ms(engine, (out.batch_id,), code, args.repeat)[0]
        c = request_time_ms(engine, code, args.repeat)
        print(f"{level:18} {b:8.1f} ms {c:8.1f} ms {c / b:7.2f}  {code}")
    with engine.begin() as conn:
        conn.execute(SnapshotRegion.__table__.delete().where(SnapshotRegion.batch_id == twin))
        conn.execute(RefreshRun.__table__.delete().where(RefreshRun.id == twin))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
