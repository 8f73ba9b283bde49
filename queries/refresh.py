"""One refresh: lock, compute every region, write a whole snapshot batch, flip, prune.

A batch becomes visible only when its run is marked `ok`, in the same transaction as its
rows' insert, so readers (queries.snapshots.latest_batch) never see half a batch. The
lock is a lease on a `locks` row, so it holds across processes and machines.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from queries.aggregate import compute_snapshot
from queries.models import Lock, RefreshRun, SnapshotRegion

log = logging.getLogger(__name__)

LOCK_NAME = "refresh"
LEASE_SECONDS = 30 * 60
KEEP_RUN_RECORDS = 500
CHUNK_ROWS = 2000


def utcnow() -> dt.datetime:
    """Now as naive UTC (the convention of every DateTime column here)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_holder() -> str:
    """A lock holder id unique across hosts, processes and threads."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{threading.get_ident()}:" \
        f"{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- lease lock
def try_acquire(
    engine: Engine, holder: str, name: str = LOCK_NAME, lease_seconds: float = LEASE_SECONDS
) -> bool:
    """Take the lease if it is free or expired, in one atomic conditional UPDATE."""
    now = utcnow()
    expires = now + dt.timedelta(seconds=lease_seconds)
    with engine.begin() as conn:
        res = conn.execute(
            update(Lock)
            .where(Lock.name == name, or_(Lock.holder.is_(None), Lock.expires_at < now))
            .values(holder=holder, expires_at=expires)
        )
        if res.rowcount == 1:
            return True
        exists = conn.execute(select(Lock.name).where(Lock.name == name)).first()
    if exists is not None:
        return False
    try:
        with engine.begin() as conn:
            conn.execute(insert(Lock).values(name=name, holder=holder, expires_at=expires))
        return True
    except IntegrityError:
        # Another process inserted the row first: it holds the lease now.
        return False


def acquire(
    engine: Engine,
    holder: str,
    name: str = LOCK_NAME,
    lease_seconds: float = LEASE_SECONDS,
    wait_seconds: float = 0,
    poll_seconds: float = 0.2,
) -> bool:
    """Take the lease, polling up to wait_seconds while another holder has it."""
    deadline = time.monotonic() + wait_seconds
    while True:
        if try_acquire(engine, holder, name, lease_seconds):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_seconds)


def renew(
    engine: Engine, holder: str, name: str = LOCK_NAME, lease_seconds: float = LEASE_SECONDS
) -> bool:
    """Extend our lease; False when we no longer hold it."""
    with engine.begin() as conn:
        res = conn.execute(
            update(Lock)
            .where(Lock.name == name, Lock.holder == holder)
            .values(expires_at=utcnow() + dt.timedelta(seconds=lease_seconds))
        )
    return res.rowcount == 1


def release(engine: Engine, holder: str, name: str = LOCK_NAME) -> None:
    """Give the lease back (only if we still hold it)."""
    with engine.begin() as conn:
        conn.execute(
            update(Lock)
            .where(Lock.name == name, Lock.holder == holder)
            .values(holder=None, expires_at=None)
        )


@contextmanager
def lease(
    engine: Engine, name: str = LOCK_NAME, wait_seconds: float = 0,
    lease_seconds: float = LEASE_SECONDS,
) -> Iterator[str | None]:
    """Context manager yielding the holder id, or None when the lease could not be taken."""
    holder = new_holder()
    got = acquire(engine, holder, name, lease_seconds, wait_seconds)
    try:
        yield holder if got else None
    finally:
        if got:
            release(engine, holder, name)


# ---------------------------------------------------------------- refresh
@dataclass(frozen=True)
class RefreshOutcome:
    """What one refresh did: the batch id, ok/failed/busy, rows written, error text."""

    batch_id: int | None
    status: str
    rows: int
    error: str | None
    started_at: dt.datetime
    finished_at: dt.datetime


def _as_of_utc(as_of: dt.datetime | None, tz: str) -> dt.datetime:
    """An aware as-of instant; a naive one is local time in tz; None is now."""
    if as_of is None:
        return dt.datetime.now(dt.UTC)
    if as_of.tzinfo is None:
        return as_of.replace(tzinfo=ZoneInfo(tz))
    return as_of


ROW_COLUMNS: tuple[str, ...] = (
    "batch_id", "region_code", "parent_code", "name", "level",
    "path", "metrics", "series", "targets", "lists",
)


def _rows(batch_id: int, snapshot: dict[str, dict]) -> list[tuple]:
    """snapshot_regions rows (ROW_COLUMNS order) of a compute_snapshot(as_json=True)."""
    return [
        (batch_id, code, r["parent_code"], r["name"], r["level"],
         r["path"], r["metrics"], r["series"], r["targets"], r["lists"])
        for code, r in snapshot.items()
    ]


def _write_rows(
    conn: Connection, rows: list[tuple], chunk_rows: int,
    fail_after: Callable[[int], None] | None,
) -> None:
    """Insert the batch's rows inside the caller's transaction, chunk by chunk.

    PostgreSQL gets them through COPY (psycopg 3), every other database through one
    executemany per chunk.
    """
    written = 0
    copy_sql = None
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        copy_sql = f"COPY {SnapshotRegion.__tablename__} ({', '.join(ROW_COLUMNS)}) FROM STDIN"
    stmt = insert(SnapshotRegion)
    for i in range(0, len(rows), chunk_rows):
        chunk = rows[i : i + chunk_rows]
        if copy_sql is not None:
            with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
                with cur.copy(copy_sql) as copy:
                    for row in chunk:
                        copy.write_row(row)
        else:
            conn.execute(stmt, [dict(zip(ROW_COLUMNS, row, strict=True)) for row in chunk])
        written += len(chunk)
        if fail_after is not None:
            fail_after(written)


def _fail_stale_runs(engine: Engine) -> None:
    """Runs still `running` while we hold the lock were left by a killed process."""
    with engine.begin() as conn:
        stale = conn.execute(
            select(RefreshRun.id).where(RefreshRun.status == "running")
        ).scalars().all()
        if not stale:
            return
        conn.execute(delete(SnapshotRegion).where(SnapshotRegion.batch_id.in_(stale)))
        conn.execute(
            update(RefreshRun)
            .where(RefreshRun.id.in_(stale))
            .values(status="failed", finished_at=utcnow(),
                    error="interrupted: the refresh process stopped before finishing")
        )
    log.warning("marked interrupted refresh runs as failed: %s", stale)


def prune(engine: Engine, keep_batches: int = 3, keep_runs: int = KEEP_RUN_RECORDS) -> None:
    """Keep the newest keep_batches ok batches' rows and the newest keep_runs run records."""
    with engine.begin() as conn:
        ok_ids = conn.execute(
            select(RefreshRun.id).where(RefreshRun.status == "ok").order_by(RefreshRun.id.desc())
        ).scalars().all()
        keep = ok_ids[: max(keep_batches, 1)]
        if keep:
            # Rows of older ok batches and of any failed or finished-elsewhere batch.
            running = conn.execute(
                select(RefreshRun.id).where(RefreshRun.status == "running")
            ).scalars().all()
            conn.execute(
                delete(SnapshotRegion).where(SnapshotRegion.batch_id.not_in(keep + running))
            )
        old = conn.execute(
            select(RefreshRun.id).order_by(RefreshRun.id.desc()).offset(keep_runs).limit(1)
        ).scalar()
        if old is not None:
            cond = RefreshRun.id <= old
            if keep:
                cond = cond & RefreshRun.id.not_in(keep)
            # SQLite does not cascade without PRAGMA foreign_keys: delete rows explicitly.
            ids = select(RefreshRun.id).where(cond)
            conn.execute(delete(SnapshotRegion).where(SnapshotRegion.batch_id.in_(ids)))
            conn.execute(delete(RefreshRun).where(cond))


