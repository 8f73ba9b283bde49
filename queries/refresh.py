"""One refresh: lock, compute every region, write a whole snapshot batch, flip, prune.

A batch becomes visible only when its run is marked `ok`, in the same transaction as its
rows' insert, so readers (queries.snapshots.latest_batch) never see half a batch. The
lock is a lease on a `locks` row, so it holds across processes and machines. The holder
renews a short lease from a heartbeat thread while it runs, so a holder on another host
that dies frees the lock within LEASE_SECONDS; a holder on this host whose process is gone
is taken over at once; SIGTERM (and Ctrl-C) unwinds a refresh, releasing the lock.

A failure that cannot be recorded (the database is away) is kept in this process's memory
(`pending_failure`), shown by /healthz, and written by the next refresh that can.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from queries import incremental as inc
from queries.aggregate import compute_batch
from queries.clock import utcnow
from queries.maplayer import map_items
from queries.models import Lock, RefreshRun, SnapshotItem, SnapshotRegion
from queries.versions import chain_of

log = logging.getLogger(__name__)

LOCK_NAME = "refresh"
# A short lease renewed by a heartbeat: a holder that stops renewing (its host died, or
# it was killed on another host) loses the lock after LEASE_SECONDS.
LEASE_SECONDS = 60.0
HEARTBEAT_FRACTION = 1 / 6
KEEP_RUN_RECORDS = 500
CHUNK_ROWS = 2000




def _read_text(path: str) -> str:
    """A small system file's text, or "" where it does not exist (not Linux)."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _pid_space() -> str:
    """Id of the process-id space of this process: host, boot and pid namespace."""
    try:
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pid_ns = ""
    raw = f"{socket.gethostname()}|{_read_text('/proc/sys/kernel/random/boot_id')}|{pid_ns}"
    return hashlib.sha1(raw.encode()).hexdigest()[:10]


PID_SPACE = _pid_space()


def new_holder() -> str:
    """A lock holder id unique across hosts, processes and threads.

    `host:space:pid:thread:nonce`; `space` names the pid namespace, so a process on the
    same host (and namespace) can tell whether the holder's process still exists.
    """
    return f"{socket.gethostname()[:40]}:{PID_SPACE}:{os.getpid()}:" \
        f"{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists here and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return True  # cannot tell: assume alive (the lease still expires)
    stat = _read_text(f"/proc/{pid}/stat")
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state not in (["Z"], ["X"])


# Holders of this process that finished but could not give the lock back (database away).
_ABANDONED: set[str] = set()


def holder_is_dead(holder: str | None) -> bool:
    """True when the holder is a process of this pid space that no longer runs.

    Also for a holder of this process that finished without releasing (see _ABANDONED).
    """
    if not holder:
        return False
    if holder in _ABANDONED:
        return True
    parts = holder.split(":")
    if len(parts) != 5 or parts[1] != PID_SPACE or not parts[2].isdigit():
        return False  # another host or an old-style id: only the lease can tell
    return not _pid_alive(int(parts[2]))


# ---------------------------------------------------------------- lease lock
def try_acquire(
    engine: Engine, holder: str, name: str = LOCK_NAME, lease_seconds: float = LEASE_SECONDS
) -> bool:
    """Take the lease if it is free, expired or held by a dead process of this host.

    Each step is one atomic conditional UPDATE, so two contenders never both win.
    """
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
    with engine.connect() as conn:
        current = conn.execute(select(Lock.holder).where(Lock.name == name)).first()
    if current is not None:
        if not holder_is_dead(current.holder):
            return False
        with engine.begin() as conn:
            res = conn.execute(
                update(Lock)
                .where(Lock.name == name, Lock.holder == current.holder)
                .values(holder=holder, expires_at=expires)
            )
        if res.rowcount == 1:
            log.warning("took over lock %r from %s, whose process is gone",
                        name, current.holder)
            _ABANDONED.discard(current.holder)
            return True
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


