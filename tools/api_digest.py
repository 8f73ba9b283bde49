"""Digest of the JSON API's answers for every demo region: run before and after a refactor.

    python tools/api_digest.py [--scale 1] [--seed 7] [--out FILE] [--section3]

Loads the Hefei demo (fixed seed and as-of instant) into a temporary SQLite database,
refreshes once, asks `/api/v1/regions/<code>` and `/metrics` for every region and prints
one SHA-256 over all answers (and, with --out, one line per region) so two checkouts can
be compared byte for byte. `--section3` digests the answers as they were before SPEC
section 6 (only the section 3 metric keys, targets without `expected`), so a checkout with
the new metrics can be compared with the baseline of one without them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TZ = "Asia/Shanghai"


def main() -> int:
    """Print the digest of every region's API answers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--section3", action="store_true",
                        help="digest only what the API answered before SPEC section 6")
    args = parser.parse_args()

    from dashboard.app import create_app
    from demo.generator import load_demo
    from queries.db import init_db, make_engine
    from queries.refresh import refresh
    from queries.snapshots import latest_batch, region_index

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/digest.db"
        engine = make_engine(url)
        init_db(engine)
        load_demo(engine, scale=args.scale, seed=args.seed, today=dt.date(2026, 4, 30), tz=TZ)
        refresh(engine, as_of=dt.datetime(2026, 4, 30, 20, tzinfo=ZoneInfo(TZ)), tz=TZ)
        codes = sorted(r["code"] for r in region_index(engine, latest_batch(engine).id))
        client = create_app({"database_url": url, "timezone": TZ}).server.test_client()
        total = hashlib.sha256()
        lines = []
        for code in codes:
            h = hashlib.sha256()
            for path in (f"/api/v1/regions/{code}", f"/api/v1/regions/{code}/metrics"):
                resp = client.get(path)
                # computed_at differs between runs by nature; everything else must not.
                body = resp.get_json()
                body.pop("computed_at", None)
                if args.section3:
                    _section3(body)
                h.update(path.encode() + b"\0" + repr(body).encode() + b"\0")
            total.update(h.digest())
            lines.append(f"{code} {h.hexdigest()}")
        if args.out:
            args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{len(codes)} regions {total.hexdigest()}")
        engine.dispose()
    return 0


def _section3(body: dict) -> None:
    """Drop what SPEC section 6 added to an answer: its metric keys and targets, expected."""
    from queries.metrics import METRIC_KEYS

    old = METRIC_KEYS[: METRIC_KEYS.index("circle.coverage") + 1]
    for holder in [body, *body.get("children", [])]:
        if isinstance(holder.get("metrics"), dict):
            holder["metrics"] = {k: holder["metrics"][k] for k in old if k in holder["metrics"]}
    if isinstance(body.get("targets"), dict):
        body["targets"] = {k: {"target": v["target"], "completion": v["completion"]}
                           for k, v in body["targets"].items() if k in old}


if __name__ == "__main__":
    raise SystemExit(main())
