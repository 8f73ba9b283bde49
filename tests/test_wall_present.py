"""Formatting, present() and the page routes without a browser."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import insert

from dashboard.app import create_app
from dashboard.present import fmt_count, fmt_month, fmt_pct, fmt_ratio, fmt_salary, present
from layouts import PANEL_IDS, PANELS
from queries.db import init_db, make_engine
from queries.metrics import METRIC_KEYS
from queries.models import RefreshRun, SnapshotRegion

CITY, COUNTY, TOWN, COMM = "340100000000", "340104000000", "340104001000", "340104001001"


@pytest.mark.parametrize("value,lang,text", [
    (0, "zh", "0"), (12345, "zh", "12,345"), (99999, "zh", "99,999"), (100000, "zh", "10.0万"),
    (123456, "zh", "12.3万"), (250_000_000, "zh", "2.50亿"), (None, "zh", "—"),
    (12345, "en", "12,345"), (123456, "en", "123k"), (2_500_000, "en", "2.50M"),
    (float("nan"), "en", "—"),
])
def test_fmt_count(value: Any, lang: str, text: str) -> None:
    """Below 10万 full digits with separators, then 万/亿 (zh) or k/M (en)."""
    assert fmt_count(value, lang) == text


def test_other_formats() -> None:
    """Percentages, ratios, salaries and month labels."""
    assert fmt_pct(0.9534) == "95.3%"
    assert fmt_pct(None) == "—"
    assert fmt_ratio(1.5) == "1.50"
    assert fmt_salary(5000, 8000) == "5,000–8,000元/月"
    assert fmt_salary(5000, 8000, "en") == "CNY 5,000–8,000/mo"
    assert fmt_salary(None, None) == "面议"
    assert fmt_month("2025-06") == "6月"
    assert fmt_month("2026-01") == "1月<br>2026年"
    assert fmt_month("2025-06", "en", first=True) == "Jun<br>2025"


def _metrics(**kw: float | None) -> dict[str, float | None]:
    out: dict[str, float | None] = dict.fromkeys(METRIC_KEYS, 0)
    out.update({k.replace("__", "."): v for k, v in kw.items()})
    return out


def _region(code: str, parent: str | None, name: str, level: str, path: list, **kw: Any) -> dict:
    return {
        "code": code, "parent_code": parent, "name": name, "level": level,
        "path": [{"code": c, "name": n, "level": lv} for c, n, lv in path],
        "metrics": _metrics(**kw),
        "series": {"placements.monthly": {"2025-05": 10, "2025-06": 12}},
        "targets": {"placements.year": {"target": 2000, "completion": 0.6}},
        "lists": {
            "latest_placements": [{"placed_at": "2025-06-15T09:30:00+08:00",
                                   "community_code": COMM, "community_name": "某社区",
                                   "form": "employer"}] * 50,
            "newest_vacancies": [{"vacancy_id": "V1", "title": "焊工", "employer": "某公司",
                                  "headcount": 3, "salary_min": 5000, "salary_max": 8000,
                                  "type": "full_time", "industry": "制造业",
                                  "posted_on": "2025-06-14", "community_name": "某社区"}],
            "by_industry": [{"industry": "制造业", "headcount": 5}],
            "salary_bands": [{"band": "5000–7999", "headcount": 3}],
            "nearby_vacancies": [],
        },
    }


CITY_PATH = [(CITY, "合肥市", "city")]
TREE = [
    _region(CITY, None, "合肥市", "city", CITY_PATH, placements__year=123456,
            supply_demand_ratio=1.25, placements__within_3km_share=0.4567),
    _region(COUNTY, CITY, "蜀山区", "county", CITY_PATH + [(COUNTY, "蜀山区", "county")],
            placements__year=500),
    _region(TOWN, COUNTY, "三里庵街道", "township",
            CITY_PATH + [(COUNTY, "蜀山区", "county"), (TOWN, "三里庵街道", "township")]),
    _region(COMM, TOWN, "某社区", "community",
            CITY_PATH + [(COUNTY, "蜀山区", "county"), (TOWN, "三里庵街道", "township"),
                         (COMM, "某社区", "community")]),
]


def test_present_shape_and_bounds() -> None:
    """present() formats every metric, bounds lists and translates enums."""
    p = present(TREE[0], [TREE[1]], as_of="2025-06-15T10:00:00+08:00")
    assert p is not None
    assert p["m"]["placements.year"] == {"v": 123456, "s": "12.3万"}
    assert p["m"]["supply_demand_ratio"]["s"] == "1.25"
    assert p["m"]["placements.within_3km_share"]["s"] == "45.7%"
    assert p["as_of"] == "2025年6月15日 10:00"
    assert len(p["latest"]) == 30 and p["latest"][0]["form"] == "单位就业"
    assert p["newest"][0]["salary"] == "5,000–8,000元/月"
    assert p["targets"]["placements.year"]["completion"] == "60.0%"
    assert p["children"][0]["m"]["placements.year"]["s"] == "500"
    en = present(TREE[0], [], as_of="2025-06-15T10:00:00+08:00", lang="en")
    assert en["m"]["placements.year"]["s"] == "123k" and en["latest"][0]["form"] == "Employer"
    assert present(None, []) is None


@pytest.fixture
def client(tmp_path) -> Any:  # noqa: ANN001
    """A test client on a database holding one snapshot batch of TREE."""
    url = f"sqlite:///{tmp_path / 'wall.db'}"
    engine = make_engine(url)
    init_db(engine)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(insert(RefreshRun), [{"id": 1, "as_of": now, "started_at": now,
                                           "finished_at": now, "status": "ok", "rows": 4}])
        conn.execute(insert(SnapshotRegion), [{
            "batch_id": 1, "region_code": r["code"], "parent_code": r["parent_code"],
            "name": r["name"], "level": r["level"], "path": json.dumps(r["path"]),
            "metrics": json.dumps(r["metrics"]), "series": json.dumps(r["series"]),
            "targets": json.dumps(r["targets"]), "lists": json.dumps(r["lists"]),
        } for r in TREE])
    engine.dispose()
    app = create_app({"database_url": url})
    return app, app.server.test_client()


def test_pages_and_404(client: Any) -> None:
    """Known pages serve the Dash index; unknown regions and panels are a Chinese 404."""
    _app, c = client
    assert c.get("/").headers["Location"].endswith(f"/wall/{CITY}")
    for path in (f"/wall/{CITY}", f"/region/{COMM}", f"/embed/circle/{TOWN}?theme=light"):
        assert c.get(path).status_code == 200, path
    for path in ("/wall/999999999999", "/region/x", "/embed/nope/" + CITY, "/wall/"):
        r = c.get(path)
        assert r.status_code == 404, path
        assert "未找到该地区" in r.get_data(as_text=True)
    assert "Region not found" in c.get("/wall/1?lang=en").get_data(as_text=True)


def test_state_endpoint(client: Any) -> None:
    """The poller's JSON names the batch and is never cached."""
    _app, c = client
    r = c.get("/_wall/state")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    body = r.get_json()
    assert body["batch"] == 1 and body["stale"] is False and body["computed_at"]


