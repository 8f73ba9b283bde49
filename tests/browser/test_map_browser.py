"""The map panel in real Chromium at province scale: drawn, offline, drill-down by click.

Every request the page makes is logged through CDP Network events (the performance log)
and must go to the test server: no tile server, no topojson CDN, no font host. The
province demo has the real tree (16 cities, 104 counties, 16,374 communities) at a small
data scale; the map must be drawn at province, city, county and community level, with
hexagons at the top two.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import ServerThread, free_port, severe_logs, wait_for

pytestmark = pytest.mark.browser

TZ = "Asia/Shanghai"
PROVINCE = "340000000000"
CITY = "340100000000"

FIGURE_JS = """
var gd = document.querySelector('#map-g-map .js-plotly-plot');
if (!gd || !gd.data || !gd.data.length || !gd.layout.meta) return null;
var names = gd.data.map(function (t) { return t.name; });
return {mode: gd.layout.meta.mode, metric: gd.layout.meta.metric,
        scale: gd.layout.meta.scale_km, names: names,
        region: document.querySelector('[data-panel="map"]').getAttribute('data-region'),
        legend: (document.getElementById('map-c-legend') || {}).textContent || ''};
"""

# Page pixel of a child's name (the invisible marker under the label, trace "labels").
LABEL_XY_JS = """
var gd = document.querySelector('#map-g-map .js-plotly-plot');
var t = gd.data.filter(function (d) { return d.name === 'labels'; })[0];
var fl = gd._fullLayout, i = arguments[0];
var box = gd.getBoundingClientRect();
return [box.left + fl._size.l + fl.xaxis.l2p(t.x[i]),
        box.top + fl._size.t + fl.yaxis.l2p(t.y[i]), t.customdata[i]];
"""


@pytest.fixture(scope="module")
def province() -> Iterator[dict[str, Any]]:
    """A province demo (real tree, small data scale) served on its own port."""
    from dashboard.app import create_app
    from demo.generator import load_demo
    from queries.db import init_db, make_engine
    from queries.refresh import refresh
    from queries.snapshots import latest_batch, region_with_children

    tmp = Path(tempfile.mkdtemp(prefix="map-browser-"))
    url = f"sqlite:///{tmp / 'province.db'}"
    engine = make_engine(url)
    init_db(engine)
    load_demo(engine, root=PROVINCE, scale=0.005, seed=5, today=dt.date(2026, 4, 30), tz=TZ)
    as_of = dt.datetime(2026, 4, 30, 20, tzinfo=ZoneInfo(TZ))
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"
    batch = latest_batch(engine).id
    cities = [c["code"] for c in region_with_children(engine, batch, PROVINCE)[1]]
    county = region_with_children(engine, batch, CITY)[1][0]["code"]
    town = region_with_children(engine, batch, county)[1][0]["code"]
    community = region_with_children(engine, batch, town)[1][0]["code"]
    engine.dispose()
    srv = ServerThread(create_app({"database_url": url, "root_region": PROVINCE}), free_port())
    srv.start()
    yield {"server": srv, "cities": cities, "county": county, "community": community}
    srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def server(province: dict[str, Any]) -> ServerThread:
    """The browser fixture's server: the province site."""
    return province["server"]


