"""Cells drawn from JSON by assets/cells.js, and charts queued one per task by assets/plots.js.

The drawn cells are compared with the component trees the panels build (walked here, not
through `pack`): the same text and the same classes in the same order.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

import pytest
from dash.development.base_component import Component

from layouts import BY_ID
from layouts.widgets import cell_id
from tests.browser.conftest import CITY, filled, severe_logs, show_tab, wait_for

pytestmark = pytest.mark.browser

MY_PANELS = ("overview", "placements", "vacancies", "key_groups", "zero_households", "circle")

DRAWN_JS = """
var box = document.getElementById(arguments[0]);
var p = box && box.querySelector('.packed');
if (!p || !p.firstChild) return null;
var classes = [];
p.querySelectorAll('*').forEach(function (el) { if (el.className) classes.push(el.className); });
return [p.textContent, classes];
"""


def _text_and_classes(obj: Any) -> tuple[str, list[str]]:
    """Text and class names (pre-order) of a component tree, as the browser would show it."""
    if obj is None:
        return "", []
    if isinstance(obj, str | int | float):
        return str(obj), []
    if isinstance(obj, list | tuple):
        parts = [_text_and_classes(o) for o in obj]
        return "".join(p[0] for p in parts), [c for p in parts for c in p[1]]
    assert isinstance(obj, Component)
    text, classes = _text_and_classes(getattr(obj, "children", None))
    own = getattr(obj, "className", None)
    return text, ([own] if own else []) + classes


def _expected_cells(app: Any, panel: str, kind: str, region: str) -> dict[str, Any]:
    """The panel's cells for the region as component trees (its callback, unpacked)."""
    from dashboard.pages import render_panel, route

    module = BY_ID[panel]
    with app.server.test_request_context("/"):
        _page, view, target = route(f"/{kind}/{region}", "", None)
        original = module.packed_cells
        module.packed_cells = lambda cells: cells
        try:
            out = render_panel(module, target, view)
        finally:
            module.packed_cells = original
    return dict(zip(module.CELLS, out, strict=False))


@pytest.mark.parametrize("kind", ["wall", "region"])
def test_drawn_cells_match_the_component_trees(browser: Any, app: Any, kind: str) -> None:
    """Every cell of the six panels shows the text and classes its component tree holds."""
    browser.get(f"{browser.base}/{kind}/{CITY}")
    for panel in MY_PANELS:
        if kind == "region":  # the region page asks for a panel when its tab shows it
            show_tab(browser, panel, CITY)
        wait_for(lambda p=panel: filled(browser, p, CITY), 30, f"{panel} filled")
        expected = _expected_cells(app, panel, kind, CITY)
        for name, tree in expected.items():
            want_text, want_classes = _text_and_classes(tree)
            got = wait_for(lambda n=name, p=panel: browser.execute_script(
                DRAWN_JS, cell_id(p, n)), 10, f"{panel}.{name} drawn")
            assert got[0] == want_text, (panel, name)
            assert got[1] == want_classes, (panel, name)
    assert severe_logs(browser) == []


UNSAFE = ('[["span",{"c":"x"},"<img src=x onerror=alert(1)>"],'
          '["a",{"h":"javascript:alert(1)","n":1},"l1"],["a",{"h":"//evil.example/x","n":1},"l2"],'
          '["script",0,"window.__pwned=1"],'
          '["div",{"s":{"width":"10%","backgroundImage":"url(/x)"}},"w"]]')

INJECT_JS = """
var d = document.createElement('div');
d.className = 'packed'; d.id = 'probe';
d.setAttribute('data-tree', arguments[0]);
document.body.appendChild(d);
"""


def test_drawing_is_text_only_and_whitelisted(browser: Any) -> None:
    """Markup in text stays text; script URLs, other origins, unknown tags and styles dropped."""
    browser.get(f"{browser.base}/wall/{CITY}")
    wait_for(lambda: filled(browser, "overview", CITY), 30, "overview filled")
    browser.execute_script(INJECT_JS, UNSAFE)
    probe = wait_for(lambda: browser.execute_script(
        "var p = document.getElementById('probe');"
        "return p && p.firstChild ? {html: p.innerHTML, n: p.childNodes.length,"
        " imgs: p.querySelectorAll('img,script').length, pwned: !!window.__pwned,"
        " hrefs: Array.from(p.querySelectorAll('a')).map(a => a.getAttribute('href')),"
        " width: p.querySelector('div').style.width,"
        " bg: p.querySelector('div').style.backgroundImage} : null"), 5, "probe drawn")
    assert probe["imgs"] == 0 and probe["pwned"] is False
    assert "&lt;img src=x onerror=alert(1)&gt;" in probe["html"]
    assert probe["hrefs"] == [None, None]
    assert probe["width"] == "10%" and probe["bg"] == ""
    # A changed data-tree is drawn again in place.
    browser.execute_script("document.getElementById('probe').setAttribute('data-tree',"
                           " '[[\"b\",0,\"again\"]]')")
    wait_for(lambda: browser.execute_script(
        "return document.getElementById('probe').innerHTML") == "<b>again</b>", 5, "redrawn")


