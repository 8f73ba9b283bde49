"""Operational figures read from the database for /metrics (SPEC 9): same on every host.

Everything here is read from the shared database at scrape time, not kept in a process, so
every web host reports the same refresh and outbox figures whichever scheduler did the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select

from queries.clock import utcnow
from queries.models import OutboxEvent, RefreshRun


@dataclass(frozen=True)
class OpsFigures:
    """Newest batch, last run and outbox counts; None where there is nothing to tell."""

    batch_id: int | None
    batch_rows: int | None
    batch_age_seconds: float | None
    refresh_seconds: float | None
    last_run_failed: bool
    failed_runs: int
    outbox_pending: int
    outbox_dead: int


def _outbox_counts(conn: Connection) -> tuple[int, int]:
    """(pending, dead) events of the outbox (SPEC 7)."""
    rows = conn.execute(
        select(OutboxEvent.state, func.count()).where(OutboxEvent.state.in_(("pending", "dead")))
        .group_by(OutboxEvent.state)
    ).all()
    by_state = {state: int(n) for state, n in rows}
    return by_state.get("pending", 0), by_state.get("dead", 0)


def newest_batch_age(engine: Engine) -> float | None:
    """Seconds since the newest published batch's refresh started (None: no batch yet)."""
    with engine.connect() as conn:
        started = conn.execute(
            select(func.max(RefreshRun.started_at)).where(RefreshRun.status == "ok")
        ).scalar()
    return None if started is None else (utcnow() - started).total_seconds()


def figures(engine: Engine) -> OpsFigures:
    """The figures /metrics exposes, from the newest ok run and the outbox."""
    with engine.connect() as conn:
        ok = conn.execute(
            select(RefreshRun.id, RefreshRun.rows, RefreshRun.started_at,
                   RefreshRun.finished_at)
            .where(RefreshRun.status == "ok").order_by(RefreshRun.id.desc()).limit(1)
        ).first()
        last = conn.execute(
            select(RefreshRun.status).where(RefreshRun.status != "running")
            .order_by(RefreshRun.id.desc()).limit(1)
        ).scalar()
        failed = conn.execute(
            select(func.count()).select_from(RefreshRun).where(RefreshRun.status == "failed")
        ).scalar()
        pending, dead = _outbox_counts(conn)
    age = duration = None
    if ok is not None and ok.finished_at is not None:
        age = max(0.0, (utcnow() - ok.finished_at).total_seconds())
        duration = max(0.0, (ok.finished_at - ok.started_at).total_seconds())
    return OpsFigures(
        batch_id=ok.id if ok else None,
        batch_rows=ok.rows if ok else None,
        batch_age_seconds=age,
        refresh_seconds=duration,
        last_run_failed=last == "failed",
        failed_runs=int(failed or 0),
        outbox_pending=pending,
        outbox_dead=dead,
    )


__all__ = ["OpsFigures", "figures", "newest_batch_age"]
