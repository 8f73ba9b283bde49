"""Every number fits its box at province, city and community level; the wall clock's zone.

Counts are rewritten to province-scale digits (tests/bignum.py): realistic shapes ×5000
(eight-digit province totals) and the widest texts (88,888 and 8888.9万 everywhere).
Each panel is made visible in turn on the wall (1920×1080 and 3840×1080) and on the
region page (1440×900), and no element in it may overflow its box.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from layouts import PANEL_IDS
from tests.browser.conftest import (
    ServerThread,
    filled,
    free_port,
    severe_logs,
    show_tab,
    wait_for,
)

pytestmark = pytest.mark.browser

TZ = "Asia/Shanghai"
PROVINCE = "340000000000"
CITY = "340100000000"

# Elements whose box content runs past it (x), clipped content (y) and elements outside
# the panel; scrolling boxes, the moving ticker and ellipsised labels are by design.
OVERFLOW_JS = """
var panel = arguments[0], out = [];
function scrolls(cs) { return /auto|scroll/.test(cs.overflowX + ' ' + cs.overflowY); }
function inScroller(el) {
  for (var a = el.parentElement; a && a !== panel; a = a.parentElement) {
    if (a.classList.contains('ticker') || scrolls(getComputedStyle(a))) return true;
  }
  return false;
}
function name(el) {
  var c = typeof el.className === 'string' ? el.className.trim().replace(/\\s+/g, '.') : '';
  return el.tagName.toLowerCase() + (c ? '.' + c : '');
}
var pr = panel.getBoundingClientRect();
panel.querySelectorAll('*').forEach(function (el) {
  if (el.closest('.js-plotly-plot')) return;
  var cs = getComputedStyle(el);
  if (cs.display === 'none' || cs.visibility === 'hidden') return;
  var text = (el.textContent || '').slice(0, 60);
  if (!scrolls(cs) && cs.textOverflow !== 'ellipsis' && el.clientWidth > 0 &&
      el.scrollWidth > el.clientWidth + 1)
    out.push(['x', name(el), el.scrollWidth, el.clientWidth, text]);
  if (/hidden|clip/.test(cs.overflowY) && !el.classList.contains('ticker') &&
      el.clientHeight > 0 && el.scrollHeight > el.clientHeight + 1)
    out.push(['y', name(el), el.scrollHeight, el.clientHeight, text]);
  var r = el.getBoundingClientRect();
  if (r.width > 0 && r.height > 0 && !inScroller(el) &&
      (r.right > pr.right + 1 || r.left < pr.left - 1 || r.bottom > pr.bottom + 1 ||
       r.top < pr.top - 1))
    out.push(['outside', name(el), Math.round(r.right - pr.right),
              Math.round(r.bottom - pr.bottom), text]);
});
return out;
"""

VISIBLE_JS = """
return Array.from(document.querySelectorAll('[data-panel]')).filter(function (el) {
  var s = getComputedStyle(el);
  return s.visibility === 'visible' && s.display !== 'none' && parseFloat(s.opacity) === 1;
});
"""


@pytest.fixture(scope="module")
def sites() -> Iterator[dict[str, Any]]:
    """A province demo, served twice: counts ×5000 and counts at their widest text."""
    from dashboard.app import create_app
    from demo.generator import load_demo
    from queries.db import init_db, make_engine
    from queries.refresh import refresh
    from queries.snapshots import latest_batch, region_with_children
    from tests.bignum import inflate, times, widest

    tmp = Path(tempfile.mkdtemp(prefix="fit-browser-"))
    base = tmp / "base.db"
    engine = make_engine(f"sqlite:///{base}")
    init_db(engine)
    load_demo(engine, root=PROVINCE, scale=0.02, seed=3, today=dt.date(2026, 4, 30), tz=TZ)
    as_of = dt.datetime(2026, 4, 30, 20, tzinfo=ZoneInfo(TZ))
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"
    batch = latest_batch(engine).id
    county = region_with_children(engine, batch, CITY)[1][0]["code"]
    town = region_with_children(engine, batch, county)[1][0]["code"]
    community = region_with_children(engine, batch, town)[1][0]["code"]
    engine.dispose()
    servers: dict[str, Any] = {"levels": {"province": PROVINCE, "city": CITY,
                                          "community": community}}
    for name, count in (("x5000", times(5000)), ("widest", widest)):
        path = tmp / f"{name}.db"
        shutil.copy(base, path)
        eng = make_engine(f"sqlite:///{path}")
        inflate(eng, count, communities_of=town)
        eng.dispose()
        srv = ServerThread(create_app({"database_url": f"sqlite:///{path}",
                                       "root_region": PROVINCE}), free_port())
        srv.start()
        servers[name] = srv
    yield servers
    for key in ("x5000", "widest"):
        servers[key].stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def server(sites: dict[str, Any]) -> ServerThread:
    """The browser fixture's default server: the ×5000 site."""
    return sites["x5000"]