def test_drawn_drill_link_navigates_inside_the_app(browser: Any) -> None:
    """A ranking name drawn from JSON drills down without reloading the page."""
    browser.get(f"{browser.base}/region/{CITY}?panel=placements")
    wrap = wait_for(lambda: browser.find_element(
        "css selector", "[data-panel=placements] [data-code]"), 30, "drill link")
    child = wrap.get_attribute("data-code")
    browser.execute_script("window.__sameDocument = true;")
    wrap.find_element("css selector", "a.drill").click()
    wait_for(lambda: filled(browser, "placements", child), 30, "child data")
    assert urlparse(browser.current_url).path == f"/region/{child}"
    assert browser.execute_script("return window.__sameDocument === true")


def test_charts_are_all_drawn_after_a_region_change(browser: Any) -> None:
    """The chart queue drains: every chart of every panel shows the new region's figure."""
    browser.get(f"{browser.base}/wall/{CITY}?tour=children&dwell=3600&poll=3600")
    wait_for(lambda: filled(browser, "overview", CITY), 30, "overview filled")
    n = browser.execute_script("return document.querySelectorAll('#deck > [data-panel]').length")
    browser.execute_script(f"window.__wall.step({n});")
    region = browser.execute_script("return window.__wall.state.region")
    assert region != CITY
    # A wall asks for each panel at its turn (one at a time): step through them (these
    # six come first in the deck, so the steps stay on this child region).
    for i, panel in enumerate(MY_PANELS):
        if i:
            browser.execute_script("window.__wall.step(1);")
        wait_for(lambda p=panel: filled(browser, p, region), 45, f"{panel} of {region}")
    wait_for(lambda: browser.execute_script(
        "return window.__plots.queue.length === 0 && arguments[0].every(p => Array.from("
        "document.querySelectorAll('[data-panel=' + p + '] .js-plotly-plot')).every("
        "g => g.data && g.data.length && !g.classList.contains('dash-graph--pending')))",
        list(MY_PANELS)), 30, "charts drawn")
    assert severe_logs(browser) == []


REDRAW_JS = """
var done = arguments[arguments.length - 1];
var gd = document.querySelector('[data-panel="overview"] .js-plotly-plot');
var draws = 0;
gd.on('plotly_afterplot', function () { draws++; });
function fig(y) { return {data: [{type: 'bar', x: ['a', 'b'], y: y}], layout: {height: 200}}; }
var log = [];
function note(what) {
  log.push([what, draws, window.__plots.skipped, gd.data[0].y.slice()]);
}
var skipped0 = window.__plots.skipped;
Plotly.react(gd, fig([3, 4]))
  .then(function () { note('first'); return Plotly.react(gd, fig([3, 4])); })
  .then(function () { note('same'); return Plotly.react(gd, fig([5, 6])); })
  .then(function () { note('changed'); Plotly.purge(gd); return Plotly.react(gd, fig([5, 6])); })
  .then(function () { note('after purge'); done([skipped0, log]); },
        function (e) { done(String(e)); });
"""


def test_a_figure_equal_to_the_drawn_one_is_not_redrawn(browser: Any) -> None:
    """plots.js skips a react call whose figure equals the one on screen, and only that."""
    browser.get(f"{browser.base}/wall/{CITY}?dwell=3600&poll=3600")
    wait_for(lambda: filled(browser, "overview", CITY), 30, "overview filled")
    wait_for(lambda: browser.execute_script(
        "return window.__plots.queue.length === 0 && Array.from(document.querySelectorAll("
        "'[data-panel=overview] .js-plotly-plot')).every(g => g.data && g.data.length)"),
        30, "overview charts drawn")
    out = browser.execute_async_script(REDRAW_JS)
    assert isinstance(out, list), out
    skipped0, log = out
    steps = {what: (draws, skipped, y) for what, draws, skipped, y in log}
    first_draws = steps["first"][0]
    assert first_draws >= 1 and steps["first"][2] == [3, 4]
    # The same figure again (a new object, equal JSON): nothing drawn, counted as skipped.
    assert steps["same"][0] == first_draws
    assert steps["same"][1] == skipped0 + 1
    # A changed figure is drawn; after a purge the same figure is drawn again.
    assert steps["changed"][0] > first_draws and steps["changed"][2] == [5, 6]
    assert steps["after purge"][2] == [5, 6] and steps["after purge"][1] == skipped0 + 1
    assert severe_logs(browser) == []


HISTORY_JS = "return window.dash_stores[0].getState().history.past.length;"


def test_dash_undo_history_stays_bounded_on_a_wall(browser: Any) -> None:
    """Every set_props of a want store lands in Dash's undo history; wall.js keeps it short.

    Without the trim a wall's history grew by about nine entries per batch change for as
    long as the page lived (bench/soak.py).
    """
    browser.get(f"{browser.base}/wall/{CITY}?dwell=3600&poll=3600")
    wait_for(lambda: filled(browser, "overview", CITY), 30, "overview filled")
    # 60 asks, as 60 batch changes would make: each one is recorded by Dash.
    browser.execute_script("""
      var b = window.__wall.state.batch || null;
      for (var i = 0; i < 60; i++) {
        window.dash_clientside.set_props('want-overview',
          {data: {region: arguments[0], panel: null, batch: b}});
      }""", CITY)
    wait_for(lambda: browser.execute_script(HISTORY_JS) <= 20, 5, "history trimmed")
    # Nothing else moved: the panel still shows the city, the page logged no error.
    time.sleep(1.0)
    assert filled(browser, "overview", CITY)
    assert browser.execute_script(HISTORY_JS) <= 20
    assert severe_logs(browser) == []
