"""Read functions over the latest finished snapshot batch (never the source tables)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, text, union_all

from queries.models import RefreshRun, SnapshotItem, SnapshotRegion
from queries.packing import LAYOUT_ITEM, read_layout, row_item_ids, step_ids, unpack_row
from queries.refresh import PendingFailure, lock_holder, pending_failure
from queries.versions import chain_of, visible


@dataclass(frozen=True)
class Batch:
    """A finished snapshot batch: its id and its two instants (naive UTC)."""

    id: int
    as_of: dt.datetime
    computed_at: dt.datetime

    def as_of_iso(self, tz: str) -> str:
        """The as-of instant in ISO 8601 with the local offset."""
        return to_local_iso(self.as_of, tz)

    def computed_at_iso(self, tz: str) -> str:
        """The computation instant in ISO 8601 with the local offset."""
        return to_local_iso(self.computed_at, tz)


def to_local_iso(naive_utc: dt.datetime, tz: str) -> str:
    """Render a naive-UTC instant as local ISO 8601 (seconds precision)."""
    aware = naive_utc.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))
    return aware.isoformat(timespec="seconds")


def latest_batch(engine: Engine) -> Batch | None:
    """The newest successfully finished batch, or None before the first refresh."""
    stmt = (
        select(RefreshRun.id, RefreshRun.as_of, RefreshRun.finished_at)
        .where(RefreshRun.status == "ok")
        .order_by(RefreshRun.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return Batch(row.id, row.as_of, row.finished_at) if row else None


def _decode(row: Any) -> dict[str, Any]:
    """A stored row decoded, still packed (metrics by position, list items by id)."""
    return {
        "code": row.region_code,
        "name": row.name,
        "level": row.level,
        "parent_code": row.parent_code,
        "path": json.loads(row.path),
        "metrics": json.loads(row.metrics),
        "series": json.loads(row.series),
        "targets": json.loads(row.targets),
        "lists": json.loads(row.lists),
    }


def batch_items(conn: Any, batch_id: int, ids: set[int], chain: int | None = None
                ) -> dict[int, str]:
    """The JSON texts of some items of a batch (the layout item always)."""
    # The ids are integers decoded from our own rows (int() checks): inlined, since
    # binding hundreds of parameters costs more than the lookups themselves.
    listed = ",".join(str(int(i)) for i in sorted(ids | {LAYOUT_ITEM}))
    stmt = select(SnapshotItem.item_id, SnapshotItem.body).where(
        text(f"item_id IN ({listed})"), visible(SnapshotItem, batch_id, chain)
    )
    return dict(conn.execute(stmt).tuples().all())


def _parse_arrays(items: dict[int, str], parsed: dict[int, Any]) -> None:
    """Decode the items in one json.loads (a thousand separate calls cost more at city
    level) and keep the arrays: queries.packing reads only scalars from them."""
    ids = [i for i in items if i != LAYOUT_ITEM]
    values = json.loads("[" + ",".join([items[i] for i in ids]) + "]") if ids else []
    for i, value in zip(ids, values, strict=True):
        if isinstance(value, list):
            parsed[i] = value


def _unpack(
    regions: list[dict[str, Any]], items: dict[int, str], parsed: dict[int, Any]
) -> None:
    """Expand the rows' metrics, series, path and list items in place (queries.packing)."""
    layout = read_layout(items)
    for r in regions:
        unpack_row(r, items, layout, parsed)


