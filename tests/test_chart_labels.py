"""Chart labels are plain text: imported strings never become Plotly markup (issue 7, item 6)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from dashboard import cache as dash_cache
from dashboard.app import create_app
from demo.generator import load_demo
from layouts import PANELS
from layouts.widgets import hbar, plain, plain_figure, vbar
from queries.db import init_db, make_engine
from queries.importer import import_records
from queries.refresh import refresh
from queries.snapshots import latest_batch, region_with_children
from tests.httpserver import Served, callback_body

TZ = "Asia/Shanghai"
CITY = "340100000000"
TODAY = dt.date(2026, 4, 30)
LINK = '<a href="https://evil.example/x">领取补贴</a>'
SPAN = '<span style="font-size:90px;color:red">已停业</span>'
HOSTILE = (LINK, SPAN, "&lt;b&gt;实体&lt;/b&gt;", "<b>粗体</b>&<i>x</i>")


@pytest.mark.parametrize("text,shown", [
    (LINK, '&lt;a href="https://evil.example/x"&gt;领取补贴&lt;/a&gt;'),
    ("A & B", "A &amp; B"),
    ("&lt;", "&amp;lt;"),
    ("<3", "&lt;3"),
    ("普通文本", "普通文本"),
    (None, ""),
    (12, "12"),
])
def test_plain_escapes_tags_and_entities(text: Any, shown: str) -> None:
    """Angle brackets and ampersands become entities Plotly decodes back to the same text."""
    assert plain(text) == shown


def test_plain_keeps_only_own_line_breaks() -> None:
    """With breaks=True a `<br>` stays a break; everything around it is escaped."""
    assert plain("1月<br>2026年", breaks=True) == "1月<br>2026年"
    assert plain("<b>1月</b><br><i>", breaks=True) == "&lt;b&gt;1月&lt;/b&gt;<br>&lt;i&gt;"
    assert plain("<br>") == "&lt;br&gt;"


def test_plain_figure_catches_a_forgotten_label() -> None:
    """The safety net in style_figure escapes any string that still holds a tag."""
    fig = {"data": [{"x": [LINK, "ok"], "text": ["1<br>2"]}],
           "layout": {"annotations": [{"text": SPAN}], "font": {"family": "x"}}}
    out = plain_figure(fig)
    assert out["data"][0]["x"] == [plain(LINK), "ok"]
    assert out["data"][0]["text"] == ["1<br>2"]
    assert out["layout"]["annotations"][0]["text"] == plain(SPAN)


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _strings(v)


def _no_markup(figure: Any) -> None:
    for s in _strings(figure):
        assert "<" not in s.replace("<br>", "") and ">" not in s.replace("<br>", ""), s


@pytest.mark.parametrize("mode", ["wall", "region", "embed"])
def test_builders_escape_every_label(mode: str) -> None:
    """hbar, vbar and their value texts show hostile labels literally."""
    ctx = {"mode": mode, "lang": "zh", "theme": "dark"}
    rows = [{"label": h, "v": 5, "s": h} for h in HOSTILE]
    for fig, axis in ((hbar(rows, ctx), "y"), (vbar(rows, ctx), "x"),
                      (vbar(rows, ctx, break_after="–"), "x")):
        _no_markup(fig)
        assert plain(LINK) in fig["data"][0][axis]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A small demo with open vacancies whose industry is markup, served over HTTP."""
    url = f"sqlite:///{tmp_path_factory.mktemp('labels') / 'l.db'}"
    engine = make_engine(url)
    init_db(engine)
    load_demo(engine, scale=0.02, seed=3, today=TODAY, tz=TZ)
    assert refresh(engine, as_of=dt.datetime(2026, 4, 30, 20, tzinfo=ZoneInfo(TZ)),
                   tz=TZ).status == "ok"
    batch = latest_batch(engine)
    # A community of the city and its township: the hostile postings sit there.
    _, kids = region_with_children(engine, batch.id, CITY)
    _, towns = region_with_children(engine, batch.id, kids[0]["code"])
    _, comms = region_with_children(engine, batch.id, towns[0]["code"])
    community = comms[0]["code"]
    records = [{
        "vacancy_id": f"XSS{i:03d}", "community_code": community, "lat": 31.86, "lon": 117.28,
        "title": "普通岗位", "type": "full_time", "headcount": 900 + i,
        "salary_min": 4000, "salary_max": 6000, "industry": text,
        "posted_on": "2026-04-20",
    } for i, text in enumerate(HOSTILE)]
    imported, rejected = import_records(engine, "vacancies", records, tz=TZ)
    assert (imported, rejected) == (len(HOSTILE), [])
    assert refresh(engine, as_of=dt.datetime(2026, 4, 30, 21, tzinfo=ZoneInfo(TZ)),
                   tz=TZ).status == "ok"
    app = create_app({"database_url": url})
    served = Served(app.server)
    deps = requests.get(f"{served.base}/_dash-dependencies", timeout=30).json()
    yield {"engine": engine, "base": served.base, "deps": deps, "community": community}
    served.stop()
    engine.dispose()


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dash_cache, "BATCH_TTL_SECONDS", 0.0)


def _post(site: dict[str, Any], pid: str, region: str, kind: str) -> requests.Response:
    batch = latest_batch(site["engine"])
    view = {"kind": kind, "lang": "zh", "theme": "dark"}
    body = callback_body(site["deps"], f"{pid}-asof",
                         {"target": {"region": region, "panel": pid}, "batch": batch.id},
                         {"view": view})
    return requests.post(site["base"] + "/_dash-update-component", json=body, timeout=60)


@pytest.mark.parametrize("kind", ["wall", "region", "embed"])
def test_callback_responses_carry_no_raw_tag(site: dict[str, Any], kind: str) -> None:
    """Every panel at city and community level: hostile industries arrive escaped only."""
    escaped = 0
    for region in (CITY, site["community"]):
        for module in PANELS:
            r = _post(site, module.PANEL_ID, region, kind)
            assert r.status_code == 200, (module.PANEL_ID, region, r.text[:300])
            response = json.loads(r.text)["response"]
            for s in _strings(response):
                low = s.lower()
                for raw in ("<a ", "</a>", "<span", "<b>", "<i>"):
                    assert raw not in low, (module.PANEL_ID, region, s)
            for props in response.values():
                if "figure" in props:
                    _no_markup(props["figure"])
                    escaped += sum(plain(LINK) == s for s in _strings(props["figure"]))
    assert escaped, "the hostile industry never reached a chart: the test proves nothing"
