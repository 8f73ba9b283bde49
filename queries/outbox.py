"""Outbound exchange (SPEC section 7): outbox events, the vacancy feed and their delivery.

Writing. An import (file or exchange endpoint) hands each chunk of rows to the tracker of
its KIND before upserting it, inside the chunk's savepoint, so whatever is recorded here
commits or rolls back with the change itself:
- persons: the stored rows are locked (FOR UPDATE) and compared; a new person, or a
  changed `status` / `seeking_job`, writes a `person_status` event after the upsert.
  Locking first makes one person's writers queue, so its events get increasing ids in
  commit order (the id taken after the upsert, which waits for an earlier inserter too).
- vacancies: the `feed_counters` row of the feed is locked first, then the stored rows; a
  new or changed vacancy gets the next sequence numbers in `vacancy_changes` (and, when
  DASHBOARD_PROVINCE_URL is set, a `vacancy` event). The counter's row lock is held until
  commit, so a writer holding uncommitted numbers blocks every later writer: committed
  numbers always form a prefix, and a reader paging by number never skips a change that
  commits later. (On SQLite the single-writer lock gives the same.) The price: writers of
  vacancies queue one after the other, which a single-file import does anyway.
Re-importing an unchanged row writes nothing; a rolled-back import leaves nothing.
- placements: a *new* placement (an id not stored before) dated from the person's
  `status_on` up to the import's local date sets the person's status from its form
  (employer, public welfare, entrepreneurship: employed; flexible: flexible; traineeship
  is not employment and changes nothing) and seeking_job to false, and writes the event
  (cause `placement:<id>`). The person's last record is kept beside it, so re-importing
  that unchanged record does not undo the placement; a record saying something new does.
  Placements dated before the person's status was last set (a history backfill after the
  persons file) change nothing: the record is newer news.

Delivering. `push_once` takes the "pusher" lease (queries.refresh's lease code), then POSTs
due events in id order, in batches, signed with HMAC-SHA256. A failed batch is retried
with exponential backoff (capped) and parked as dead after the configured attempts; a
person's later event is not sent while an earlier one of the same subject waits.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import os
import random
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from queries.clock import utcnow
from queries.models import FeedCounter, OutboxEvent, Person, Placement, Vacancy, VacancyChange
from queries.refresh import lease
from queries.upsert import pg_copy_rows

log = logging.getLogger(__name__)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
PERSON_TOPIC, VACANCY_TOPIC = "person_status", "vacancy"
VACANCY_FEED = "vacancies"
PUSHER_LOCK = "pusher"
KEEP_DELIVERED_DAYS = 7
PRUNE_EVERY_SECONDS = 3600.0
_last_prune = float("-inf")
FEED_LIMIT_DEFAULT, FEED_LIMIT_MAX = 100, 1000
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_EVENT_COLS = ["event_id", "topic", "subject", "payload", "created_at", "state", "attempts"]
_CHANGE_COLS = ["seq", "vacancy_id", "community_code", "record", "changed_at"]


def push_enabled() -> bool:
    """Whether a provincial receiver is configured (vacancy events are written only then)."""
    return bool(os.environ.get("DASHBOARD_PROVINCE_URL", "").strip())


def _iso(value: Any) -> Any:
    """A JSON value of a stored one: dates and datetimes as ISO 8601."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _stamp(now: dt.datetime) -> str:
    """A naive-UTC instant as ISO 8601 with its offset."""
    return now.replace(tzinfo=dt.UTC).isoformat(timespec="milliseconds")


def _bulk_insert(conn: Connection, table: Any, cols: list[str],
                 rows: list[dict[str, Any]]) -> None:
    """Insert rows fast: COPY on PostgreSQL, else the driver's executemany with the
    columns' own bind processors (SQLAlchemy's per-row work doubled an import's time)."""
    if not rows:
        return
    t = table.__table__
    if conn.dialect.name == "postgresql" and pg_copy_rows(
        conn, t.name, cols, (tuple(r[c] for c in cols) for r in rows)
    ):
        return
    dialect = conn.dialect
    ph = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    if ph is None:
        conn.execute(insert(t), rows)
        return
    procs = [(c, t.c[c].type.dialect_impl(dialect).bind_processor(dialect)) for c in cols]
    q = dialect.identifier_preparer.quote
    conn.exec_driver_sql(
        f"INSERT INTO {q(t.name)} ({', '.join(q(c) for c in cols)}) "
        f"VALUES ({', '.join([ph] * len(cols))})",
        [tuple(p(r[c]) if p else r[c] for c, p in procs) for r in rows],
    )


