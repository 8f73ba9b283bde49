"""Chart labels in real Chromium: imported markup shows as literal text, never as SVG markup."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from layouts import PANEL_IDS
from tests.browser.conftest import (
    CITY,
    ServerThread,
    filled,
    free_port,
    severe_logs,
    show_tab,
    wait_for,
)

pytestmark = pytest.mark.browser

TZ = "Asia/Shanghai"
LINK = '<a href="https://evil.example/x">领取补贴</a>'
SPAN = '<span style="font-size:90px;color:red">已停业</span>'


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """A small demo whose two biggest open postings have markup as their industry."""
    from dashboard.app import create_app
    from demo.generator import load_demo
    from queries.db import init_db, make_engine
    from queries.importer import import_records
    from queries.refresh import refresh
    from queries.snapshots import latest_batch, region_with_children

    tmp = tempfile.mkdtemp(prefix="labels-browser-")
    url = f"sqlite:///{Path(tmp) / 'l.db'}"
    engine = make_engine(url)
    init_db(engine)
    today = dt.date(2026, 4, 30)
    load_demo(engine, scale=0.02, seed=3, today=today, tz=TZ)
    as_of = dt.datetime(2026, 4, 30, 20, tzinfo=ZoneInfo(TZ))
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"
    _, kids = region_with_children(engine, latest_batch(engine).id, CITY)
    _, towns = region_with_children(engine, latest_batch(engine).id, kids[0]["code"])
    _, comms = region_with_children(engine, latest_batch(engine).id, towns[0]["code"])
    community = comms[0]["code"]
    records = [{
        "vacancy_id": f"XSS{i}", "community_code": community, "lat": comms[0].get("lat") or 31.86,
        "lon": comms[0].get("lon") or 117.28, "title": "普通岗位", "type": "full_time",
        "headcount": 900 + i, "salary_min": 4000, "salary_max": 6000, "industry": text,
        "posted_on": "2026-04-20",
    } for i, text in enumerate((LINK, SPAN))]
    assert import_records(engine, "vacancies", records, tz=TZ) == (2, [])
    assert refresh(engine, as_of=as_of + dt.timedelta(hours=1), tz=TZ).status == "ok"
    engine.dispose()
    srv = ServerThread(create_app({"database_url": url}), free_port())
    srv.start()
    srv.community = community  # type: ignore[attr-defined]
    yield srv
    srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)


SVG_STATE_JS = """
var out = {links: 0, texts: [], big: 0};
document.querySelectorAll('.js-plotly-plot svg').forEach(function (svg) {
  out.links += svg.querySelectorAll('a').length;
  svg.querySelectorAll('text, tspan').forEach(function (t) {
    if (t.textContent) out.texts.push(t.textContent);
    var st = t.getAttribute('style') || '';
    if (st.indexOf('90px') >= 0 || st.indexOf('red') >= 0) out.big += 1;
  });
});
return out;
"""


@pytest.mark.parametrize("path", [
    "/region/{city}?panel=vacancies",
    "/wall/{city}?panels=vacancies&dwell=3600",
    "/wall/{city}?panels=vacancies&dwell=3600&w=3840&h=1080",
    "/embed/vacancies/{city}?theme=light",
])
def test_markup_in_an_industry_shows_literally(browser: Any, server: ServerThread,
                                               path: str) -> None:
    """The industries chart prints `<a href=...>领取补贴</a>` as text; no <a> in any SVG."""
    browser.get(server.base + path.format(city=CITY))
    wait_for(lambda: filled(browser, "vacancies", CITY), 45, "vacancies filled")

    def texts() -> Any:
        state = browser.execute_script(SVG_STATE_JS)
        return state if LINK in state["texts"] and SPAN in state["texts"] else None

    state = wait_for(texts, 20, "literal labels in the industries chart",
                     debug=lambda: browser.execute_script(SVG_STATE_JS)["texts"][:40])
    assert state["links"] == 0
    assert state["big"] == 0
    assert severe_logs(browser) == []


def test_no_panel_renders_svg_links(browser: Any, server: ServerThread) -> None:
    """Every panel at the community holding the postings: charts contain no <a> element."""
    community = server.community  # type: ignore[attr-defined]
    browser.get(f"{server.base}/region/{community}")
    for pid in PANEL_IDS:
        show_tab(browser, pid, community)
    state = browser.execute_script(SVG_STATE_JS)
    assert LINK in state["texts"]
    assert state["links"] == 0 and state["big"] == 0
    assert severe_logs(browser) == []
