"""The outbox pusher job (SPEC 7), and `python -m scheduler.pusher` to run it alone.

Delivery itself lives in queries.outbox; one pusher at a time across processes is the
"pusher" database lease, so running this beside `python -m scheduler` is harmless.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from sqlalchemy import Engine

from queries.db import init_db, make_engine
from queries.outbox import PushOutcome, push_once
from queries.settings import Settings

log = logging.getLogger("scheduler.pusher")

JOB_ID = "push"


def push_job(engine: Engine, settings: Settings) -> PushOutcome:
    """Deliver due outbox events once; logs the outcome and never raises."""
    try:
        out = push_once(engine, settings)
    except Exception as err:  # noqa: BLE001 - e.g. the database is away: next tick retries
        log.warning("push could not run: %s: %s", type(err).__name__, err)
        return PushOutcome("failed")
    if out.requests:
        log.info("push: %d delivered, %d failed (%d dead) in %d requests",
                 out.delivered, out.failed, out.dead, out.requests)
    return out


def main() -> int:
    """Run the pusher every DASHBOARD_PUSH_SECONDS until SIGTERM / Ctrl-C."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if not settings.province_url:
        log.error("DASHBOARD_PROVINCE_URL is not set: nothing to push to")
        return 2
    engine = make_engine(settings.database_url)
    init_db(engine)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("pusher started: every %d s to the provincial platform", settings.push_seconds)
    try:
        while not stop.is_set():
            push_job(engine, settings)
            stop.wait(settings.push_seconds)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
