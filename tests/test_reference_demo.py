"""Reference check: on the demo data, the JSON API agrees with plain pandas everywhere.

The demo data set is loaded through the real importer, refreshed, and then every region at
every level is fetched over HTTP; each metric and the monthly series must equal the
independent pandas reading of SPEC section 3 in tests/reference.py, and every count of a
parent must equal the sum over its children.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from dashboard import cache as dash_cache
from dashboard.app import create_app
from demo.generator import load_demo
from queries.metrics import ANY_LEVEL_KEYS, COUNT_KEYS, METRIC_KEYS
from queries.refresh import refresh
from tests.reference import expected

TZ = "Asia/Shanghai"
TODAY = dt.date(2026, 4, 30)  # end of a month in the busy season: every window non-trivial
AS_OF = dt.datetime(2026, 4, 30, 21, 0, tzinfo=ZoneInfo(TZ))


@pytest.fixture(autouse=True)
def _no_batch_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dash_cache, "BATCH_TTL_SECONDS", 0.0)
    dash_cache._batch_memo.clear()


def test_api_matches_pandas_for_every_region_on_demo_data(db_url, engine) -> None:  # noqa: ANN001
    results = load_demo(engine, scale=0.05, seed=3, today=TODAY, tz=TZ)
    assert all(r.rejected == 0 for r in results)
    outcome = refresh(engine, as_of=AS_OF, tz=TZ)
    assert outcome.status == "ok", outcome.error

    exp = expected(engine, TODAY)
    client = create_app({"database_url": db_url}).server.test_client()

    levels: dict[str, int] = {}
    got_all: dict[str, dict] = {}
    for code, e in exp.items():
        resp = client.get(f"/api/v1/regions/{code}/metrics")
        assert resp.status_code == 200, code
        body = resp.get_json()
        got_all[code] = body
        levels[body["region"]["level"]] = levels.get(body["region"]["level"], 0) + 1
        assert list(body["metrics"]) == list(METRIC_KEYS)
        for key in METRIC_KEYS:
            assert body["metrics"][key] == e["metrics"][key], (code, key)
        assert body["series"]["placements.monthly"] == e["series"], code
        assert body["as_of"].startswith("2026-04-30T21:00:00")
    assert levels == {"city": 1, "county": 9, "township": 131, "community": 1362}

    # Roll-up through the API: each parent's counts equal the sum of its children's.
    for code, body in got_all.items():
        kids = body["children"]
        if not kids:
            continue
        for key in COUNT_KEYS:
            total = sum(k["metrics"][key] for k in kids)
            if key in ANY_LEVEL_KEYS:  # fairs of the region itself count too (SPEC 6.1)
                assert body["metrics"][key] >= total, (code, key)
            else:
                assert body["metrics"][key] == round(total, 2), (code, key)

    city = got_all["340100000000"]["metrics"]
    # Non-trivial data, so agreement means something.
    assert city["placements.year"] > 100 and city["vacancies.open"] > 20
    assert city["zero_households.identified.year"] > 0
    assert 0 < city["circle.covered"] < city["circle.communities"] or city["circle.coverage"] == 1
    # SPEC 6.2 on the demo: fairs, trainings, loans, answers, and about 70 % of the
    # communities meeting the 充分就业社区 criteria with some missing each one.
    assert city["job_fairs.year"] > 10 and city["trainings.completed.year"] > 0
    assert city["loans.year"] > 0 and city["satisfaction.score.year"] > 4
    assert 0.55 < city["full_employment.rate"] < 0.85
    assert all(city[f"full_employment.failing.{c}"] > 0
               for c in ("employment", "long_term", "zero_households", "assistance"))
