"""The refresh lock under killed holders, and failures kept in memory while the DB is away.

Real subprocesses run a refresh and are killed mid-write with SIGKILL or SIGTERM, on SQLite
and PostgreSQL: the next refresh must not wait for a lease to run out.
"""

from __future__ import annotations

import datetime as dt
import os
import select as select_mod
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from queries.db import make_engine
from queries.models import Lock, RefreshRun
from queries.refresh import (
    PID_SPACE,
    acquire,
    holder_is_dead,
    lease,
    lock_holder,
    new_holder,
    pending_failure,
    refresh,
    release,
)
from queries.snapshots import health, latest_batch
from tests.test_metrics_handmade import AS_OF, TZ, load

ROOT = Path(__file__).resolve().parents[1]

# A refresh that announces its write phase and then hangs there until it is killed.
CHILD = """
import datetime as dt, sys, time
from queries.db import make_engine
from queries.refresh import refresh

def hang(written):
    print("WRITING", flush=True)
    time.sleep(120)

eng = make_engine(sys.argv[1])
out = refresh(eng, as_of=dt.datetime(2025, 4, 15, 7), tz="Asia/Shanghai", lock_wait=10,
              _fail_after=hang, _chunk_rows=2)
print("FINISHED", out.status, flush=True)
"""


def lock_row(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Lock).where(Lock.name == "refresh")).first()


def all_runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(RefreshRun).order_by(RefreshRun.id)).all()


def start_hanging_refresh(db_url: str) -> subprocess.Popen:
    """A child refresh process, returned once it is writing its batch (holding the lock)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, db_url], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select_mod.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.strip() == "WRITING":
                return proc
            if not line:
                break
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"child refresh never reached its write: {proc.stderr.read()}")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_refresh_does_not_keep_the_lock(engine: Engine, db_url: str,
                                               sig: signal.Signals) -> None:
    """SIGKILL: the dead pid frees the lock at once; SIGTERM: the holder releases it."""
    load(engine)
    first = refresh(engine, as_of=AS_OF, tz=TZ)
    assert first.status == "ok"
    child = start_hanging_refresh(db_url)
    try:
        holder = lock_row(engine).holder
        assert holder and holder.split(":")[2] == str(child.pid)
        assert lock_holder(engine) == holder
        code, body = health(engine, 300, TZ)
        assert code == 200 and body.get("refreshing") is True
        child.send_signal(sig)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = child.stderr.read()
    if sig == signal.SIGTERM:
        # The child unwound: run marked interrupted, lock given back, exit status 143.
        assert child.returncode == 143, stderr
        assert lock_row(engine).holder is None
        interrupted = all_runs(engine)[-1]
        assert interrupted.status == "failed" and "SIGTERM" in interrupted.error
    else:
        assert child.returncode == -signal.SIGKILL
        assert lock_row(engine).holder == holder  # left behind, lease still running ...
        assert holder_is_dead(holder)  # ... but its process is gone
    # Either way nobody is refreshing, and the next refresh starts at once.
    code, body = health(engine, 300, TZ)
    assert "refreshing" not in body
    t0 = time.monotonic()
    out = refresh(engine, as_of=AS_OF, tz=TZ, lock_wait=0)
    assert out.status == "ok", out.error
    assert time.monotonic() - t0 < 30
    assert latest_batch(engine).id == out.batch_id
    assert lock_row(engine).holder is None
    runs = all_runs(engine)
    assert [r.status for r in runs] == ["ok", "failed", "ok"]
    assert "interrupted" in runs[1].error


def test_scheduler_tick_after_a_killed_refresh(engine: Engine, db_url: str) -> None:
    """The scheduler's job (5 s lock wait) publishes right after a holder was SIGKILLed."""
    from scheduler import refresh_job

    load(engine)
    child = start_hanging_refresh(db_url)
    child.kill()
    child.wait()
    out = refresh_job(engine, TZ)
    assert out.status == "ok", out.error


def test_holder_on_another_host_is_freed_by_its_short_lease(engine: Engine) -> None:
    """A holder we cannot check (another host) keeps the lock only while it renews."""
    other = f"otherhost:{'0' * 10}:4242:1:deadbeef"
    assert not holder_is_dead(other)
    assert acquire(engine, other, lease_seconds=1.0)
    assert refresh(engine, as_of=AS_OF, tz=TZ, lock_wait=0).status == "busy"
    assert lock_holder(engine) == other
    load(engine)
    t0 = time.monotonic()
    out = refresh(engine, as_of=AS_OF, tz=TZ, lock_wait=10)
    assert out.status == "ok" and time.monotonic() - t0 < 10


def test_heartbeat_keeps_a_short_lease_alive(engine: Engine) -> None:
    """Inside `lease` the holder renews; a lease nobody renews runs out."""
    with lease(engine, lease_seconds=0.6) as holder:
        assert holder is not None
        time.sleep(1.5)  # more than twice the lease: only renewal keeps it
        assert not acquire(engine, "someone-else", lease_seconds=0.6)
        assert lock_holder(engine) == holder
    assert lock_holder(engine) is None
    assert acquire(engine, "quiet", lease_seconds=0.6)  # takes it, never renews
    time.sleep(1.0)
    assert lock_holder(engine) is None
    assert acquire(engine, "next")
    release(engine, "next")


