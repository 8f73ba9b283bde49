"""Job functions and their registration; business logic stays in queries/."""

from __future__ import annotations

import datetime as dt
import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine

from queries import ops
from queries.clock import utcnow
from queries.db import make_engine
from queries.refresh import RefreshOutcome, refresh
from queries.settings import Settings

log = logging.getLogger("scheduler")

JOB_ID = "refresh"
FULL_JOB_ID = "refresh-full"
# The nightly full rebuild (local time): it bounds any drift of the incremental state,
# e.g. after rows were changed by hand in the database, past the importer.
FULL_AT = {"hour": 2, "minute": 0}


def refresh_job(
    engine: Engine, tz: str, fresh_seconds: float = 0, full: bool = False
) -> RefreshOutcome:
    """Run one refresh and log its outcome (never raises: the scheduler keeps going).

    With `fresh_seconds`, a tick is skipped when a batch was started that recently (by
    another scheduler) or while another refresh holds the lock: several schedulers on
    several hosts then make one refresh per interval, and any survivor carries on alone.
    `full` recomputes every region (the nightly rebuild); otherwise incremental.
    """
    try:
        if fresh_seconds > 0:
            age = ops.newest_batch_age(engine)
            if age is not None and age < fresh_seconds:
                log.info("refresh skipped: a batch was started %.1f s ago", age)
                return RefreshOutcome(None, "fresh", 0, None, utcnow(), utcnow())
        # A short lock wait: if another process is refreshing, this tick is simply skipped
        # and the next interval tries again (no wait at all when the refresh under way is
        # another scheduler's refresh of this interval).
        outcome = refresh(engine, tz=tz, lock_wait=0 if fresh_seconds > 0 else 5, full=full)
    except Exception as err:  # noqa: BLE001 - e.g. the database is unreachable
        log.exception("refresh could not run")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return RefreshOutcome(None, "failed", 0, f"{type(err).__name__}: {err}", now, now)
    secs = (outcome.finished_at - outcome.started_at).total_seconds()
    if outcome.status == "ok":
        log.info("refresh ok: batch %s, %d regions, %.2f s", outcome.batch_id, outcome.rows, secs)
    elif outcome.status == "busy":
        log.info("refresh skipped: another process is refreshing")
    else:
        log.error("refresh failed (previous snapshot stays): %s", outcome.error)
    return outcome


def register_jobs(
    scheduler: BaseScheduler,
    settings: Settings,
    engine: Engine | None = None,
    run_now: bool = False,
) -> Engine:
    """Add the interval refresh job (id "refresh"), the nightly full refresh (id
    "refresh-full") and, with DASHBOARD_PROVINCE_URL, the outbox pusher (id "push");
    returns the engine it uses."""
    engine = engine or make_engine(settings.database_url)
    kwargs: dict = {}
    if run_now:
        kwargs["next_run_time"] = dt.datetime.now(dt.UTC)
    scheduler.add_job(
        refresh_job,
        "interval",
        seconds=settings.refresh_seconds,
        # Several schedulers (a second on another host is harmless): one refresh per
        # interval, whichever ticks first once 80 % of the interval has passed.
        args=[engine, settings.timezone, 0.8 * settings.refresh_seconds],
        id=JOB_ID,
        name="refresh snapshot",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(30, settings.refresh_seconds // 2),
        **kwargs,
    )
    scheduler.add_job(
        refresh_job, "cron", **FULL_AT, args=[engine, settings.timezone, 0, True],
        id=FULL_JOB_ID, name="nightly full refresh", replace_existing=True, max_instances=1,
        coalesce=True, misfire_grace_time=3600,
    )
    if settings.province_url:
        # Outbound events (SPEC 7); off while no receiver is configured.
        from scheduler.pusher import JOB_ID as PUSH_JOB_ID
        from scheduler.pusher import push_job

        scheduler.add_job(
            push_job, "interval", seconds=max(1, settings.push_seconds),
            args=[engine, settings], id=PUSH_JOB_ID, name="push outbox events",
            replace_existing=True, max_instances=1, coalesce=True,
            misfire_grace_time=max(30, settings.push_seconds),
        )
    return engine


def start_background(settings: Settings, run_now: bool = False) -> BackgroundScheduler:
    """Start a background scheduler running the refresh job in this process."""
    sched = BackgroundScheduler(timezone=settings.timezone)
    register_jobs(sched, settings, run_now=run_now)
    sched.start()
    return sched