def _insert_events(conn: Connection, events: list[dict[str, Any]]) -> None:
    """Insert outbox rows (ids from the table's sequence / autoincrement)."""
    _bulk_insert(conn, OutboxEvent, _EVENT_COLS, events)


def _event_ids(n: int) -> list[str]:
    """n random (version 4) UUIDs from one read of the system's random source."""
    raw = os.urandom(16 * n)
    return [str(uuid.UUID(bytes=raw[i:i + 16], version=4)) for i in range(0, 16 * n, 16)]


def _events(topic: str, items: list[tuple[str, dict[str, Any]]],
            now: dt.datetime) -> list[dict[str, Any]]:
    """Outbox rows around (subject, payload body) pairs; event_id and changed_at added."""
    stamp = _stamp(now)
    rows = []
    for event_id, (subject, body) in zip(_event_ids(len(items)), items, strict=True):
        payload = {"event_id": event_id, "type": topic, **body, "changed_at": stamp}
        rows.append({
            "event_id": event_id, "topic": topic, "subject": subject,
            "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            "created_at": now, "state": PENDING, "attempts": 0,
        })
    return rows


# ================================================================ trackers (writing)
class Tracker:
    """Finds what a chunk of rows changes (before the upsert) and records it (after)."""

    def __init__(self, conn: Connection, cause: str, today: dt.date | None = None) -> None:
        self.conn = conn
        self.cause = cause
        # The import's local date: the date a record's new status holds from.
        self.today = today or dt.date.today()

    def before(self, rows: list[dict[str, Any]]) -> Any:
        """Lock and compare the stored rows; returns what after() needs."""
        raise NotImplementedError

    def after(self, state: Any) -> None:
        """Write the events of the changes found by before()."""
        raise NotImplementedError


PLACEMENT_SOURCE = "placement"
# A placement's form → the status it gives (SPEC 2 forms). 就业见习 (traineeship) is
# training, not employment, so it changes no status.
FORM_STATUS = {"employer": "employed", "public_welfare": "employed",
               "entrepreneurship": "employed", "flexible": "flexible"}
_PERSON_STATE = (Person.person_id, Person.community_code, Person.status, Person.seeking_job,
                 Person.unemployed_since, Person.status_on, Person.status_source,
                 Person.record_status, Person.record_seeking)


def _locked_persons(conn: Connection, ids: list[str]) -> dict[str, Any]:
    """The stored status state of these persons, row-locked until commit (id order)."""
    stored: dict[str, Any] = {}
    for i in range(0, len(ids), 5000):
        q = (select(*_PERSON_STATE).where(Person.person_id.in_(ids[i:i + 5000]))
             .order_by(Person.person_id).with_for_update())
        stored.update((r.person_id, r) for r in conn.execute(q))
    return stored


def _person_event(person_id: str, community: str, status: str, seeking: bool,
                  cause: str) -> tuple[str, dict[str, Any]]:
    """(subject, body) of one person_status event."""
    return (f"person:{person_id}", {
        "person_id": person_id, "community_code": community, "status": status,
        "seeking_job": bool(seeking), "cause": cause,
    })


