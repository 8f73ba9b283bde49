"""The pusher against a real receiver process (SPEC 7): failures, hangs, kills, bad secret.

The receiver (tests/outbox_receiver.py) and the pusher (`python -m scheduler.pusher`) are
separate processes on 127.0.0.1; the expected events are what the test itself wrote
(persons whose status it changed), never read back through the code under test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from queries import outbox
from queries.exchange.pipeline import import_records
from queries.models import OutboxEvent
from queries.settings import Settings
from tests.httpserver import free_port
from tests.test_import import dataset

ROOT = Path(__file__).resolve().parents[1]
RECEIVER = Path(__file__).with_name("outbox_receiver.py")
COMMUNITY = "340102001001"
STATUSES = ("employed", "flexible", "unemployed", "inactive")
SECRET = "province-shared-secret"


def persons(n: int, round_no: int) -> list[dict[str, Any]]:
    """n persons; every round gives each a different status (and flips seeking_job)."""
    return [{"person_id": f"q{i:05d}", "community_code": COMMUNITY,
             "status": STATUSES[(i + round_no) % 4],
             "seeking_job": "true" if (i + round_no) % 2 == 0 else "false"}
            for i in range(n)]


def load_regions(engine: Engine) -> None:
    """The small region tree of the import tests."""
    n, rejected = import_records(engine, "regions", dataset()["regions"])
    assert not rejected and n == 6


class Receiver:
    """tests/outbox_receiver.py in a subprocess; can be killed and started again."""

    def __init__(self, tmp: Path, secret: str = SECRET, **opts: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/events"
        self.log = tmp / "received.jsonl"
        self.ctl = tmp / "ctl"
        self.ctl.mkdir(exist_ok=True)
        self.args = [sys.executable, str(RECEIVER), str(self.port), secret, str(self.log),
                     "--ctl", str(self.ctl)]
        for k, v in opts.items():
            self.args += [f"--{k.replace('_', '-')}", str(v)]
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """Start (again, on the same port)."""
        for _ in range(50):
            self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line.strip() == "ready":
                return
            self.proc.wait()  # port still held by the killed one: try again
            time.sleep(0.1)
        raise RuntimeError("receiver did not start")

    def kill(self) -> None:
        """SIGKILL, as a crashed receiver."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def received(self) -> list[dict[str, Any]]:
        """Every recorded event line, in arrival order."""
        if not self.log.exists():
            return []
        return [json.loads(x) for x in self.log.read_text(encoding="utf-8").splitlines() if x]


