"""Refresh under faults: failures keep the old batch whole, one refresh at a time, pruning."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queries.aggregate import compute_snapshot
from queries.models import Lock, Placement, RefreshRun, SnapshotRegion
from queries.refresh import acquire, prune, refresh, release
from queries.snapshots import health, latest_batch, region_with_children
from tests.test_metrics_handmade import AS_OF, TZ, C, load

ROOT = Path(__file__).resolve().parents[1]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def rows_of(engine, batch_id: int) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(SnapshotRegion)
            .where(SnapshotRegion.batch_id == batch_id)
        ).scalar_one()


def runs(engine) -> list:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(RefreshRun).order_by(RefreshRun.id)).all()


def add_placement_today(engine, pid: str) -> None:  # noqa: ANN001
    with Session(engine) as s:
        s.add(Placement(placement_id=pid, person_id="P1", vacancy_id=None,
                        community_code="340102001001", placed_at=dt.datetime(2025, 4, 15, 5),
                        placed_on=dt.date(2025, 4, 15), form="employer"))
        s.commit()


def test_batch_round_trips_through_the_reader(engine) -> None:  # noqa: ANN001
    load(engine)
    out = refresh(engine, as_of=AS_OF, tz=TZ)
    assert out.status == "ok" and out.rows == 9 and out.error is None
    batch = latest_batch(engine)
    assert batch.id == out.batch_id
    assert batch.as_of == dt.datetime(2025, 4, 14, 23, 0)  # naive UTC
    region, children = region_with_children(engine, batch.id, C)
    # What the reader decodes is exactly what the aggregation computed.
    expected = json.loads(json.dumps(compute_snapshot(engine, AS_OF, TZ), ensure_ascii=False))
    assert region == expected[C]
    assert [c["code"] for c in children] == ["340102000000", "340103000000"]
    assert children[0] == expected["340102000000"]


def test_naive_as_of_is_local_time(engine) -> None:  # noqa: ANN001
    load(engine)
    out = refresh(engine, as_of=dt.datetime(2025, 4, 15, 7, 0), tz=TZ)
    assert out.status == "ok"
    assert latest_batch(engine).as_of == dt.datetime(2025, 4, 14, 23, 0)


def test_failure_mid_write_keeps_previous_batch(engine) -> None:  # noqa: ANN001
    load(engine)
    first = refresh(engine, as_of=AS_OF, tz=TZ)
    before, _ = region_with_children(engine, first.batch_id, C)
    assert before["metrics"]["placements.today"] == 1
    add_placement_today(engine, "LNEW")  # the failed batch would have said 2

    seen: list[tuple[int, int, int]] = []

    def boom(written: int) -> None:
        # While rows are being written, another connection still sees the old batch only.
        b = latest_batch(engine)
        with engine.connect() as conn:
            pending = conn.execute(select(func.count()).select_from(SnapshotRegion)
                                   .where(SnapshotRegion.batch_id != first.batch_id)
                                   ).scalar_one()
        seen.append((written, b.id, pending))
        if written >= 4:
            raise RuntimeError("disk full (simulated)")

    out = refresh(engine, as_of=AS_OF, tz=TZ, _fail_after=boom, _chunk_rows=2)
    assert out.status == "failed" and "disk full" in out.error
    assert out.batch_id is not None and out.batch_id != first.batch_id
    assert seen == [(2, first.batch_id, 0), (4, first.batch_id, 0)]
    assert latest_batch(engine).id == first.batch_id
    after, _ = region_with_children(engine, first.batch_id, C)
    assert after == before  # old batch intact
    assert rows_of(engine, out.batch_id) == 0  # no partial rows left
    failed_run = runs(engine)[-1]
    assert failed_run.status == "failed" and failed_run.finished_at is not None
    code, body = health(engine, 300, TZ, now=out.finished_at)
    assert code == 200 and body["status"] == "degraded"
    assert "disk full" in body["last_error"]["error"]

    # The next good refresh supersedes the failure and sees the new placement.
    ok = refresh(engine, as_of=AS_OF, tz=TZ)
    assert ok.status == "ok"
    region, _ = region_with_children(engine, ok.batch_id, C)
    assert region["metrics"]["placements.today"] == 2
    code, body = health(engine, 300, TZ, now=ok.finished_at)
    assert body["last_error"] is None and body["status"] == "ok"


def test_failure_in_compute_is_recorded(engine, monkeypatch) -> None:  # noqa: ANN001
    load(engine)
    first = refresh(engine, as_of=AS_OF, tz=TZ)

    def broken(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise ValueError("bad data")

    monkeypatch.setattr("queries.refresh.compute_batch", broken)
    out = refresh(engine, as_of=AS_OF, tz=TZ, full=True)
    assert out.status == "failed" and out.error == "ValueError: bad data"
    assert latest_batch(engine).id == first.batch_id
    # The lock was released: the next refresh does not wait.
    monkeypatch.undo()
    t0 = time.monotonic()
    assert refresh(engine, as_of=AS_OF, tz=TZ, lock_wait=0).status == "ok"
    assert time.monotonic() - t0 < 10


def test_killed_process_leaves_old_batch_and_is_cleaned_up(engine) -> None:  # noqa: ANN001
    load(engine)
    first = refresh(engine, as_of=AS_OF, tz=TZ)
    now = utcnow()
    # A process died mid-write: its run is `running`, it left rows, its lease is held.
    with Session(engine) as s:
        dead = RefreshRun(as_of=now, started_at=now - dt.timedelta(minutes=40),
                          status="running", holder="deadhost:4242")
        s.add(dead)
        s.flush()
        s.add_all([SnapshotRegion(batch_id=dead.id, region_code=code, parent_code=None,
                                  name="x", level="city", path="[]", metrics="{}",
                                  series="{}", targets="{}", lists="{}")
                   for code in ("340100000000", "340102000000")])
        s.merge(Lock(name="refresh", holder="deadhost:4242",
                     expires_at=now + dt.timedelta(seconds=3)))
        s.commit()
        dead_id = dead.id
    # Readers keep the previous batch; health shows a refresh in progress.
    assert latest_batch(engine).id == first.batch_id
    code, body = health(engine, 300, TZ, now=now)
    assert code == 200 and body.get("refreshing") is True
    # While the lease is live, a refresh that will not wait is turned away untouched.
    busy = refresh(engine, as_of=AS_OF, tz=TZ, lock_wait=0)
    assert busy.status == "busy" and busy.batch_id is None
    assert rows_of(engine, dead_id) == 2
    # Once the lease expires, the next refresh takes it, fails the stale run, publishes.
    out = refresh(engine, as_of=AS_OF, tz=TZ, lock_wait=30)
    assert out.status == "ok"
    by_id = {r.id: r for r in runs(engine)}
    assert by_id[dead_id].status == "failed" and "interrupted" in by_id[dead_id].error
    assert rows_of(engine, dead_id) == 0
    assert latest_batch(engine).id == out.batch_id > dead_id
    with engine.connect() as conn:
        lock = conn.execute(select(Lock).where(Lock.name == "refresh")).one()
    assert lock.holder is None  # released


def test_lease_primitives(engine) -> None:  # noqa: ANN001
    assert acquire(engine, "a")  # inserts the row
    assert not acquire(engine, "b")
    assert not acquire(engine, "b", wait_seconds=0.5)
    release(engine, "b")  # not the holder: no effect
    assert not acquire(engine, "b")
    release(engine, "a")
    assert acquire(engine, "b")
    release(engine, "b")
    assert acquire(engine, "c", lease_seconds=-1)  # already expired lease
    assert acquire(engine, "d")  # takes over the expired one


def _assert_sequential(intervals: list[tuple[dt.datetime, dt.datetime]]) -> None:
    intervals = sorted(intervals)
    for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
        assert end <= start, intervals


def test_two_threads_refresh_one_after_the_other(engine) -> None:  # noqa: ANN001
    load(engine)
    outcomes = []
    inside = []
    state = {"now": 0, "max": 0}
    guard = threading.Lock()

    def slow(_written: int) -> None:
        # Count how many refreshes are writing at the same moment.
        with guard:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.6)
        with guard:
            state["now"] -= 1
        inside.append(threading.get_ident())

    def run() -> None:
        outcomes.append(refresh(engine, as_of=AS_OF, tz=TZ, lock_wait=60, _fail_after=slow))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [o.status for o in outcomes] == ["ok", "ok"]
    assert state["max"] == 1
    assert len({o.batch_id for o in outcomes}) == 2
    _assert_sequential([(o.started_at, o.finished_at) for o in outcomes])
    _assert_sequential([(r.started_at, r.finished_at) for r in runs(engine)])


CHILD = """
import datetime as dt, json, sys, time
from queries.db import make_engine
from queries.refresh import refresh
eng = make_engine(sys.argv[1])
o = refresh(eng, as_of=dt.datetime(2025, 4, 15, 7), tz="Asia/Shanghai", lock_wait=120,
            _fail_after=lambda n: time.sleep(1.0))