def region_with_children(
    engine: Engine, batch_id: int, code: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One region's snapshot and its children's (sorted by code), in one query."""
    t = SnapshotRegion.__table__
    # Two index ranges, not `region_code = ? OR parent_code = ?`: SQLite answers that OR by
    # walking the whole batch (29 ms per read at province scale, 0.01 ms this way).
    with engine.connect() as conn:
        chain = chain_of(conn, batch_id)
        stmt = union_all(
            select(t).where(t.c.region_code == code, visible(t, batch_id, chain)),
            select(t).where(t.c.parent_code == code, t.c.region_code != code,
                            visible(t, batch_id, chain)),
        )
        decoded = [_decode(row) for row in conn.execute(stmt)]
        # One more query for every item the region and its children refer to.
        ids: set[int] = set()
        for r in decoded:
            ids |= row_item_ids(r)
        packed = bool(ids) or any(isinstance(r["metrics"], list) for r in decoded)
        items = batch_items(conn, batch_id, ids, chain) if packed else {}
        parsed: dict[int, Any] = {}
        _parse_arrays(items, parsed)
        # Format 2 items name their communities by step id: those not read yet.
        steps = step_ids(decoded, items, parsed) if packed else set()
        if steps:
            more = batch_items(conn, batch_id, steps, chain)
            _parse_arrays(more, parsed)
            items.update(more)
    _unpack(decoded, items, parsed)
    region = None
    children = []
    for r in decoded:
        if r["code"] == code:
            region = r
        else:
            children.append(r)
    children.sort(key=lambda r: r["code"])
    return region, children


def region_index(engine: Engine, batch_id: int) -> list[dict[str, str | None]]:
    """Code, name, level and parent of every region in the batch (for search and tours)."""
    stmt = select(
        SnapshotRegion.region_code, SnapshotRegion.name, SnapshotRegion.level,
        SnapshotRegion.parent_code,
    ).where(visible(SnapshotRegion, batch_id))
    with engine.connect() as conn:
        return [
            {"code": r.region_code, "name": r.name, "level": r.level, "parent_code": r.parent_code}
            for r in conn.execute(stmt)
        ]


def last_runs(engine: Engine) -> tuple[RefreshRun | None, RefreshRun | None]:
    """The most recent run of any status and the most recent failed one."""
    with engine.connect() as conn:
        last = conn.execute(
            select(RefreshRun).order_by(RefreshRun.id.desc()).limit(1)
        ).first()
        failed = conn.execute(
            select(RefreshRun).where(RefreshRun.status == "failed")
            .order_by(RefreshRun.id.desc()).limit(1)
        ).first()
    return last, failed


def pending_error(pending: PendingFailure, tz: str) -> dict[str, str]:
    """The `last_error` object of a failure kept in memory."""
    return {"at": to_local_iso(pending.at, tz), "error": pending.error[:500]}


def health(
    engine: Engine, refresh_seconds: int, tz: str, now: dt.datetime | None = None
) -> tuple[int, dict[str, Any]]:
    """Status code and body of /healthz: stale when older than twice the refresh interval."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    batch = latest_batch(engine)
    last, failed = last_runs(engine)
    body: dict[str, Any] = {
        "status": "ok",
        "last_refresh": None,
        "as_of": None,
        "stale": True,
        "last_error": None,
    }
    if failed is not None and (batch is None or failed.id > batch.id):
        body["last_error"] = {
            "at": to_local_iso(failed.finished_at or failed.started_at, tz),
            "error": (failed.error or "")[:500],
        }
    # A failure this process could not write (the database was away) counts when newer.
    pending = pending_failure(engine)
    if pending is not None and (batch is None or pending.at > batch.computed_at) and (
        failed is None or pending.at > (failed.finished_at or failed.started_at)
    ):
        body["last_error"] = pending_error(pending, tz)
    # `running` alone may be a killed process's leftover: only a live lock holder counts.
    if last is not None and last.status == "running" and lock_holder(engine) is not None:
        body["refreshing"] = True
    if batch is None:
        body["status"] = "no_snapshot"
        return 503, body
    body["last_refresh"] = batch.computed_at_iso(tz)
    body["as_of"] = batch.as_of_iso(tz)
    body["stale"] = (now - batch.computed_at).total_seconds() > 2 * refresh_seconds
    if body["stale"] or body["last_error"]:
        body["status"] = "degraded"
    return 200, body