class Pusher:
    """`python -m scheduler.pusher` in a subprocess."""

    def __init__(self, db_url: str, receiver_url: str, secret: str = SECRET) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "DASHBOARD_DATABASE_URL": db_url,
                    "DASHBOARD_PROVINCE_URL": receiver_url, "DASHBOARD_PROVINCE_SECRET": secret,
                    "DASHBOARD_PROVINCE_MAX_ATTEMPTS": "1000", "DASHBOARD_PUSH_SECONDS": "0.1",
                    "DASHBOARD_PUSH_BATCH": "500", "DASHBOARD_PUSH_TIMEOUT": "1",
                    "DASHBOARD_PUSH_BACKOFF": "0.02", "DASHBOARD_PUSH_BACKOFF_MAX": "0.2"}
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """Start a pusher process."""
        self.proc = subprocess.Popen([sys.executable, "-m", "scheduler.pusher"], cwd=ROOT,
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def wait_drained(engine: Engine, timeout: float) -> dict[str, int]:
    """Poll until no event is pending (or the timeout); returns the final counts."""
    end = time.monotonic() + timeout
    while True:
        c = outbox.counts(engine)
        if c["pending"] == 0 or time.monotonic() > end:
            return c
        time.sleep(0.2)


def check_order(lines: list[dict[str, Any]]) -> None:
    """Per subject, an event first arrives only after every earlier one of it arrived."""
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for x in lines:
        if x["event_id"] not in seen:
            seen.add(x["event_id"])
            first_seen[x["subject"]].append(x["seq"])
    for subject, seqs in first_seen.items():
        assert seqs == sorted(seqs), (subject, seqs)


def test_ten_thousand_changes_survive_failures_and_kills(engine: Engine, db_url: str,
                                                         tmp_path: Path) -> None:
    """10,000 status changes, a receiver failing 30 % of requests (and hanging on some),
    killed and restarted twice, a pusher SIGKILLed twice (once mid-batch): the receiver has
    every event, none missing, each person's events in order."""
    load_regions(engine)
    receiver = Receiver(tmp_path, fail=0.3, hang=0.02, hang_seconds=1.5, seed=7)
    pusher = Pusher(db_url, receiver.url)
    made = 0
    try:
        for r in range(10):
            if r == 4:
                # Armed before this round's import, so its 1,000 new events are sure to
                # make a batch even when the pusher had drained everything before (seen in
                # CI: armed after the import, nothing was pending and nothing arrived).
                (receiver.ctl / "hang_next").write_text("1")
            n, rejected = import_records(engine, "persons", persons(1000, r))
            assert not rejected and n == 1000
            made += 1000
            time.sleep(0.15)
            if r in (2, 6):  # the receiver crashes and comes back
                receiver.kill()
                time.sleep(0.6)
                receiver.start()
            if r == 4:  # the pusher dies while a batch is in flight
                end = time.monotonic() + 20
                while not (receiver.ctl / "hung").exists() and time.monotonic() < end:
                    time.sleep(0.01)
                assert (receiver.ctl / "hung").exists(), "no batch reached the receiver"
                pusher.kill()
                pusher.start()
            if r == 8:  # and once more at an arbitrary moment
                pusher.kill()
                pusher.start()
        counts = wait_drained(engine, timeout=120)
    finally:
        pusher.kill()
        receiver.kill()
    assert counts == {"pending": 0, "delivered": made, "dead": 0}, counts
    with engine.connect() as conn:
        stored = set(conn.execute(select(OutboxEvent.event_id)).scalars())
    lines = receiver.received()
    got = {x["event_id"] for x in lines}
    assert len(stored) == made == 10_000
    assert stored - got == set(), f"{len(stored - got)} events never arrived"
    assert got <= stored
    check_order(lines)
    # The last event of each person carries the status the test set last (round 9).
    last: dict[str, tuple[int, str]] = {}
    for x in lines:
        if x["subject"] not in last or x["seq"] > last[x["subject"]][0]:
            last[x["subject"]] = (x["seq"], x["status"])
    want = {f"person_status:{p['person_id']}": p["status"] for p in persons(1000, 9)}
    assert {k: v[1] for k, v in last.items()} == want
    # The mid-batch kill made the receiver see that batch again: at least once, not once.
    assert len(lines) > len(got)


def _settings(url: str, **kw: Any) -> Settings:
    base = Settings(database_url="", province_url=url, province_secret=SECRET,
                    province_max_attempts=3, push_seconds=0.1, push_batch=50,
                    push_timeout=0.5, push_backoff=0.01, push_backoff_max=0.02)
    return replace(base, **kw)


def _push_until_settled(engine: Engine, settings: Settings, rounds: int = 40) -> None:
    for _ in range(rounds):
        outbox.push_once(engine, settings, budget_seconds=2)
        if outbox.counts(engine)["pending"] == 0:
            return
        time.sleep(0.03)


def test_wrong_secret_is_failure_then_dead_then_retry(engine: Engine, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """A receiver that rejects the signature (401) never counts as delivery: the events
    are retried, parked dead after MAX_ATTEMPTS, shown by /healthz and `outbox list`, and
    `outbox retry --dead` sends them again (delivered once the secrets agree)."""
    from dashboard.app import create_app
    from dashboard.cli import main as cli

    load_regions(engine)
    import_records(engine, "persons", persons(30, 0))
    receiver = Receiver(tmp_path, secret="a-different-secret")
    try:
        _push_until_settled(engine, _settings(receiver.url))
        assert receiver.received() == []
        assert outbox.counts(engine) == {"pending": 0, "delivered": 0, "dead": 30}
        with engine.connect() as conn:
            errors = set(conn.execute(select(OutboxEvent.last_error)).scalars())
            attempts = set(conn.execute(select(OutboxEvent.attempts)).scalars())
        assert attempts == {3} and all(e.startswith("HTTP 401") for e in errors), errors

        url = engine.url.render_as_string(hide_password=False)
        app = create_app({"database_url": url})
        body = app.server.test_client().get("/healthz").get_json()
        assert body["outbox"]["dead"] == 30 and body["outbox"]["pending"] == 0
        assert len(body["outbox"]["dead_ids"]) == 10

        os.environ["DASHBOARD_DATABASE_URL"] = url
        try:
            assert cli(["outbox", "list", "--dead"]) == 0
            out = capsys.readouterr().out
            assert "dead 30" in out and out.count("\tdead\t") == 30
            assert cli(["outbox", "retry", "--dead"]) == 0
            assert "queued 30" in capsys.readouterr().out
        finally:
            del os.environ["DASHBOARD_DATABASE_URL"]
        assert outbox.counts(engine) == {"pending": 30, "delivered": 0, "dead": 0}
    finally:
        receiver.kill()
    # The receiver's secret fixed: the same events arrive, each once.
    (tmp_path / "fixed").mkdir()
    fixed = Receiver(tmp_path / "fixed", secret=SECRET)
    try:
        _push_until_settled(engine, _settings(fixed.url))
        assert outbox.counts(engine) == {"pending": 0, "delivered": 30, "dead": 0}
        assert len({x["event_id"] for x in fixed.received()}) == 30
    finally:
        fixed.kill()


def test_hanging_receiver_is_a_timeout_and_a_later_event_waits(
        sqlite_url: str, tmp_path: Path) -> None:
    """A receiver that never answers in time is a failure (the events stay pending with a
    timeout error); while a person's event waits for its retry, a later one of the same
    person is not sent, another person's is."""
    from queries.db import init_db, make_engine

    engine = make_engine(sqlite_url)
    init_db(engine)
    load_regions(engine)
    import_records(engine, "persons", persons(2, 0))
    receiver = Receiver(tmp_path, hang=1.0, hang_seconds=5)
    try:
        out = outbox.push_once(engine, _settings(receiver.url, push_backoff=30,
                                                 push_backoff_max=60), budget_seconds=2)
    finally:
        receiver.kill()
    assert out.requests == 1 and out.delivered == 0 and out.failed == 2
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxEvent.last_error, OutboxEvent.state)).all()
    assert all(s == "pending" and "timed out" in e for e, s in rows), rows
    # q00000 changes again (waits behind its first event); q00001 is new-born elsewhere.
    import_records(engine, "persons", [persons(2, 1)[0]])
    import_records(engine, "persons", [{"person_id": "q00009", "community_code": COMMUNITY,
                                        "status": "employed", "seeking_job": "false"}])
    with engine.connect() as conn:
        due = outbox.due_events(conn, outbox.utcnow(), 100)
    subjects = [json.loads(d.payload)["person_id"] for d in due]
    assert subjects == ["q00009"]
    engine.dispose()


