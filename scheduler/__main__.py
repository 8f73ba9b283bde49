"""`python -m scheduler`: run the refresh scheduler alone (refreshes once at start)."""

from __future__ import annotations

import logging
import sys

from apscheduler.schedulers.blocking import BlockingScheduler

from dashboard import logs
from queries.db import init_db, make_engine
from queries.settings import Settings
from scheduler.jobs import register_jobs


def main() -> int:
    """Migrate the schema, then refresh now and every DASHBOARD_REFRESH_SECONDS."""
    logs.configure()  # one line per event: time, level, request id ("-"); scrubbed
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    init_db(engine)
    sched = BlockingScheduler(timezone=settings.timezone)
    register_jobs(sched, settings, engine=engine, run_now=True)
    logging.getLogger("scheduler").info(
        "scheduler started: refresh every %d s on %s", settings.refresh_seconds,
        engine.url.render_as_string(hide_password=True),
    )
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