print(json.dumps({"status": o.status, "id": o.batch_id, "start": o.started_at.isoformat(),
                  "end": o.finished_at.isoformat()}))
"""


@pytest.mark.slow
def test_two_processes_refresh_one_after_the_other(engine, db_url: str) -> None:  # noqa: ANN001
    load(engine)
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, db_url], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["status"] for r in results] == ["ok", "ok"]
    assert results[0]["id"] != results[1]["id"]
    _assert_sequential([(dt.datetime.fromisoformat(r["start"]),
                         dt.datetime.fromisoformat(r["end"])) for r in results])
    _assert_sequential([(r.started_at, r.finished_at) for r in runs(engine)])


def test_pruning_keeps_n_batches(engine) -> None:  # noqa: ANN001
    load(engine)
    outs = [refresh(engine, as_of=AS_OF, tz=TZ, keep_batches=2) for _ in range(5)]
    assert [o.status for o in outs] == ["ok"] * 5
    with engine.connect() as conn:
        kept = sorted(conn.execute(select(SnapshotRegion.batch_id).distinct()).scalars())
    assert kept == [outs[3].batch_id, outs[4].batch_id]
    assert rows_of(engine, outs[4].batch_id) == 9
    assert len(runs(engine)) == 5  # run records stay
    prune(engine, keep_batches=2, keep_runs=3)
    assert [r.id for r in runs(engine)] == [o.batch_id for o in outs[2:]]
    assert latest_batch(engine).id == outs[4].batch_id


def test_scheduler_registers_one_guarded_job(engine) -> None:  # noqa: ANN001
    from apscheduler.schedulers.background import BackgroundScheduler

    from queries.settings import Settings
    from scheduler import refresh_job, register_jobs

    load(engine)
    sched = BackgroundScheduler(timezone=TZ)
    settings = Settings(database_url=str(engine.url), refresh_seconds=120, timezone=TZ)
    sched.start(paused=True)  # a running job store, but no job fires during the test
    try:
        used = register_jobs(sched, settings, engine=engine)
        register_jobs(sched, settings, engine=engine)  # replace_existing: still one job
        jobs = sched.get_jobs()
    finally:
        sched.shutdown(wait=False)
    assert sorted(j.id for j in jobs) == ["refresh", "refresh-full"]
    job = next(j for j in jobs if j.id == "refresh")
    nightly = next(j for j in jobs if j.id == "refresh-full")
    # The nightly rebuild: every day at 02:00 local time, a full refresh.
    assert str(nightly.trigger.fields[5]) == "2" and str(nightly.trigger.fields[6]) == "0"
    assert nightly.args == (engine, TZ, 0, True) and nightly.max_instances == 1
    assert job.max_instances == 1 and job.coalesce is True
    assert job.trigger.interval == dt.timedelta(seconds=120)
    # The third argument: a tick within 80 % of the interval after a batch skips.
    assert used is engine and job.args == (engine, TZ, 96.0)
    # The job function publishes a batch and reports the outcome without raising.
    out = refresh_job(engine, TZ)
    assert out.status == "ok" and latest_batch(engine).id == out.batch_id
    # Another scheduler ticking just after: that batch is fresh, nothing is recomputed.
    assert refresh_job(engine, TZ, 96.0).status == "fresh"
    assert latest_batch(engine).id == out.batch_id
    assert refresh_job(engine, TZ, 0.001).status == "ok"


def test_unreachable_database_gives_a_failed_outcome() -> None:
    from queries.db import make_engine

    # Nothing listens on port 1: the refresh reports the failure instead of raising.
    eng = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")
    out = refresh(eng, as_of=AS_OF, tz=TZ, lock_wait=0)
    assert out.status == "failed" and out.batch_id is None and out.error