def test_one_pusher_at_a_time(sqlite_url: str) -> None:
    """While another process holds the pusher lease, push_once sends nothing (busy)."""
    from queries.db import init_db, make_engine
    from queries.refresh import lease

    engine = make_engine(sqlite_url)
    init_db(engine)
    with lease(engine, outbox.PUSHER_LOCK) as holder:
        assert holder is not None
        out = outbox.push_once(engine, _settings("http://127.0.0.1:9/none"))
    assert out.status == "busy" and out.requests == 0
    assert outbox.push_once(engine, _settings("")).status == "off"
    engine.dispose()


def test_scheduler_registers_the_pusher_only_with_a_url(sqlite_url: str) -> None:
    """The scheduler gets the `push` job while DASHBOARD_PROVINCE_URL is set, never without."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from queries.db import make_engine
    from scheduler.jobs import register_jobs

    engine = make_engine(sqlite_url)
    # "refresh-full" is the nightly full rebuild, registered either way.
    for url, want in (("", {"refresh", "refresh-full"}),
                      ("http://127.0.0.1:9/e", {"refresh", "refresh-full", "push"})):
        sched = BackgroundScheduler()
        register_jobs(sched, replace(Settings(database_url=sqlite_url), province_url=url),
                      engine=engine)
        assert {j.id for j in sched.get_jobs()} == want
    engine.dispose()
