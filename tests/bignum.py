"""Synthetic large counts: rewrite the newest snapshot's counts to test that numbers fit.

A province demo at scale 20 takes long to build; rewriting a small demo's snapshot gives
the same digits (eight-digit province totals, five-digit community counts) in a second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select, update

from dashboard.present import DAYS_KEYS, PERCENT_KEYS, RATIO_KEYS
from queries.models import SnapshotItem, SnapshotRegion
from queries.packing import read_layout, unpack_row
from queries.snapshots import latest_batch
from queries.versions import visible

NOT_COUNTS = PERCENT_KEYS | RATIO_KEYS | DAYS_KEYS
Count = Callable[[str, float], int]


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def times(factor: float) -> Count:
    """Every count multiplied by `factor` (realistic shapes, bigger digits)."""
    return lambda _key, v: int(round(v * factor))


def widest(_key: str, _v: float) -> int:
    """Every count at its widest text: 88,888 (full digits) or 8888.9万, by key."""
    return 88_888 if sum(map(ord, _key)) % 2 else 88_888_888


def inflate(engine: Engine, count: Count, communities_of: str | None = None) -> None:
    """Rewrite every count of the newest batch through `count`; ratios and shares are kept.

    With `communities_of` (a township code) only that township's communities are rewritten
    besides every region above community level (a province has 16,000 communities).
    """
    batch = latest_batch(engine)
    assert batch is not None
    t = SnapshotRegion.__table__
    with engine.begin() as conn:
        rows = conn.execute(select(t.c.region_code, t.c.parent_code, t.c.level, t.c.path,
                                   t.c.metrics, t.c.series, t.c.targets, t.c.lists)
                            .where(visible(t, batch.id))).all()
        # Batches are stored packed (queries/packing.py: metrics by position, list items
        # by id); each rewritten row is written back unpacked, which readers also accept.
        stored = dict(conn.execute(select(SnapshotItem.item_id, SnapshotItem.body)
                                  .where(visible(SnapshotItem, batch.id))).tuples().all())
        layout = read_layout(stored)
        for r in rows:
            if communities_of and r.level == "community" and r.parent_code != communities_of:
                continue
            row = unpack_row({"path": json.loads(r.path or "[]"),
                              "metrics": json.loads(r.metrics or "{}"),
                              "series": json.loads(r.series or "{}"),
                              "targets": json.loads(r.targets or "{}"),
                              "lists": json.loads(r.lists or "{}")}, stored, layout)
            metrics = {k: count(k, v) if _num(v) and k not in NOT_COUNTS else v
                       for k, v in row["metrics"].items()}
            series = row["series"]
            for name, values in series.items():
                if isinstance(values, dict):
                    series[name] = {k: count(name, v) if _num(v) else v
                                    for k, v in values.items()}
            targets = row["targets"]
            for key, tg in targets.items():
                if isinstance(tg, dict) and key not in NOT_COUNTS and _num(tg.get("target")):
                    tg["target"] = count(key, tg["target"])
            lists = row["lists"]
            for items in lists.values():
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, dict) and _num(item.get("headcount")):
                        item["headcount"] = count("headcount", item["headcount"])
            conn.execute(update(t).where(visible(t, batch.id),
                                         t.c.region_code == r.region_code).values(
                path=json.dumps(row["path"], ensure_ascii=False),
                metrics=json.dumps(metrics, ensure_ascii=False),
                series=json.dumps(series, ensure_ascii=False),
                targets=json.dumps(targets, ensure_ascii=False),
                lists=json.dumps(lists, ensure_ascii=False)))