@pytest.mark.parametrize("code", [CITY, COUNTY, COMM])
@pytest.mark.parametrize("kind", ["wall", "region", "embed"])
def test_every_panel_renders_at_every_level(client: Any, code: str, kind: str) -> None:
    """Each panel's callback returns one value per output at city, county and community."""
    from dashboard.pages import render_panel, route

    app, _c = client
    with app.server.test_request_context("/"):
        path = f"/embed/overview/{code}" if kind == "embed" else f"/{kind}/{code}"
        page, view, target = route(path, "?tour=children", None)
        assert view["kind"] == kind and target["region"] == code
        for module in PANELS:
            out = render_panel(module, target, view)
            assert len(out) == len(module.CELLS) + len(module.GRAPHS) + 3
            assert out[-3] == code
            json.dumps(out, default=lambda o: o.to_plotly_json())


def test_route_unknown_and_panels_order(client: Any) -> None:
    """Unknown codes render the not-found block; the panels query keeps its order."""
    from dashboard.pages import panel_list, route

    app, _c = client
    with app.server.test_request_context("/"):
        _page, view, target = route("/wall/123456789012", "", None)
        assert view["kind"] == "unknown" and target is None
    assert panel_list("circle,overview,bogus,circle") == ["circle", "overview"]
    assert panel_list("") == list(PANEL_IDS)
