"""Wall, region and embed pages in real headless Chromium (`pytest tests/browser --headless`)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.by import By

from layouts import PANEL_IDS
from tests.browser.conftest import (
    CITY,
    COUNTY,
    filled,
    severe_logs,
    show_tab,
    visible_panels,
    wait_for,
)

pytestmark = pytest.mark.browser

TOWNSHIP = "340104002000"  # 南七街道: seven communities, a short tour


def _community(base: str) -> str:
    with urllib.request.urlopen(f"{base}/api/v1/regions/{TOWNSHIP}") as r:
        return json.load(r)["children"][0]["code"]


def _open(driver: Any, path: str, panel: str, region: str) -> None:
    driver.get(driver.base + path)
    wait_for(lambda: filled(driver, panel, region), 45, f"{panel} of {region} on {path}")


@pytest.mark.parametrize("path,panel,region", [
    (f"/wall/{CITY}", "overview", CITY),
    (f"/wall/{COUNTY}?lang=en&w=3840&h=1080", "overview", COUNTY),
    (f"/region/{CITY}?panel=vacancies", "vacancies", CITY),
    (f"/embed/circle/{COUNTY}?theme=light", "circle", COUNTY),
    (f"/embed/key_groups/{CITY}?theme=transparent", "key_groups", CITY),
])
def test_routes_load_without_console_errors(browser: Any, path: str, panel: str,
                                            region: str) -> None:
    """Every page kind renders its panel with data and logs no console error."""
    _open(browser, path, panel, region)
    time.sleep(1.0)
    shown = visible_panels(browser)
    assert [p[0] for p in shown] == [panel]
    assert severe_logs(browser) == []


def test_every_panel_at_community_level(browser: Any) -> None:
    """A community (no children) fills all six panels with its own detail, no errors."""
    community = _community(browser.base)
    browser.get(f"{browser.base}/region/{community}")
    for pid in PANEL_IDS:
        show_tab(browser, pid, community)
    show_tab(browser, "overview", community)
    wait_for(lambda: "本社区概况" in browser.find_element(
        By.CSS_SELECTOR, "[data-panel=overview]").text, 10, "overview shown")
    assert severe_logs(browser) == []


def test_unknown_region_is_a_friendly_404(server: Any) -> None:
    """Unknown region codes and panels answer 404 with a Chinese page, not a traceback."""
    for path in ("/wall/999999999999", "/region/000000000000", "/embed/nope/340100000000",
                 "/embed/overview/123"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.base + path)
        assert err.value.code == 404
        body = err.value.read().decode()
        assert "未找到该地区" in body and "Traceback" not in body


def test_wall_rotates_through_every_panel(browser: Any) -> None:
    """With dwell=2 the wall shows each panel in turn, one at a time, in the given order."""
    order = ["circle", "overview", "vacancies", "key_groups", "zero_households", "placements"]
    _open(browser, f"/wall/{COUNTY}?dwell=2&panels={','.join(order)}", "circle", COUNTY)
    seen: list[str] = []
    deadline = time.monotonic() + 2 * len(order) + 12
    while time.monotonic() < deadline and len(seen) < len(order):
        shown = visible_panels(browser)
        assert len(shown) <= 1, shown  # never two panels at once (fade keeps one visible)
        if shown and (not seen or seen[-1] != shown[0][0]):
            seen.append(shown[0][0])
        time.sleep(0.2)
    k = order.index(seen[0])  # rotation may have started while the page was loading
    assert seen == order[k:] + order[:k]
    assert severe_logs(browser) == []


def test_tour_children_changes_region(browser: Any) -> None:
    """tour=children rotates the panels through the region and then each child."""
    _open(browser, f"/wall/{TOWNSHIP}?dwell=2&panels=overview,circle&tour=children",
          "overview", TOWNSHIP)
    regions: list[str] = []
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline and len(regions) < 3:
        for _pid, region, _ in visible_panels(browser):
            if region and (not regions or regions[-1] != region):
                regions.append(region)
        time.sleep(0.2)
    assert regions[0] == TOWNSHIP
    assert len(regions) >= 3 and all(r.startswith("340104002") for r in regions)
    # The header follows the tour too.
    name = browser.find_element(By.ID, "hdr-name").text
    assert name and name != "南七街道"
    assert severe_logs(browser) == []


def test_keys_step_and_pause(browser: Any) -> None:
    """Arrow keys step between panels; space pauses the rotation."""
    _open(browser, f"/wall/{CITY}?dwell=3600", "overview", CITY)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("\ue014")  # ArrowRight
    wait_for(lambda: visible_panels(browser)[0][0] == "placements", 5, "step right")
    body.send_keys("\ue012")  # ArrowLeft
    wait_for(lambda: visible_panels(browser)[0][0] == "overview", 5, "step left")
    body.send_keys(" ")
    assert browser.execute_script("return window.__wall.state.paused") is True


def test_drill_down_and_browser_back(browser: Any) -> None:
    """Clicking a child in a ranking drills down; back and forward restore the URL and data."""
    _open(browser, f"/region/{CITY}?panel=placements", "placements", CITY)
    wrap = wait_for(lambda: browser.find_element(
        By.CSS_SELECTOR, "[data-panel=placements] [data-code]"), 10, "drill link")
    child = wrap.get_attribute("data-code")
    link = wrap.find_element(By.CSS_SELECTOR, "a.drill")
    link.click()
    wait_for(lambda: filled(browser, "placements", child), 15, "child data")
    assert urlparse(browser.current_url).path == f"/region/{child}"
    assert "panel=placements" in browser.current_url
    crumbs = browser.find_element(By.ID, "crumbs").text
    assert "合肥市" in crumbs
    # Tabs keep the region; the URL reflects the panel.
    browser.find_element(By.CSS_SELECTOR, "[data-tab=vacancies] a").click()
    wait_for(lambda: "panel=vacancies" in browser.current_url, 5, "tab url")
    wait_for(lambda: visible_panels(browser)[0][:2] == ["vacancies", child], 5, "tab shown")
    browser.back()
    # History steps may re-render the page: allow for a slow first render on a busy CI box.
    wait_for(lambda: visible_panels(browser)[0][:2] == ["placements", child], 45, "back tab")
    browser.back()
    wait_for(lambda: filled(browser, "placements", CITY), 45, "back to the city")
    assert urlparse(browser.current_url).path == f"/region/{CITY}"
    browser.forward()
    wait_for(lambda: filled(browser, "placements", child), 45, "forward again")
    assert severe_logs(browser) == []


HELD_JS = """
var out = {};
document.querySelectorAll('#deck > [data-panel]').forEach(function (el) {
  var asOf = (el.querySelector('.as-of') || {}).textContent || '';
  out[el.getAttribute('data-panel')] = [asOf.length > 4 ? el.getAttribute('data-region') : null,
                                        el.hasAttribute('data-pending')];
});
return out;
"""


def test_region_page_asks_only_for_the_shown_panel(browser: Any) -> None:
    """The region page fills the panel its tab shows and no other; a drill-down refills
    only that one; another tab is asked when opened, dimmed (data-pending) until its answer
    shows the new region."""
    _open(browser, f"/region/{CITY}?panel=placements", "placements", CITY)
    time.sleep(1.0)
    held = browser.execute_script(HELD_JS)
    assert held["placements"] == [CITY, False]
    assert {p for p, (region, _) in held.items() if region} == {"placements"}, held

    browser.find_element(By.CSS_SELECTOR, "[data-tab=vacancies] a").click()
    wait_for(lambda: filled(browser, "vacancies", CITY), 45, "vacancies tab filled")
    browser.find_element(By.CSS_SELECTOR, "[data-tab=placements] a").click()
    wrap = wait_for(lambda: browser.find_element(
        By.CSS_SELECTOR, "[data-panel=placements] [data-code]"), 10, "drill link")
    child = wrap.get_attribute("data-code")
    wrap.find_element(By.CSS_SELECTOR, "a.drill").click()
    wait_for(lambda: filled(browser, "placements", child), 45, "child data")
    time.sleep(1.0)
    held = browser.execute_script(HELD_JS)
    assert held["placements"] == [child, False]
    assert held["vacancies"][0] == CITY  # not asked: its tab is not shown

    # Opening the tab asks for the child: the old numbers are dimmed until it comes.
    browser.execute_script("""
      window.__seen = [];
      var el = document.querySelector('#deck > [data-panel=vacancies]');
      new MutationObserver(function () {
        window.__seen.push([el.getAttribute('data-pending'), el.getAttribute('data-region')]);
      }).observe(el, {attributes: true, attributeFilter: ['data-pending', 'data-region']});
    """)
    browser.find_element(By.CSS_SELECTOR, "[data-tab=vacancies] a").click()
    wait_for(lambda: filled(browser, "vacancies", child), 45, "vacancies of the child")
    wait_for(lambda: browser.execute_script(HELD_JS)["vacancies"] == [child, False], 10,
             "pending mark cleared")
    seen = browser.execute_script("return window.__seen")
    assert [child, CITY] in seen, seen  # marked while it still held the city
    assert held != browser.execute_script(HELD_JS)
    assert severe_logs(browser) == []


@pytest.mark.parametrize("w,h", [(400, 300), (1200, 800)])
def test_embed_fills_its_iframe(browser: Any, w: int, h: int) -> None:
    """An embed in an iframe renders its panel filling the frame at small and large sizes."""
    src = f"/embed/overview/{CITY}?theme=dark"
    browser.get(f"{browser.base}/_test/iframe?src={src}&w={w}&h={h}")
    frame = browser.find_element(By.ID, "f")
    browser.switch_to.frame(frame)
    try:
        wait_for(lambda: filled(browser, "overview", CITY), 20, "embed filled")
        rect = browser.execute_script(
            "var r=document.querySelector('[data-panel=overview]').getBoundingClientRect();"
            "return [r.width, r.height, document.documentElement.scrollWidth,"
            " document.documentElement.scrollHeight];")
        assert abs(rect[0] - w) <= 2 and abs(rect[1] - h) <= 2, rect
        assert rect[2] <= w and rect[3] <= h  # nothing overflows the frame
        value = browser.find_element(By.CSS_SELECTOR, "[data-panel=overview] .kpi-value")
        assert value.is_displayed() and value.text
        assert browser.find_elements(By.CSS_SELECTOR, ".wall-head, .region-head, .tabs") == []
    finally:
        browser.switch_to.default_content()
    assert severe_logs(browser) == []


def test_no_request_leaves_the_server(browser: Any) -> None:
    """Every resource the pages load comes from the server itself (offline intranet)."""
    host = urlparse(browser.base).netloc
    urls: list[str] = []
    for path, panel, region in ((f"/wall/{CITY}?dwell=2", "overview", CITY),
                                (f"/region/{COUNTY}", "overview", COUNTY),
                                (f"/embed/vacancies/{CITY}?theme=light", "vacancies", CITY)):
        _open(browser, path, panel, region)
        time.sleep(2.5)
        urls += browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    assert urls
    foreign = {u for u in urls if not u.startswith("data:") and urlparse(u).netloc != host}
    assert foreign == set()


def test_stale_mark_on_outage_and_recovery(app: Any, browser: Any) -> None:
    """Stopping the server shows the stale mark; restarting clears it without a reload."""
    from tests.browser.conftest import ServerThread, free_port

    own = ServerThread(app, free_port())
    own.start()
    try:
        browser.get(f"{own.base}/wall/{CITY}?poll=2&dwell=2")
        wait_for(lambda: filled(browser, "overview", CITY), 45, "wall filled")
        browser.execute_script("window.__noReload = 42")
        time.sleep(2.5)
        assert browser.find_elements(By.CSS_SELECTOR, ".stale") == []
        own.stop()
        mark = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, ".stale"), 15, "stale")
        assert mark.is_displayed() and "已过期" in mark.text
        time.sleep(4.5)  # rotation goes on with the last data; nothing blanks
        shown = visible_panels(browser)
        assert len(shown) == 1 and shown[0][1] == CITY and shown[0][2]
        errors = ".dash-fe-error__title, .dash-debug-menu, .dash-error-card"
        assert browser.find_elements(By.CSS_SELECTOR, errors) == []
        own.start()
        wait_for(lambda: not browser.find_elements(By.CSS_SELECTOR, ".stale"), 20,
                 "recovery", debug=lambda: browser.execute_script(
                     "var s=window.__wall.state; return [s.online, s.snapStale, s.polling,"
                     " (document.querySelector('.stale')||{}).textContent]"))
        assert browser.execute_script("return window.__noReload") == 42
    finally:
        own.stop()


LONG_NAME = "340122200000"  # 牌坊回族满族乡: the longest name of the demo's regions

FITS_JS = """
var out = [];
['.wall-head .brand', '.wall-head .region-name', '.wall-head .clock', '.wall-head .clock-date',
 '.wall-foot .dots', '#deck > .is-active .panel-head'].forEach(function (sel) {
  document.querySelectorAll(sel).forEach(function (el) {
    if (!el.offsetWidth) return;  // not shown at this size
    if (el.scrollWidth > el.clientWidth + 1) {
      out.push(sel + ' cut: ' + el.scrollWidth + ' > ' + el.clientWidth + ' '
               + el.textContent.slice(0, 40));
    }
  });
});
var c = document.getElementById('canvas').getBoundingClientRect();
document.querySelectorAll('.wall-head > *, .wall-foot > *, .dot').forEach(function (el) {
  var r = el.getBoundingClientRect();
  if (r.width && (r.left < c.left - 1 || r.right > c.right + 1 || r.bottom > c.bottom + 1)) {
    out.push('outside the canvas: ' + el.className + ' ' + el.textContent.slice(0, 20));
  }
});
var active = document.querySelector('.dot.is-active');
if (!active || active.getBoundingClientRect().width < 40) out.push('active panel name not shown');
return out;
"""


@pytest.mark.parametrize("query", ["", "?lang=en", "?w=1080&h=1920", "?w=1080&h=1920&lang=en",
                                   "?w=3840&h=1080&lang=en", "?w=1280&h=1024"])
def test_header_and_footer_fit_every_canvas(browser: Any, query: str) -> None:
    """No name, clock or panel name runs past its box or the canvas (portrait kiosks too)."""
    sep = "&" if query else "?"
    _open(browser, f"/wall/{LONG_NAME}{query}{sep}dwell=3600&poll=3600", "overview", LONG_NAME)
    wait_for(lambda: browser.execute_script(
        "return document.fonts.status === 'loaded' && !window.__wall.state.fitQueued"),
        10, "fonts and fit")
    time.sleep(0.5)
    assert browser.execute_script(FITS_JS) == []
    # The deck's nine panel names: on a wide canvas every one is shown whole; a narrow one
    # (portrait, 4:3, 5:4) names the shown panel and marks the others.
    narrow = browser.execute_script(
        "return document.getElementById('canvas').classList.contains('is-narrow')")
    assert narrow == ("h=1920" in query or "h=1024" in query)
    if not narrow:
        shown = browser.execute_script(
            "return Array.from(document.querySelectorAll('.dot')).filter(function (d) {"
            " return d.getBoundingClientRect().width > 20; }).length")
        assert shown == len(PANEL_IDS)
    assert severe_logs(browser) == []
