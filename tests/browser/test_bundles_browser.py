"""The partial plotly.js in a real browser: dcc.Graph draws with it, plotly.min.js never loads."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.conftest import CITY, severe_logs, show_tab, wait_for

pytestmark = pytest.mark.browser

DRAWN_TYPES = {"bar", "scatter", "indicator"}
DRAWN_JS = """
var out = {};
document.querySelectorAll('[data-panel] .js-plotly-plot').forEach(function (gd) {
  var p = gd.closest('[data-panel]').getAttribute('data-panel');
  var svg = !!gd.querySelector('.main-svg');
  (gd._fullData || []).forEach(function (t) { out[p + ':' + t.type] = svg; });
});
return out;
"""


def test_graphs_draw_with_the_partial_bundle(browser: Any) -> None:
    """Every panel's traces draw; only the partial bundle loads (pie: layouts' donut, unused)."""
    from plotly.offline import get_plotlyjs_version

    # The region page asks for the panel its tab shows: open each tab in turn.
    browser.get(f"{browser.base}/region/{CITY}")
    for pid in ("overview", "placements", "vacancies", "key_groups", "circle"):
        show_tab(browser, pid, CITY)

    def kinds() -> dict[str, bool] | None:
        d = browser.execute_script(DRAWN_JS)
        return d if {k.split(":")[1] for k in d} >= DRAWN_TYPES else None

    drawn = wait_for(kinds, 30, "traces drawn")
    assert all(drawn.values()), drawn
    assert browser.execute_script("return window.Plotly.version") == get_plotlyjs_version()
    time.sleep(1.0)
    names = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert any("/_vendor/plotly-wall." in n for n in names)
    assert not any("plotly.min.js" in n for n in names), names
    assert severe_logs(browser) == []