def _size(driver: Any, width: int, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def _settled(driver: Any, code: str, panels: tuple[str, ...] = PANEL_IDS) -> None:
    for pid in panels:
        wait_for(lambda pid=pid: filled(driver, pid, code), 45, f"{pid} of {code} filled")
    wait_for(lambda: driver.execute_script(
        "return document.fonts.status === 'loaded' && !!window.__wall &&"
        " !window.__wall.state.fitQueued;"), 10, "fonts loaded and numbers fitted")
    time.sleep(0.3)


def _problems(driver: Any, where: str) -> list[Any]:
    # The shown panel fades in (opacity 0.4 s): wait until exactly one is fully visible.
    panels = wait_for(lambda: (lambda ps: ps if len(ps) == 1 else None)(
        driver.execute_script(VISIBLE_JS)), 5, f"{where}: one visible panel")
    return [[where, panels[0].get_attribute("data-panel"), *p]
            for p in driver.execute_script(OVERFLOW_JS, panels[0])]


@pytest.mark.parametrize("variant", ["x5000", "widest"])
@pytest.mark.parametrize("level", ["province", "city", "community"])
def test_no_element_overflows_its_box(browser: Any, sites: dict[str, Any], variant: str,
                                      level: str) -> None:
    """Each panel, shown in turn: wall 1920×1080 and 3840×1080, region page 1440×900."""
    base = sites[variant].base
    code = sites["levels"][level]
    found: list[Any] = []
    for width, lang in ((1920, "zh"), (3840, "zh"), (1920, "en")):
        if lang == "en" and variant != "widest":
            continue
        _size(browser, width, 1080)
        browser.get(f"{base}/wall/{code}?w={width}&h=1080&dwell=3600&reload_at=off&lang={lang}")
        # A wall asks for one panel at a time (the next one shortly before its turn), so
        # only the first is there at once; a step waits until the next panel has its data.
        _settled(browser, code, PANEL_IDS[:1])
        for i, pid in enumerate(PANEL_IDS):
            if i:
                browser.execute_script("window.__wall.step(1)")
            wait_for(lambda pid=pid: browser.execute_script(
                "return document.querySelector('.panel.is-active').dataset.panel") == pid,
                45, f"{pid} shown")
            _settled(browser, code, (pid,))
            found += _problems(browser, f"wall {width} {lang} {level}")
    _size(browser, 1440, 900)
    browser.get(f"{base}/region/{code}")
    for pid in PANEL_IDS:
        # The region page asks for a panel when its tab shows it.
        show_tab(browser, pid, code)
        _settled(browser, code, (pid,))
        found += _problems(browser, f"region 1440x900 {level}")
    assert not found, "\n".join(map(str, found))
    assert severe_logs(browser) == []


def test_big_counts_switch_to_wan_only_when_needed(browser: Any, sites: dict[str, Any]) -> None:
    """Wide tiles keep full digits; a narrow region page shows 万 where digits would not fit."""
    base = sites["widest"].base
    shown = "return Array.from(document.querySelectorAll('[data-panel=overview] .kpi-line'))" \
            ".map(function (e) { return [e.innerText, e.hasAttribute('data-compact')]; });"
    _size(browser, 3840, 1080)
    browser.get(f"{base}/wall/{CITY}?w=3840&h=1080&panels=overview&dwell=3600")
    _settled(browser, CITY, ("overview",))
    wide = browser.execute_script(shown)
    assert any("88,888" in text and not compact for text, compact in wide), wide
    _size(browser, 1000, 700)
    browser.get(f"{base}/region/{CITY}")
    _settled(browser, CITY, ("overview",))
    narrow = browser.execute_script(shown)
    assert any(compact and "8.89" in text and "万" in text for text, compact in narrow), narrow
    assert not any("88,888" in text for text, _ in narrow), narrow


def test_wall_clock_shows_the_data_time_zone(browser: Any, sites: dict[str, Any]) -> None:
    """The browser runs in New York; the clock shows DASHBOARD_TIMEZONE (Asia/Shanghai)."""
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "America/New_York"})
    _size(browser, 1920, 1080)
    browser.get(f"{sites['x5000'].base}/wall/{CITY}?panels=overview&dwell=3600")
    wait_for(lambda: browser.execute_script(
        "return document.getElementById('clock').textContent.length === 8"), 20, "clock")
    local_hour = browser.execute_script("return new Date().getHours();")
    text = browser.find_element("id", "clock").text
    date = browser.find_element("id", "clock-date").text
    now = dt.datetime.now(ZoneInfo(TZ))
    secs = lambda t: t.hour * 3600 + t.minute * 60 + t.second  # noqa: E731
    gap = abs(secs(dt.time.fromisoformat(text)) - secs(now)) % 86400
    assert min(gap, 86400 - gap) < 5, (text, now)
    assert local_hour != now.hour  # the browser's own zone really differs
    if secs(now) > 5:  # not in the seconds around midnight
        assert date.startswith(f"{now.year}年{now.month}月{now.day}日"), date
