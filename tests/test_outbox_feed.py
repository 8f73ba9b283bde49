"""The vacancy feed under concurrent writers (SPEC 7): paging never skips nor repeats.

Writer processes change vacancies in overlapping transactions (some sleep before they
commit) while this process pages the feed. Each writer sets vacancy j's headcount to
1, 2, …, ROUNDS in turn, so the expected sequence per vacancy is known without asking
the code under test: every value once, in order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import Engine

from queries import outbox
from queries.exchange.pipeline import import_records
from tests.test_import import dataset

ROOT = Path(__file__).resolve().parents[1]
WRITERS, ROUNDS = 3, 16


def test_paging_while_writers_commit(engine: Engine) -> None:
    """Every change exactly once, per vacancy in order, with writers racing the reader."""
    import_records(engine, "regions", dataset()["regions"])
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(Path(__file__).with_name(
        "outbox_feed_writer.py")), url, str(w), str(ROUNDS)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, text=True) for w in range(WRITERS)]
    got: list[dict] = []
    cursor, pages = "", 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        writing = any(p.poll() is None for p in procs)
        records, cursor = outbox.read_feed(engine, cursor, limit=37)
        got += records
        pages += 1
        if not records and not writing:
            break
        if not records:
            time.sleep(0.01)
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    made = sum(int(o.strip()) for o in outs)
    assert made == WRITERS * ROUNDS * 50
    per: dict[str, list[int]] = defaultdict(list)
    for rec in got:
        per[rec["vacancy_id"]].append(rec["headcount"])
    want = {f"f{w}-{j:02d}": list(range(1, ROUNDS + 1))
            for w in range(WRITERS) for j in range(50)}
    assert dict(per) == want
    assert len(got) == made and pages > 10