def test_holder_is_dead() -> None:
    """Dead means: our pid space, and the pid no longer runs (reaped or zombie)."""
    me = new_holder()
    assert me.split(":")[1] == PID_SPACE and not holder_is_dead(me)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    gone = f"{socket.gethostname()[:40]}:{PID_SPACE}:{proc.pid}:1:abcdef12"
    assert holder_is_dead(gone)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # exited but not reaped yet
        stat = Path(f"/proc/{zombie.pid}/stat")
        if stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z":
            break
        time.sleep(0.05)
    assert holder_is_dead(f"h:{PID_SPACE}:{zombie.pid}:1:abcdef12")
    zombie.wait()
    for other in (None, "", "a", "deadhost:4242", f"h:{'f' * 10}:{proc.pid}:1:x",
                  f"h:{PID_SPACE}:notapid:1:x", f"h:{PID_SPACE}:{os.getpid()}:1:x"):
        assert not holder_is_dead(other), other


# ---------------------------------------------------------------- database away
def test_unrecorded_failure_shows_in_healthz() -> None:
    """A refresh that cannot reach its database keeps its failure for /healthz."""
    from dashboard.app import create_app

    url = "postgresql+psycopg://postgres@127.0.0.1:1/away?connect_timeout=2"
    eng = make_engine(url)
    out = refresh(eng, as_of=AS_OF, tz=TZ, lock_wait=0)
    assert out.status == "failed"
    pending = pending_failure(eng)
    assert pending is not None and pending.error == out.error
    client = create_app({"database_url": url}).server.test_client()
    resp = client.get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unavailable"
    assert body["last_error"]["error"] == out.error[:500]
    assert body["last_error"]["at"].endswith("+08:00")
    # Kept per database: another database's health knows nothing of it.
    assert pending_failure(make_engine("sqlite://")) is None


class CuttableProxy:
    """A TCP forwarder to PostgreSQL that can be cut (every connection dropped) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.socks: list[socket.socket] = []
        self.guard = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.guard:
                self.socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Refuse new connections and drop the open ones (the database went away)."""
        self.up = False
        with self.guard:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self) -> None:
        """Accept connections again."""
        self.up = True

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


@pytest.fixture
def proxied_pg(pg_url: str) -> Iterator[tuple[str, CuttableProxy]]:
    """The test's PostgreSQL schema reached through a cuttable proxy."""
    from sqlalchemy.engine import make_url

    real = make_url(pg_url)
    proxy = CuttableProxy((real.host or "127.0.0.1", real.port or 5432))
    url = real.set(host="127.0.0.1", port=proxy.port).update_query_dict(
        {"connect_timeout": "3"})
    yield url.render_as_string(hide_password=False), proxy
    proxy.close()


def test_failure_while_the_database_is_away_is_kept_then_written(
    proxied_pg: tuple[str, CuttableProxy],
) -> None:
    """The database drops mid-refresh: /healthz shows the failure, later it is recorded."""
    from dashboard.app import create_app
    from queries.db import init_db

    url, proxy = proxied_pg
    eng = make_engine(url)
    init_db(eng)
    load(eng)
    first = refresh(eng, as_of=AS_OF, tz=TZ)
    assert first.status == "ok"

    def db_goes_away(_written: int) -> None:
        proxy.cut()  # mid-write: the next chunk, the rollback and the recording all fail

    out = refresh(eng, as_of=AS_OF, tz=TZ, _fail_after=db_goes_away, _chunk_rows=2)
    assert out.status == "failed" and "OperationalError" in out.error
    pending = pending_failure(eng)
    assert pending is not None and pending.error == out.error

    client = create_app({"database_url": url}).server.test_client()
    down = client.get("/healthz")
    assert down.status_code == 503
    assert down.get_json()["last_error"]["error"] == out.error[:500]

    proxy.restore()
    back = client.get("/healthz")
    body = back.get_json()
    assert back.status_code == 200 and body["status"] == "degraded"
    assert body["last_error"]["error"] == out.error[:500]
    # The still-`running` run of the cut refresh is not a refresh in progress.
    assert "refreshing" not in body
    assert latest_batch(eng).id == first.batch_id

    # The next refresh writes the remembered failure first, then publishes.
    again = refresh(eng, as_of=AS_OF, tz=TZ, lock_wait=0)
    assert again.status == "ok", again.error
    assert pending_failure(eng) is None
    runs = all_runs(eng)
    assert any(r.status == "failed" and r.error == out.error for r in runs)
    assert client.get("/healthz").get_json()["last_error"] is None
    eng.dispose()


def test_remembered_failure_superseded_by_a_later_success(engine: Engine) -> None:
    """A failure older than a batch published elsewhere is not written as news."""
    from queries import refresh as refresh_mod

    load(engine)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    old = refresh_mod.PendingFailure(now - dt.timedelta(minutes=5), now - dt.timedelta(
        minutes=6), now, "OperationalError: gone", "h")
    refresh_mod._remember_failure(engine, old)
    code, body = health(engine, 300, TZ)
    assert code == 503 and body["last_error"]["error"] == "OperationalError: gone"
    with engine.begin() as conn:  # another host published meanwhile
        conn.execute(RefreshRun.__table__.insert().values(
            as_of=now, started_at=now, finished_at=now - dt.timedelta(minutes=1), status="ok",
            rows=0))
    assert health(engine, 300, TZ)[1]["last_error"] is None
    out = refresh(engine, as_of=AS_OF, tz=TZ)
    assert out.status == "ok" and pending_failure(engine) is None
    assert [r.status for r in all_runs(engine)] == ["ok", "ok"]
