"""Digest of what the panels read from a batch, for every region: run before and after a
change to how batches are stored.

    PYTHONPATH=<checkout> python tools/snapshot_digest.py --url sqlite:////tmp/x.db \
        [--refresh] [--reads all|parents|none] [--out FILE]

On a copy of a database (the same copy for both checkouts), optionally refreshes once at
the demo's as-of instant, then prints SHA-256 digests of the newest ok batch:

* `rows`: every region's row as the readers expand it (queries.packing.unpack_row with
  every item of the batch): code, name, level, parent, path, metrics, series, targets and
  every list, as JSON text in stored key order (so 3 and 3.0, and key order, count);
* `reads`: queries.snapshots.region_with_children (what /api/v1/.../metrics and every
  panel callback read) for every region (`all`), or for every region above community
  level and every 25th community (`parents`, for the province's 18,000 regions).

Both digests are over the same expanded dicts, so equal digests before and after mean
every panel and API answer built from them is unchanged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

# Appended, not inserted: PYTHONPATH chooses the checkout whose code is measured.
sys.path.append(str(Path(__file__).resolve().parent.parent))

TZ = "Asia/Shanghai"
AS_OF = dt.datetime(2026, 4, 30, 20, 0, tzinfo=ZoneInfo(TZ))


def _text(region: dict) -> bytes:
    """A region dict as JSON text, key order and number types kept."""
    return json.dumps(region, ensure_ascii=False, separators=(",", ":")).encode()


def main() -> int:
    """Print the digests of the newest batch's expanded rows and reads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--refresh", action="store_true", help="refresh once first")
    parser.add_argument("--reads", choices=("all", "parents", "none"), default="all")
    parser.add_argument("--out", type=Path, help="one line per region: code and digest")
    args = parser.parse_args()

    from sqlalchemy import select

    import queries
    from queries.db import make_engine
    from queries.models import SnapshotItem, SnapshotRegion
    from queries.packing import read_layout, unpack_row
    from queries.refresh import refresh
    from queries.snapshots import _decode, latest_batch, region_with_children
    from queries.versions import visible

    print(f"code: {Path(queries.__file__).resolve().parent.parent}")
    engine = make_engine(args.url)
    if args.refresh:
        out = refresh(engine, as_of=AS_OF, tz=TZ, keep_batches=5)
        print(f"refresh {out.status} batch {out.batch_id}")
    batch = latest_batch(engine)
    assert batch is not None, "no batch"
    with engine.connect() as conn:
        rows = [_decode(r) for r in conn.execute(
            select(SnapshotRegion).where(visible(SnapshotRegion, batch.id))
            .order_by(SnapshotRegion.region_code))]
        items = dict(conn.execute(select(SnapshotItem.item_id, SnapshotItem.body)
                                  .where(visible(SnapshotItem, batch.id))).tuples().all())
    layout = read_layout(items)
    parsed: dict = {}
    total = hashlib.sha256()
    lines = []
    for r in rows:
        text = _text(unpack_row(r, items, layout, parsed) if items else r)
        total.update(text)
        lines.append(f"{r['code']} {hashlib.sha256(text).hexdigest()}")
    print(f"rows: {len(rows)} regions {total.hexdigest()}")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.reads != "none":
        reads = hashlib.sha256()
        n = 0
        communities = 0
        for r in rows:
            if args.reads == "parents" and r["level"] == "community":
                communities += 1
                if communities % 25:
                    continue
            region, children = region_with_children(engine, batch.id, r["code"])
            reads.update(_text(region))
            for child in children:
                reads.update(_text(child))
            n += 1
        print(f"reads ({args.reads}): {n} regions {reads.hexdigest()}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