class PersonTracker(Tracker):
    """`person_status` events for new persons and changed status / seeking_job."""

    def before(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows that create a person or change its status or seeking_job.

        Also fills each row's status source columns; a record repeating what it said
        before a placement set the status keeps the placement's status.
        """
        stored = _locked_persons(self.conn, [r["person_id"] for r in rows])
        changed = []
        for r in rows:
            s = stored.get(r["person_id"])
            said = (r["status"], bool(r["seeking_job"]))
            if (s is not None and s.status_source == PLACEMENT_SOURCE
                    and said == (s.record_status, bool(s.record_seeking))):
                r.update(status=s.status, seeking_job=bool(s.seeking_job),
                         unemployed_since=s.unemployed_since, status_on=s.status_on,
                         status_source=s.status_source, record_status=s.record_status,
                         record_seeking=s.record_seeking)
                continue
            same = s is not None and (s.status, bool(s.seeking_job)) == said
            r.update(status_on=(s.status_on or self.today) if same else self.today,
                     status_source=None, record_status=None, record_seeking=None)
            if not same:
                changed.append(r)
        return changed

    def after(self, state: list[dict[str, Any]]) -> None:
        """One event per changed person."""
        _insert_events(self.conn, _events(PERSON_TOPIC, [
            _person_event(r["person_id"], r["community_code"], r["status"],
                          r["seeking_job"], self.cause)
            for r in state
        ], utcnow()))


class PlacementTracker(Tracker):
    """A new placement sets its person's status (SPEC 7) and writes the event."""

    def before(self, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Per person, the latest new placement that can change a status."""
        ids = [r["placement_id"] for r in rows]
        known: set[str] = set()
        for i in range(0, len(ids), 5000):
            known.update(self.conn.execute(
                select(Placement.placement_id)
                .where(Placement.placement_id.in_(ids[i:i + 5000]))).scalars())
        latest: dict[str, dict[str, Any]] = {}
        for r in rows:
            if (r["placement_id"] in known or r["form"] not in FORM_STATUS
                    or r["placed_on"] > self.today):
                continue
            best = latest.get(r["person_id"])
            if best is None or (r["placed_at"], r["placement_id"]) > (
                    best["placed_at"], best["placement_id"]):
                latest[r["person_id"]] = r
        return latest

    def after(self, state: dict[str, dict[str, Any]]) -> None:
        """Update the persons whose status the placement changes; one event each."""
        if not state:
            return
        stored = _locked_persons(self.conn, sorted(state))
        updates, events = [], []
        for pid, r in sorted(state.items()):
            s = stored.get(pid)
            if s is None or (s.status_on is not None and r["placed_on"] < s.status_on):
                continue  # the person's status was set later than this placement
            status = FORM_STATUS[r["form"]]
            if (s.status, bool(s.seeking_job)) == (status, False):
                continue
            placed = s.status_source == PLACEMENT_SOURCE
            updates.append({
                "pid": pid, "status": status, "seeking_job": False,
                "unemployed_since": None, "status_on": r["placed_on"],
                "status_source": PLACEMENT_SOURCE,
                "record_status": s.record_status if placed else s.status,
                "record_seeking": s.record_seeking if placed else bool(s.seeking_job),
            })
            events.append(_person_event(pid, s.community_code, status, False,
                                        f"placement:{r['placement_id']}"))
        if updates:
            # Bind names must differ from the column names in SET (SQLAlchemy reserves those).
            cols = [k for k in updates[0] if k != "pid"]
            self.conn.execute(
                update(Person.__table__).where(Person.person_id == bindparam("pid"))
                .values({k: bindparam(f"new_{k}") for k in cols}),
                [{"pid": u["pid"], **{f"new_{k}": u[k] for k in cols}} for u in updates],
            )
            _insert_events(self.conn, _events(PERSON_TOPIC, events, utcnow()))


VACANCY_COLUMNS = tuple(c.name for c in Vacancy.__table__.columns)


def _same(a: Any, b: Any) -> bool:
    """Equal stored values; floats within the precision a database may round them to."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a))
    return a == b


def vacancy_record(row: dict[str, Any]) -> dict[str, Any]:
    """A vacancy row in the exchange format (SPEC section 2)."""
    return {c: _iso(row.get(c)) for c in VACANCY_COLUMNS}


class VacancyTracker(Tracker):
    """Feed entries (and, when pushing, `vacancy` events) for new and changed vacancies."""

    def _lock_counter(self) -> int:
        """Lock the feed's counter row until commit; returns its value.

        A no-op UPDATE rather than SELECT … FOR UPDATE: it is a write on every database, so
        SQLite takes its write lock here too (waiting its busy timeout) instead of failing
        to upgrade a read snapshot later.
        """
        where = FeedCounter.name == VACANCY_FEED
        res = self.conn.execute(update(FeedCounter).where(where)
                                .values(value=FeedCounter.value + 0))
        if res.rowcount == 0:  # a database migrated by hand: create the row
            self.conn.execute(insert(FeedCounter).values(name=VACANCY_FEED, value=0))
        # A locking read: MySQL's plain SELECT would answer from an older snapshot.
        return int(self.conn.execute(select(FeedCounter.value).where(where)
                                     .with_for_update()).scalar_one())

    def before(self, rows: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        """(counter value, rows that are new or differ from the stored vacancy)."""
        start = self._lock_counter()
        ids = [r["vacancy_id"] for r in rows]
        t = Vacancy.__table__
        cols = [t.c[c] for c in VACANCY_COLUMNS]
        stored: dict[str, tuple] = {}
        for i in range(0, len(ids), 5000):
            q = (select(*cols).where(t.c.vacancy_id.in_(ids[i:i + 5000]))
                 .order_by(t.c.vacancy_id).with_for_update())
            stored.update((row[0], tuple(row)) for row in self.conn.execute(q))
        changed = []
        for r in rows:
            old = stored.get(r["vacancy_id"])
            new = tuple(r.get(c) for c in VACANCY_COLUMNS)
            # Exact equality first (the common, cheap case); then within float rounding.
            if old is None or (old != new and not all(map(_same, old, new))):
                changed.append(r)
        return start, changed

    def after(self, state: tuple[int, list[dict[str, Any]]]) -> None:
        """Number the changes from the locked counter; events when a receiver is set."""
        start, changed = state
        if not changed:
            return
        now = utcnow()
        self.conn.execute(
            update(FeedCounter).where(FeedCounter.name == VACANCY_FEED)
            .values(value=start + len(changed))
        )
        records = [vacancy_record(r) for r in changed]
        _bulk_insert(self.conn, VacancyChange, _CHANGE_COLS, [
            {"seq": start + 1 + i, "vacancy_id": rec["vacancy_id"],
             "community_code": rec["community_code"],
             "record": json.dumps(rec, ensure_ascii=False, separators=(",", ":")),
             "changed_at": now}
            for i, rec in enumerate(records)
        ])
        if push_enabled():
            _insert_events(self.conn, _events(VACANCY_TOPIC, [
                (f"vacancy:{rec['vacancy_id']}", {
                    "vacancy_id": rec["vacancy_id"],
                    "community_code": rec["community_code"], "vacancy": rec,
                    "cause": f"vacancy {rec['vacancy_id']} ({self.cause})",
                })
                for rec in records
            ], now))


TRACKERS: dict[str, type[Tracker]] = {
    "persons": PersonTracker, "vacancies": VacancyTracker, "placements": PlacementTracker,
}


def tracker_for(kind: str, conn: Connection, cause: str,
                today: dt.date | None = None) -> Tracker | None:
    """The tracker of a KIND whose changes go out (None for the others)."""
    cls = TRACKERS.get(kind)
    return cls(conn, cause, today) if cls else None


# ================================================================ the vacancy feed
class CursorError(ValueError):
    """A `since` cursor this server did not hand out."""


def encode_cursor(seq: int) -> str:
    """The opaque cursor after change number `seq`."""
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> int:
    """The change number behind a cursor (0 for none); CursorError when malformed."""
    if cursor is None or cursor == "":
        return 0
    if not _CURSOR_RE.match(cursor):
        raise CursorError("游标无效 (invalid cursor): use the `next` value of a previous page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as err:
        raise CursorError("游标无效 (invalid cursor): use the `next` value of a previous "
                          "page") from err
    prefix, _, num = raw.partition(":")
    if prefix != "v1" or not num.isdigit() or len(num) > 18:
        raise CursorError("游标无效 (invalid cursor): use the `next` value of a previous page")
    return int(num)


def read_feed(
    engine: Engine, cursor: str | None, limit: int = FEED_LIMIT_DEFAULT,
    visible: Callable[[str], bool] | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Up to `limit` vacancy changes after the cursor, oldest first, and the next cursor.

    Changes outside `visible` (a token's subtree) are passed over; the cursor moves past
    them, so a narrow token never rereads them.
    """
    after = decode_cursor(cursor)
    out: list[dict[str, Any]] = []
    last = after
    scan = max(limit, 500)
    with engine.connect() as conn:
        while len(out) < limit:
            rows = conn.execute(
                select(VacancyChange.seq, VacancyChange.community_code, VacancyChange.record)
                .where(VacancyChange.seq > last).order_by(VacancyChange.seq).limit(scan)
            ).all()
            for seq, code, record in rows:
                if visible is None or visible(code):
                    out.append(json.loads(record))
                last = seq
                if len(out) >= limit:
                    break
            if len(rows) < scan:
                break
    return out, encode_cursor(last)


# ================================================================ delivery
@dataclass
class PushOutcome:
    """What one push_once did."""

    status: str  # ok / busy / off
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    requests: int = 0


def sign(body: bytes, secret: str) -> str:
    """The X-Signature header value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before the next attempt after `attempts` failures: base × 2^(n−1), capped."""
    return min(cap, base * (2 ** max(0, min(attempts - 1, 40))))


def due_events(conn: Connection, now: dt.datetime, limit: int) -> list[Any]:
    """Pending events due now, oldest first, none after an earlier one of its subject that
    still waits for its retry."""
    e, b = OutboxEvent, aliased(OutboxEvent)
    waiting = (select(b.id).where(b.subject == e.subject, b.state == PENDING, b.id < e.id,
                                  b.next_attempt_at > now).exists())
    q = (select(e.id, e.event_id, e.payload, e.attempts)
         .where(e.state == PENDING,
                or_(e.next_attempt_at.is_(None), e.next_attempt_at <= now), ~waiting)
         .order_by(e.id).limit(limit))
    return conn.execute(q).all()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str]:
    """POST without following redirects; (status, first bytes of the answer)."""
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(300).decode("utf-8", "replace")
    finally:
        conn.close()


def _deliver(url: str, secret: str, timeout: float, events: list[Any]) -> str | None:
    """POST one batch; None when delivered (2xx), else why not."""
    items = []
    for ev in events:
        payload = json.loads(ev.payload)
        payload["seq"] = ev.id
        items.append(payload)
    body = json.dumps({"events": items}, ensure_ascii=False, separators=(",", ":")).encode()
    key = hashlib.sha256(",".join(ev.event_id for ev in events).encode()).hexdigest()
    headers = {"Content-Type": "application/json; charset=utf-8",
               "X-Signature": sign(body, secret), "Idempotency-Key": key,
               "User-Agent": "sangongli-dashboard-outbox/1"}
    try:
        status, text = _post(url, body, headers, timeout)
    except (OSError, http.client.HTTPException) as err:  # refused, reset, timed out
        return f"{type(err).__name__}: {err}"[:300]
    if 200 <= status < 300:
        return None
    return f"HTTP {status}: {' '.join(text.split())}"[:300]


def _mark_failed(conn: Connection, events: list[Any], error: str, now: dt.datetime,
                 max_attempts: int, base: float, cap: float) -> int:
    """Count an attempt on each event: back off, or park it dead; returns how many died."""
    by_attempts: dict[int, list[int]] = defaultdict(list)
    for ev in events:
        by_attempts[ev.attempts + 1].append(ev.id)
    died = 0
    # One statement per attempt count (a batch holds few): the same delay for the group.
    for n, ids in by_attempts.items():
        dead = n >= max_attempts
        died += len(ids) if dead else 0
        delay = backoff_seconds(n, base, cap) * random.uniform(1.0, 1.1)
        conn.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(ids), OutboxEvent.state == PENDING)
            .values(attempts=n, last_error=error, state=DEAD if dead else PENDING,
                    next_attempt_at=None if dead else now + dt.timedelta(seconds=delay))
        )
    return died


def push_once(engine: Engine, settings: Any, budget_seconds: float | None = None) -> PushOutcome:
    """Deliver due events until none is due or the time budget is spent (one pusher at a
    time across processes: the "pusher" lease)."""
    if not settings.province_url:
        return PushOutcome("off")
    budget = budget_seconds if budget_seconds is not None else max(30.0, settings.push_seconds)
    lease_s = max(30.0, 3 * settings.push_timeout)
    out = PushOutcome("ok")
    with lease(engine, PUSHER_LOCK, lease_seconds=lease_s) as holder:
        if holder is None:
            return PushOutcome("busy")
        end = time.monotonic() + budget
        while time.monotonic() < end:
            with engine.connect() as conn:
                events = due_events(conn, utcnow(), settings.push_batch)
            if not events:
                break
            error = _deliver(settings.province_url, settings.province_secret,
                             settings.push_timeout, events)
            out.requests += 1
            now = utcnow()
            with engine.begin() as conn:
                if error is None:
                    conn.execute(
                        update(OutboxEvent)
                        .where(OutboxEvent.id.in_([ev.id for ev in events]),
                               OutboxEvent.state == PENDING)
                        .values(state=DELIVERED, delivered_at=now, last_error=None,
                                attempts=OutboxEvent.attempts + 1, next_attempt_at=None)
                    )
                    out.delivered += len(events)
                else:
                    log.warning("outbox: batch of %d not delivered: %s", len(events), error)
                    out.failed += len(events)
                    out.dead += _mark_failed(conn, events, error, now,
                                             settings.province_max_attempts,
                                             settings.push_backoff, settings.push_backoff_max)
        global _last_prune
        if time.monotonic() - _last_prune > PRUNE_EVERY_SECONDS:
            # Hourly: the delete walks every delivered event.
            prune(engine)
            _last_prune = time.monotonic()
    return out


def prune(engine: Engine, keep_days: int = KEEP_DELIVERED_DAYS) -> int:
    """Delete delivered events older than keep_days; returns how many."""
    cut = utcnow() - dt.timedelta(days=keep_days)
    with engine.begin() as conn:
        res = conn.execute(
            OutboxEvent.__table__.delete().where(
                and_(OutboxEvent.state == DELIVERED, OutboxEvent.delivered_at < cut))
        )
    return res.rowcount or 0


# ================================================================ operators
def counts(engine: Engine, delivered: bool = True) -> dict[str, int]:
    """Events per state (pending, delivered, dead); without `delivered` only the other two
    are counted (an index range: /healthz stays cheap however many were delivered)."""
    states = [PENDING, DELIVERED, DEAD] if delivered else [PENDING, DEAD]
    with engine.connect() as conn:
        rows = conn.execute(
            select(OutboxEvent.state, func.count()).where(OutboxEvent.state.in_(states))
            .group_by(OutboxEvent.state)
        ).all()
    got = {s: int(n) for s, n in rows}
    return {s: got.get(s, 0) for s in states}


def health(engine: Engine, pushing: bool | None = None) -> dict[str, Any]:
    """The /healthz part: depth, dead events (first ids) and the oldest pending event."""
    c = counts(engine, delivered=False)
    with engine.connect() as conn:
        oldest = conn.execute(
            select(func.min(OutboxEvent.created_at)).where(OutboxEvent.state == PENDING)
        ).scalar()
        dead_ids = conn.execute(
            select(OutboxEvent.id).where(OutboxEvent.state == DEAD)
            .order_by(OutboxEvent.id).limit(10)
        ).scalars().all()
    return {
        "pushing": push_enabled() if pushing is None else pushing,
        "pending": c[PENDING], "dead": c[DEAD],
        "dead_ids": list(dead_ids),
        "oldest_pending_at": _stamp(oldest) if oldest else None,
    }


def list_events(engine: Engine, dead_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    """Undelivered events (or only dead ones), oldest first, without their payloads."""
    states = [DEAD] if dead_only else [PENDING, DEAD]
    with engine.connect() as conn:
        rows = conn.execute(
            select(OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.topic,
                   OutboxEvent.state, OutboxEvent.attempts, OutboxEvent.created_at,
                   OutboxEvent.next_attempt_at, OutboxEvent.last_error)
            .where(OutboxEvent.state.in_(states)).order_by(OutboxEvent.id).limit(limit)
        ).mappings().all()
    return [dict(r) for r in rows]


def retry(engine: Engine, ids: Iterable[str] = (), dead: bool = False) -> int:
    """Send events again: the given ones (id or event_id) or every dead one; returns how
    many were queued (attempts start again from zero)."""
    conds = []
    keys = [str(i) for i in ids]
    if keys:
        nums = [int(k) for k in keys if k.isdigit()]
        conds.append(or_(OutboxEvent.event_id.in_(keys), OutboxEvent.id.in_(nums)))
    if dead:
        conds.append(OutboxEvent.state == DEAD)
    if not conds:
        return 0
    with engine.begin() as conn:
        res = conn.execute(
            update(OutboxEvent)
            .where(or_(*conds), OutboxEvent.state.in_([DEAD, PENDING]))
            .values(state=PENDING, attempts=0, next_attempt_at=None)
        )
    return res.rowcount or 0
