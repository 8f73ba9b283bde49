"""Writes vacancy changes for the concurrent feed test: `python outbox_feed_writer.py URL W ROUNDS`.

Writer W owns vacancies fW-00..fW-49 and, in round r, sets each one's headcount to r + 1,
so every round is 50 changes. Even rounds go through the exchange importer; odd rounds
through the same tracker and upsert in a hand-made transaction that sleeps before its
commit, so transactions that took their numbers early commit late while others wait.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time

from queries.db import make_engine
from queries.exchange.pipeline import import_records
from queries.models import Vacancy
from queries.outbox import VacancyTracker
from queries.upsert import upsert

COMMUNITY = "340102001001"


def record(w: int, j: int, r: int) -> dict:
    """Vacancy j of writer w in round r (exchange format)."""
    return {"vacancy_id": f"f{w}-{j:02d}", "community_code": COMMUNITY, "lat": "31.87",
            "lon": "117.31", "title": f"岗位 {w}-{j}", "type": "full_time",
            "headcount": str(r + 1), "posted_on": "2024-01-05"}


def main() -> None:
    """Run the rounds, then print how many changes were written."""
    url, w, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    engine = make_engine(url)
    rng = random.Random(w)
    for r in range(rounds):
        recs = [record(w, j, r) for j in range(50)]
        if r % 2 == 0:
            n, rejected = import_records(engine, "vacancies", recs)
            assert n == 50 and not rejected, rejected
        else:
            rows = [{**x, "lat": 31.87, "lon": 117.31, "headcount": r + 1, "employer_id": None,
                     "salary_min": None, "salary_max": None, "industry": None,
                     "posted_on": dt.date(2024, 1, 5), "closed_on": None} for x in recs]
            with engine.begin() as conn:
                tracker = VacancyTracker(conn, "test")
                state = tracker.before(rows)
                upsert(conn, Vacancy, rows)
                tracker.after(state)
                time.sleep(rng.uniform(0.0, 0.08))
        time.sleep(rng.uniform(0.0, 0.02))
    print(rounds * 50)


if __name__ == "__main__":
    main()
