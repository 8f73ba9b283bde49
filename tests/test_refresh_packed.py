"""Snapshot batches that do not repeat themselves (issue 13): list items stored once per
batch, metric values by position, items pruned and rolled back with their batch."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from queries.metrics import METRIC_KEYS
from queries.models import SnapshotItem, SnapshotRegion
from queries.refresh import refresh
from queries.snapshots import region_with_children
from tests.test_metrics_handmade import A1, AS_OF, TZ, A, A1a, A1b, B1a, C, load


def items_of(engine, batch_id: int) -> dict[int, str]:  # noqa: ANN001
    with engine.connect() as conn:
        return dict(conn.execute(
            select(SnapshotItem.item_id, SnapshotItem.body)
            .where(SnapshotItem.batch_id == batch_id)
        ).tuples().all())


def test_each_vacancy_is_stored_once_and_read_back_everywhere(engine) -> None:  # noqa: ANN001
    load(engine)
    out = refresh(engine, as_of=AS_OF, tz=TZ)
    assert out.status == "ok"
    with engine.connect() as conn:
        rows = conn.execute(select(SnapshotRegion.lists, SnapshotRegion.metrics,
                                   SnapshotRegion.series, SnapshotRegion.path)
                            .where(SnapshotRegion.batch_id == out.batch_id)).all()
    # No region row carries an item's text, a metric key, a month or a region's name.
    assert not any('"V' in r.lists or "2025-04" in r.lists for r in rows)
    assert all(r.metrics.startswith("[") and r.series.startswith("[") for r in rows)
    assert not any('"name"' in r.path or "社区" in r.path for r in rows)
    items = items_of(engine, out.batch_id)
    layout = json.loads(items.pop(0))
    assert layout["v"] == 2
    assert sorted(layout["metrics"]) == sorted(METRIC_KEYS)
    # The 12 months ending with T's month (2025-04), oldest first.
    assert layout["months"][0] == "2024-05" and layout["months"][-1] == "2025-04"
    assert len(layout["months"]) == 12
    # Items 1..9 are the nine regions' steps; vacancy items are arrays of 10 values, the
    # id first and the worksite community's step last (its code and name are there).
    steps = {i: json.loads(items[i]) for i in range(1, 10)}
    assert sorted(s[0] for s in steps.values()) == sorted([A1, A1a, A1b, A, B1a, C] + [
        "340103000000", "340103001000", "340103002000"])
    values = [json.loads(b) for i, b in items.items() if i > 9]
    vacancies = {v[0]: v for v in values if isinstance(v, list) and len(v) == 10
                 and isinstance(v[0], str)}
    # Open at T (hand-worked in test_metrics_handmade): V1, V4, V5; V1 is listed by A1b,
    # A1, A and C (newest) and by A1a (nearby), yet stored once.
    assert sorted(vacancies) == ["V1", "V4", "V5"]
    assert steps[vacancies["V1"][9]][:2] == [A1b, "乙社区"]
    # No item repeats a region's code or name, nor writes a date as text.
    assert not any(A1b in b or "社区" in b or "2025-" in b
                   for i, b in items.items() if i > 9 and not b.startswith("{"))
    for code in (A1b, A1, A, C):
        region, _ = region_with_children(engine, out.batch_id, code)
        assert "V1" in [v["vacancy_id"] for v in region["lists"]["newest_vacancies"]]
    near, _ = region_with_children(engine, out.batch_id, A1a)
    assert [(v["vacancy_id"], v["distance_km"]) for v in near["lists"]["nearby_vacancies"]] \
        == [("V1", 3.0)]
    near_b, _ = region_with_children(engine, out.batch_id, B1a)
    assert sorted(v["vacancy_id"] for v in near_b["lists"]["nearby_vacancies"]) == ["V4", "V5"]


def test_pruning_removes_the_items_of_pruned_batches(engine) -> None:  # noqa: ANN001
    load(engine)
    first = refresh(engine, as_of=AS_OF, tz=TZ, keep_batches=1)
    assert items_of(engine, first.batch_id)
    second = refresh(engine, as_of=AS_OF, tz=TZ, keep_batches=1)
    assert second.status == "ok"
    assert items_of(engine, first.batch_id) == {}
    with engine.connect() as conn:
        batches = conn.execute(select(SnapshotItem.batch_id).distinct()).scalars().all()
    assert batches == [second.batch_id]


def test_a_failed_write_leaves_no_items_behind(engine) -> None:  # noqa: ANN001
    load(engine)
    first = refresh(engine, as_of=AS_OF, tz=TZ)

    def boom(written: int) -> None:
        raise RuntimeError("disk full")

    out = refresh(engine, as_of=AS_OF, tz=TZ, _fail_after=boom, _chunk_rows=2)
    assert out.status == "failed"
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(SnapshotItem)
                         .where(SnapshotItem.batch_id != first.batch_id)).scalar_one()
    assert n == 0
    region, _ = region_with_children(engine, first.batch_id, C)
    assert region["lists"]["newest_vacancies"]


@pytest.mark.parametrize("code", [C, A1a])
def test_rows_without_a_layout_are_refused_clearly(engine, code: str) -> None:  # noqa: ANN001
    load(engine)
    out = refresh(engine, as_of=AS_OF, tz=TZ)
    with engine.begin() as conn:
        conn.execute(SnapshotItem.__table__.delete().where(SnapshotItem.item_id == 0))
    with pytest.raises(ValueError, match="layout"):
        region_with_children(engine, out.batch_id, code)