def lock_holder(engine: Engine, name: str = LOCK_NAME) -> str | None:
    """The live holder of the lock: None when free, expired or held by a dead process."""
    with engine.connect() as conn:
        row = conn.execute(
            select(Lock.holder, Lock.expires_at).where(Lock.name == name)
        ).first()
    if row is None or row.holder is None or row.expires_at is None:
        return None
    if row.expires_at < utcnow() or holder_is_dead(row.holder):
        return None
    return row.holder


class Heartbeat:
    """A daemon thread renewing our lease every lease_seconds × HEARTBEAT_FRACTION."""

    def __init__(self, engine: Engine, holder: str, name: str = LOCK_NAME,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self.engine, self.holder, self.name = engine, holder, name
        self.lease_seconds = lease_seconds
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{name}", daemon=True)

    def _run(self) -> None:
        every = max(0.05, self.lease_seconds * HEARTBEAT_FRACTION)
        while not self._stop.wait(every):
            try:
                if not renew(self.engine, self.holder, self.name, self.lease_seconds):
                    log.error("lost lock %r (holder %s)", self.name, self.holder)
                    self.lost.set()
                    return
            except Exception:  # noqa: BLE001 - database away for a moment: try next beat
                log.warning("renewing lock %r failed", self.name, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        # A beat stuck on the database must not delay the release; after it, a late
        # renewal matches no row (renew checks the holder).
        self._thread.join(timeout=2)


@contextmanager
def lease(
    engine: Engine, name: str = LOCK_NAME, wait_seconds: float = 0,
    lease_seconds: float = LEASE_SECONDS,
) -> Iterator[str | None]:
    """Context manager yielding the holder id (renewed while inside), or None if not taken."""
    holder = new_holder()
    got = acquire(engine, holder, name, lease_seconds, wait_seconds)
    if not got:
        yield None
        return
    try:
        with Heartbeat(engine, holder, name, lease_seconds):
            yield holder
    finally:
        release(engine, holder, name)


class RefreshInterrupted(SystemExit):
    """SIGTERM arrived during a refresh: unwind (rolling back, releasing), then exit."""


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """In the main thread, turn SIGTERM into RefreshInterrupted while the block runs.

    Only where SIGTERM still has its default action (the CLI), so an application's own
    handler is never replaced; elsewhere a killed holder is noticed by its pid or lease.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):
        previous = None
    if previous is not signal.SIG_DFL:
        yield
        return

    def _on_term(signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one unwinding is enough
        raise RefreshInterrupted(128 + signum)

    signal.signal(signal.SIGTERM, _on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


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


ITEM_COLUMNS: tuple[str, ...] = ("batch_id", "item_id", "body")


def _rows(batch_id: int, snapshot: dict[str, dict]) -> list[tuple]:
    """snapshot_regions rows (ROW_COLUMNS order) of a compute_batch's regions."""
    return [
        (batch_id, code, r["parent_code"], r["name"], r["level"],
         r["path"], r["metrics"], r["series"], r["targets"], r["lists"])
        for code, r in snapshot.items()
    ]


def _write_rows(
    conn: Connection, rows: list[tuple], chunk_rows: int,
    fail_after: Callable[[int], None] | None,
    table: type[SnapshotRegion] | type[SnapshotItem] = SnapshotRegion,
    columns: tuple[str, ...] = ROW_COLUMNS,
) -> None:
    """Insert the batch's rows of `table` inside the caller's transaction, chunk by chunk.

    PostgreSQL gets them through COPY (psycopg 3), every other database through one
    executemany per chunk.
    """
    written = 0
    copy_sql = None
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        copy_sql = f"COPY {table.__tablename__} ({', '.join(columns)}) FROM STDIN"
    stmt = insert(table)
    for i in range(0, len(rows), chunk_rows):
        chunk = rows[i : i + chunk_rows]
        if copy_sql is not None:
            with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
                with cur.copy(copy_sql) as copy:
                    for row in chunk:
                        copy.write_row(row)
        else:
            conn.execute(stmt, [dict(zip(columns, row, strict=True)) for row in chunk])
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
        _delete_batches(conn, stale)
        conn.execute(
            update(RefreshRun)
            .where(RefreshRun.id.in_(stale))
            .values(status="failed", finished_at=utcnow(),
                    error="interrupted: the refresh process stopped before finishing")
        )
    log.warning("marked interrupted refresh runs as failed: %s", stale)


def _delete_batches(conn: Connection, ids: Any) -> None:
    """Delete the snapshot rows and items the batches in `ids` wrote."""
    for table in (SnapshotRegion, SnapshotItem):
        conn.execute(delete(table).where(table.__table__.c.batch_id.in_(ids)))


def prune(engine: Engine, keep_batches: int = 3, keep_runs: int = KEEP_RUN_RECORDS) -> None:
    """Keep what the newest keep_batches ok batches see and the newest keep_runs run
    records; delete every snapshot row and item no kept batch can see."""
    with engine.begin() as conn:
        ok_ids = conn.execute(
            select(RefreshRun.id).where(RefreshRun.status == "ok").order_by(RefreshRun.id.desc())
        ).scalars().all()
        keep = ok_ids[: max(keep_batches, 1)]
        chain = None
        if keep:
            oldest = keep[-1]
            # Rows are versions (queries.versions): the oldest kept batch sees its chain's
            # rows not replaced by then, and every newer kept batch sees a subset of
            # those and of rows written after it.
            chain = chain_of(conn, oldest)
            failed = select(RefreshRun.id).where(RefreshRun.status == "failed",
                                                 RefreshRun.id >= chain)
            for table in (SnapshotRegion, SnapshotItem):
                c = table.__table__.c
                conn.execute(delete(table).where(c.batch_id < chain))
                conn.execute(delete(table).where(c.valid_to <= oldest))
                # A failed run's rows are deleted when it fails; leftovers of one whose
                # failure could not be written then.
                conn.execute(delete(table).where(c.batch_id.in_(failed)))
        old = conn.execute(
            select(RefreshRun.id).order_by(RefreshRun.id.desc()).offset(keep_runs).limit(1)
        ).scalar()
        if old is not None:
            cond = RefreshRun.id <= old
            if chain is not None:
                # A kept chain's first batches hold rows its newer batches still read.
                cond = cond & (RefreshRun.id < chain)
            # SQLite does not cascade without PRAGMA foreign_keys: delete rows explicitly.
            ids = select(RefreshRun.id).where(cond)
            _delete_batches(conn, ids)
            conn.execute(delete(RefreshRun).where(cond))


# ---------------------------------------------------------------- failures kept in memory
@dataclass(frozen=True)
class PendingFailure:
    """A failed refresh that could not be recorded in its database (yet); naive UTC."""

    at: dt.datetime
    started_at: dt.datetime
    as_of: dt.datetime
    error: str
    holder: str


_PENDING: dict[str, PendingFailure] = {}
_PENDING_GUARD = threading.Lock()


def _db_key(engine: Engine) -> str:
    """The database a failure belongs to (its URL without the password)."""
    return engine.url.render_as_string(hide_password=True)


def pending_failure(engine: Engine) -> PendingFailure | None:
    """The newest failure of this process not yet written to the engine's database."""
    with _PENDING_GUARD:
        return _PENDING.get(_db_key(engine))


def _remember_failure(engine: Engine, failure: PendingFailure) -> None:
    """Keep a failure in memory (the newest one per database) until it can be written."""
    with _PENDING_GUARD:
        old = _PENDING.get(_db_key(engine))
        if old is None or old.at <= failure.at:
            _PENDING[_db_key(engine)] = failure


def _write_pending_failure(engine: Engine) -> None:
    """Record the remembered failure as a failed run (we hold the lock: ids stay ordered)."""
    failure = pending_failure(engine)
    if failure is None:
        return
    with engine.begin() as conn:
        newest_ok = conn.execute(
            select(func.max(RefreshRun.finished_at)).where(RefreshRun.status == "ok")
        ).scalar()
        if newest_ok is None or newest_ok <= failure.at:
            conn.execute(insert(RefreshRun).values(
                as_of=failure.as_of, started_at=failure.started_at, finished_at=failure.at,
                status="failed", error=failure.error[:4000], holder=failure.holder[:100],
            ))
        # else a refresh elsewhere succeeded after it: the failure is history, not news.
    with _PENDING_GUARD:
        if _PENDING.get(_db_key(engine)) is failure:
            del _PENDING[_db_key(engine)]
    log.info("recorded the earlier refresh failure kept in memory: %s", failure.error)


# ---------------------------------------------------------------- refresh
def refresh(
    engine: Engine,
    *,
    as_of: dt.datetime | None = None,
    tz: str,
    keep_batches: int = 3,
    lock_wait: float = 600,
    lease_seconds: float = LEASE_SECONDS,
    full: bool = False,
    incremental: bool | None = None,
    _fail_after: Callable[[int], None] | None = None,
    _chunk_rows: int = CHUNK_ROWS,
) -> RefreshOutcome:
    """Compute and publish one snapshot batch; failures are recorded and returned.

    Incremental (queries.incremental) unless `full` or there is no usable base;
    `incremental` (default: DASHBOARD_INCREMENTAL, on) False computes every batch in full
    and keeps no state.

    A failure that cannot be written to the database is kept in memory (see
    pending_failure) and written by the next refresh that reaches the database. SIGTERM
    in the main thread (where it has its default action) marks the run interrupted,
    releases the lock and exits with RefreshInterrupted (status 143).
    """
    started = when = utcnow()
    try:
        when = _as_of_utc(as_of, tz).astimezone(dt.UTC).replace(tzinfo=None)
        with _sigterm_unwinds():
            return _refresh(engine, as_of, tz, keep_batches, lock_wait, lease_seconds,
                            _fail_after, _chunk_rows, full,
                            inc.enabled_by_default() if incremental is None else incremental)
    except Exception as err:  # noqa: BLE001 - e.g. the database is unreachable: nothing to mark
        log.exception("refresh could not run")
        now = utcnow()
        text = f"{type(err).__name__}: {err}"
        _remember_failure(engine, PendingFailure(now, started, when, text, new_holder()))
        return RefreshOutcome(None, "failed", 0, text, started, now)


def _interrupted_text(err: BaseException) -> str:
    """The recorded error of a run that did not finish."""
    if isinstance(err, RefreshInterrupted):
        return "interrupted: the refresh process received SIGTERM"
    if isinstance(err, KeyboardInterrupt):
        return "interrupted: the refresh process received SIGINT"
    return f"{type(err).__name__}: {err}"


def _refresh(
    engine: Engine,
    as_of: dt.datetime | None,
    tz: str,
    keep_batches: int,
    lock_wait: float,
    lease_seconds: float,
    _fail_after: Callable[[int], None] | None,
    _chunk_rows: int,
    full: bool = False,
    incremental: bool = True,
) -> RefreshOutcome:
    started = utcnow()
    holder = new_holder()
    if not acquire(engine, holder, wait_seconds=lock_wait, lease_seconds=lease_seconds):
        return RefreshOutcome(None, "busy", 0, "another refresh holds the lock", started,
                              utcnow())
    try:
        with Heartbeat(engine, holder, lease_seconds=lease_seconds) as beat:
            return _locked_refresh(engine, holder, beat, as_of, tz, keep_batches,
                                   lease_seconds, _fail_after, _chunk_rows, full, incremental)
    finally:
        try:
            release(engine, holder)
        except Exception:  # noqa: BLE001 - keep the real outcome; the lock is not held
            log.exception("releasing the refresh lock failed")
            # Marked dead, so the next refresh takes it over and /healthz ignores it.
            _ABANDONED.add(holder)


def _locked_refresh(
    engine: Engine,
    holder: str,
    beat: Heartbeat,
    as_of: dt.datetime | None,
    tz: str,
    keep_batches: int,
    lease_seconds: float,
    _fail_after: Callable[[int], None] | None,
    _chunk_rows: int,
    full: bool = False,
    incremental: bool = True,
) -> RefreshOutcome:
    """The refresh proper, while we hold the lock."""
    _write_pending_failure(engine)
    _fail_stale_runs(engine)
    when = _as_of_utc(as_of, tz)
    as_of_utc = when.astimezone(dt.UTC).replace(tzinfo=None)
    started = utcnow()
    with engine.begin() as conn:
        # inserted_primary_key rather than RETURNING: MySQL has no RETURNING.
        run_id = conn.execute(
            insert(RefreshRun).values(
                as_of=as_of_utc, started_at=started, status="running", holder=holder[:100],
            )
        ).inserted_primary_key[0]
    try:
        plan = inc.plan(engine, when, tz, incremental=incremental, full=full,
                        compute=compute_batch)
        if plan.full:
            log.info("refresh %s: full (%s)", run_id, plan.reason)
            rows = _rows(run_id, plan.rows)
            item_rows = [(run_id, i, body) for i, body in enumerate(plan.items)]
            # The map panel's data, stored with the batch (negative item ids; issue 14).
            item_rows += [(run_id, i, body) for i, body in map_items(
                engine, plan.rows, plan.items, when, tz)]
            plan.rows, plan.items = {}, []
        else:
            log.info("refresh %s: incremental, %d regions changed", run_id, len(plan.rows))
            rows, item_rows = [], []
            if plan.rows:
                # The map's data again: the base's with the changed communities replaced,
                # or from the base rows with the changed ones replaced.
                plan.map_items = inc.map_items_increment(engine, plan, when, tz)
                if plan.map_items is None:
                    snapshot, layout = inc.map_snapshot(engine, plan)
                    plan.map_items = map_items(engine, snapshot, layout, when, tz)
                    del snapshot

        def write(conn: Connection, rows: list[tuple], table: Any, columns: tuple[str, ...]
                  ) -> None:
            _write_rows(conn, rows, _chunk_rows,
                        _fail_after if table is SnapshotRegion else None, table, columns)
        # Never publish after losing the lease: another refresh may be running now.
        if beat.lost.is_set() or not renew(engine, holder, lease_seconds=lease_seconds):
            raise RuntimeError("lost the refresh lock (lease expired) before writing")
        with engine.begin() as conn:
            _write_rows(conn, item_rows, _chunk_rows, None, SnapshotItem, ITEM_COLUMNS)
            _write_rows(conn, rows, _chunk_rows, _fail_after)
            # An increment's rows and items, the state and the consumed marks.
            inc.save(conn, run_id, plan, write)
            finished = utcnow()
            # The flip: same transaction as the rows, so the batch appears whole.
            conn.execute(
                update(RefreshRun).where(RefreshRun.id == run_id)
                .values(status="ok", finished_at=finished, rows=plan.total_rows,
                        chain_id=inc.chain_after(run_id, plan))
            )
    except BaseException as err:  # any failure or interruption is recorded, old batch stays
        finished = utcnow()
        text = _interrupted_text(err)
        log.error("refresh %s failed: %s\n%s", run_id, text, traceback.format_exc())
        try:
            with engine.begin() as conn:
                _delete_batches(conn, [run_id])
                conn.execute(
                    update(RefreshRun).where(RefreshRun.id == run_id)
                    .values(status="failed", finished_at=finished, error=text[:4000])
                )
        except Exception:  # noqa: BLE001 - database away: keep the failure in memory
            log.exception("recording the failure of refresh %s failed", run_id)
            _remember_failure(engine, PendingFailure(finished, started, as_of_utc, text,
                                                     holder))
        if not isinstance(err, Exception):
            raise
        return RefreshOutcome(run_id, "failed", 0, text, started, finished)
    try:
        prune(engine, keep_batches)
    except Exception:  # noqa: BLE001 - pruning is housekeeping; the batch is published
        log.exception("pruning old snapshot batches failed")
    log.info("refresh %s ok: %d regions in %.2f s", run_id, plan.total_rows,
             (finished - started).total_seconds())
    return RefreshOutcome(run_id, "ok", plan.total_rows, None, started, finished)