def _figure(driver: Any, region: str, mode: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        fig = driver.execute_script(FIGURE_JS)
        return fig if fig and fig["region"] == region and fig["mode"] == mode else None
    return wait_for(ready, timeout=60, what=f"the {mode} map of {region}",
                    debug=lambda: driver.execute_script(FIGURE_JS))


def _hosts(driver: Any) -> set[str]:
    """Host:port of every http(s) request in the performance log since the last call."""
    hosts = set()
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            u = urlparse(msg["params"]["request"]["url"])
            if u.scheme in ("http", "https", "ws", "wss"):
                hosts.add(u.netloc)
    return hosts


def test_map_draws_every_level_offline(browser: Any, province: dict[str, Any]) -> None:
    """Province and city maps are hexagons, county and community maps rings; no request
    leaves the server; no console error."""
    base = browser.base
    own = urlparse(base).netloc
    browser.execute_cdp_cmd("Network.enable", {})
    browser.get(f"{base}/wall/{PROVINCE}?panels=map&dwell=3600")
    fig = _figure(browser, PROVINCE, "hex")
    # Hexagons, worksite dots and the names (a text trace on plates, leader lines where a
    # name moved aside); a wall is never clicked, so no invisible click markers.
    assert {"hex", "vacancies", "plates", "names"} <= set(fig["names"])
    assert set(fig["names"]) <= {"hex", "vacancies", "plates", "names", "leaders"}
    assert fig["metric"] == "circle.coverage" and "着色" in fig["legend"]
    browser.get(f"{base}/wall/{CITY}?panels=map&dwell=3600&lang=en")
    assert "Colour" in _figure(browser, CITY, "hex")["legend"]
    browser.get(f"{base}/wall/{province['county']}?panels=map&dwell=3600")
    fig = _figure(browser, province["county"], "points")
    assert {"rings", "communities", "vacancies"} <= set(fig["names"])
    # The rings are one filled path outlined by assets/wall.css: a visible stroke, no fill.
    ring = browser.execute_script(
        "var p = document.querySelectorAll('#map-g-map .trace.tracemaprings path.js-fill');"
        "if (p.length !== 1) return [p.length];"
        "var s = getComputedStyle(p[0]);"
        "return [1, s.stroke, s.strokeWidth, s.fill, (p[0].getAttribute('d') || '').length];")
    assert ring[:4] == [1, "rgb(47, 211, 255)", "1px", "none"], ring
    assert ring[4] > 1000  # every ring's polygon in that one path
    browser.get(f"{base}/wall/{province['community']}?panels=map&dwell=3600")
    fig = _figure(browser, province["community"], "community")
    assert fig["scale"] == 3  # the scale bar is as long as the ring's radius
    hosts = _hosts(browser)
    assert hosts == {own}, f"requests left the server: {hosts - {own}}"
    assert severe_logs(browser) == []


def test_click_a_child_on_the_map_drills_down(browser: Any, province: dict[str, Any]) -> None:
    """Region page: a click on a city's name opens that city's map; ?metric= is kept and
    an unknown metric falls back to coverage."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    base = browser.base
    browser.get(f"{base}/region/{PROVINCE}?panel=map&metric=jobseekers.active")
    fig = _figure(browser, PROVINCE, "hex")
    assert fig["metric"] == "circle.coverage"  # a person count is not on the allow-list
    browser.get(f"{base}/region/{PROVINCE}?panel=map&metric=vacancies.open_headcount")
    fig = _figure(browser, PROVINCE, "hex")
    assert fig["metric"] == "vacancies.open_headcount"
    x, y, code = browser.execute_script(LABEL_XY_JS, 0)
    assert code in province["cities"]
    # A real pointer click at the name's pixel (viewport coordinates).
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.pointer_action.click()
    actions.perform()
    wait_for(lambda: f"/region/{code}" in browser.current_url, timeout=30,
             what="the clicked city's region page", debug=lambda: browser.current_url)
    assert "panel=map" in browser.current_url
    assert "metric=vacancies.open_headcount" in browser.current_url
    fig = _figure(browser, code, "hex")
    assert fig["metric"] == "vacancies.open_headcount"
    assert severe_logs(browser) == []


def test_map_panel_fits_its_box(browser: Any, province: dict[str, Any]) -> None:
    """The overflow check of the fit test (tests/browser/test_fit_browser.py) on the map:
    wall 1920×1080 and 3840×1080 at every level, region page 1440×900."""
    from tests.browser.test_fit_browser import _problems, _size

    base = browser.base
    found: list[Any] = []
    levels = {"province": (PROVINCE, "hex"), "city": (CITY, "hex"),
              "county": (province["county"], "points"),
              "community": (province["community"], "community")}
    for width in (1920, 3840):
        _size(browser, width, 1080)
        for level, (code, mode) in levels.items():
            browser.get(f"{base}/wall/{code}?panels=map&w={width}&h=1080&dwell=3600"
                        "&reload_at=off")
            _figure(browser, code, mode)
            found += _problems(browser, f"wall {width} {level}")
    _size(browser, 1440, 900)
    for level in ("province", "community"):
        code, mode = levels[level]
        browser.get(f"{base}/region/{code}?panel=map")
        _figure(browser, code, mode)
        found += _problems(browser, f"region 1440x900 {level}")
    assert not found, "\n".join(map(str, found))
    assert severe_logs(browser) == []