def refresh(
    engine: Engine,
    *,
    as_of: dt.datetime | None = None,
    tz: str,
    keep_batches: int = 3,
    lock_wait: float = 600,
    _fail_after: Callable[[int], None] | None = None,
    _chunk_rows: int = CHUNK_ROWS,
) -> RefreshOutcome:
    """Compute and publish one snapshot batch; failures are recorded and returned."""
    try:
        return _refresh(engine, as_of, tz, keep_batches, lock_wait, _fail_after, _chunk_rows)
    except Exception as err:  # noqa: BLE001 - e.g. the database is unreachable: nothing to mark
        log.exception("refresh could not run")
        now = utcnow()
        return RefreshOutcome(None, "failed", 0, f"{type(err).__name__}: {err}", now, now)


def _refresh(
    engine: Engine,
    as_of: dt.datetime | None,
    tz: str,
    keep_batches: int,
    lock_wait: float,
    _fail_after: Callable[[int], None] | None,
    _chunk_rows: int,
) -> RefreshOutcome:
    started = utcnow()
    holder = new_holder()
    if not acquire(engine, holder, wait_seconds=lock_wait):
        return RefreshOutcome(None, "busy", 0, "another refresh holds the lock", started,
                              utcnow())
    try:
        _fail_stale_runs(engine)
        when = _as_of_utc(as_of, tz)
        started = utcnow()
        with engine.begin() as conn:
            # inserted_primary_key rather than RETURNING: MySQL has no RETURNING.
            run_id = conn.execute(
                insert(RefreshRun).values(
                    as_of=when.astimezone(dt.UTC).replace(tzinfo=None),
                    started_at=started, status="running", holder=holder[:100],
                )
            ).inserted_primary_key[0]
        try:
            snapshot = compute_snapshot(engine, when, tz, as_json=True)
            rows = _rows(run_id, snapshot)
            del snapshot
            # A long compute must not lose the lease before the write.
            renew(engine, holder)
            with engine.begin() as conn:
                _write_rows(conn, rows, _chunk_rows, _fail_after)
                finished = utcnow()
                # The flip: same transaction as the rows, so the batch appears whole.
                conn.execute(
                    update(RefreshRun).where(RefreshRun.id == run_id)
                    .values(status="ok", finished_at=finished, rows=len(rows))
                )
        except Exception as err:  # noqa: BLE001 - any failure is recorded, old batch stays
            finished = utcnow()
            text = f"{type(err).__name__}: {err}"
            log.error("refresh %s failed: %s\n%s", run_id, text, traceback.format_exc())
            with engine.begin() as conn:
                conn.execute(delete(SnapshotRegion).where(SnapshotRegion.batch_id == run_id))
                conn.execute(
                    update(RefreshRun).where(RefreshRun.id == run_id)
                    .values(status="failed", finished_at=finished, error=text[:4000])
                )
            return RefreshOutcome(run_id, "failed", 0, text, started, finished)
        try:
            prune(engine, keep_batches)
        except Exception:  # noqa: BLE001 - pruning is housekeeping; the batch is published
            log.exception("pruning old snapshot batches failed")
        log.info("refresh %s ok: %d regions in %.2f s", run_id, len(rows),
                 (finished - started).total_seconds())
        return RefreshOutcome(run_id, "ok", len(rows), None, started, finished)
    finally:
        try:
            release(engine, holder)
        except Exception:  # noqa: BLE001 - the lease expires by itself; keep the real outcome
            log.exception("releasing the refresh lock failed")
