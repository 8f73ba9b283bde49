"""No query value blanks a page: odd numbers (inf, nan, 1e400, huge, garbage) use defaults."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlencode

import plotly
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dashboard.pages import _int, parse_query, route
from tests import pii
from tests.test_wall_present import CITY, COMM, COUNTY, client  # noqa: F401 - fixture

NUMERIC = ("dwell", "w", "h", "poll")
OTHER = ("panels", "tour", "lang", "theme", "reload_at", "sync", "tile", "pos", "panel",
         "token", "q")
ODD = ["inf", "-inf", "+inf", "Infinity", "-Infinity", "nan", "NaN", "-nan", "1e400",
       "-1e400", "1e308", "1.7976931348623157e308", "9" * 400, "9" * 64, "9" * 4400, "0",
       "-0", "1.5", "0x10", "1_000", "", " ", "\x00", "\u0000inf", "２０", "٣", "1e-400",
       "-1", "abc", "%", "[]", "{}", "None", "true", "2**1000", "1e", "..", "5 5",
       "\t20\n", "=HYPERLINK(\"http://x\")"]
value = st.one_of(
    st.sampled_from(ODD),
    st.integers().map(str),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=40),
)
query = st.dictionaries(st.sampled_from(NUMERIC + OTHER), value, max_size=8)
PAGES = [f"/wall/{CITY}", f"/wall/{COMM}", f"/region/{COUNTY}", f"/embed/overview/{CITY}",
         f"/embed/circle/{COMM}"]


@given(raw=st.one_of(value, st.none(), st.floats(), st.integers(), st.booleans()),
       default=st.integers(2, 100), lo=st.integers(-100, 50), span=st.integers(0, 10**6))
@example(raw="inf", default=20, lo=2, span=3598)
@example(raw="1e400", default=20, lo=2, span=3598)
@example(raw="nan", default=20, lo=2, span=3598)
@example(raw="9" * 5000, default=20, lo=2, span=3598)
def test_int_is_total_and_bounded(raw: Any, default: int, lo: int, span: int) -> None:
    """_int never raises; it gives default for non-numbers, else a value in lo..hi."""
    hi = lo + span
    out = _int(raw, default, lo, hi)
    assert isinstance(out, int) and not isinstance(out, bool)
    try:
        number = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError, AttributeError):
        number = math.nan
    if raw is None or isinstance(raw, bool) or not math.isfinite(number) or (
            isinstance(raw, str) and len(raw) > 64):
        assert out == default
    else:
        assert lo <= out <= hi


@pytest.mark.parametrize("raw,expected", [
    ("inf", 20), ("-inf", 20), ("nan", 20), ("1e400", 20), ("9" * 5000, 20), ("abc", 20),
    ("", 20), ("5", 5), ("7.9", 7), ("1", 2), ("99999", 3600), ("1e300", 3600), ("-5", 2),
])
def test_int_examples(raw: str, expected: int) -> None:
    """The dwell parameter's bounds: default 20, 2..3600."""
    assert _int(raw, 20, 2, 3600) == expected


@settings(max_examples=300, deadline=None)
@given(search=st.one_of(st.text(max_size=200), query.map(lambda q: "?" + urlencode(q))))
def test_parse_query_is_total(search: str) -> None:
    """Any query string parses into a str → str dict."""
    parsed = parse_query(search)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())


def _render(page: Any) -> str:
    """The page as the JSON Dash would send (fails on anything not serialisable)."""
    return json.dumps(page, cls=plotly.utils.PlotlyJSONEncoder)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PAGES), q=query)
@example(path=f"/wall/{CITY}", q={"dwell": "inf"})
@example(path=f"/wall/{CITY}", q={"dwell": "1e400", "w": "inf", "h": "inf", "poll": "inf"})
@example(path=f"/wall/{CITY}", q={"w": "nan", "h": "-inf", "poll": "nan"})
@example(path=f"/wall/{CITY}", q={"w": "0", "h": "0"})
@example(path=f"/wall/{CITY}", q={"dwell": "9" * 5000, "poll": "-1e400"})
def test_route_renders_for_any_query(client: Any, path: str, q: dict[str, str]) -> None:  # noqa: F811
    """The route function returns a serialisable page of the right kind for any query."""
    app, _c = client
    with app.server.test_request_context("/"):
        page, view, target = route(path, "?" + urlencode(q), None)
    kind = path.split("/")[1]
    assert view["kind"] == kind and target["region"] == path.rsplit("/", 1)[-1]
    text = _render(page)
    assert text and "null" != text


def _route_output_key(app: Any) -> str:
    return next(k for k in app.callback_map if "page.children" in k and "target.data" in k)


def _post_route(app: Any, c: Any, path: str, search: str) -> Any:
    """The route callback over HTTP, as the browser calls it on first load."""
    return c.post("/_dash-update-component", json={
        "output": _route_output_key(app),
        "outputs": [{"id": "page", "property": "children"},
                    {"id": "view", "property": "data"},
                    {"id": "target", "property": "data"}],
        "inputs": [{"id": "url", "property": "pathname", "value": path},
                   {"id": "url", "property": "search", "value": search}],
        "changedPropIds": ["url.pathname", "url.search"],
        "state": [{"id": "view", "property": "data", "value": None}],
    })


# (The callback's access check answers 400 to a search over 4096 characters: a guard of
# its own, so the huge numbers here stay below that.)
SEARCHES = ["?dwell=inf", "?dwell=1e400", "?w=inf", "?h=inf", "?poll=inf",
            "?dwell=nan&w=-inf", "?dwell=" + "9" * 4000, "?w=0&h=0", "?poll=%00",
            "?dwell=%E2%88%9E", "?h=1e-400", "?w=" + "9" * 400 + "&h=-" + "9" * 400]


@pytest.mark.parametrize("search", SEARCHES, ids=[s[:24] for s in SEARCHES])
def test_route_callback_never_500(client: Any, search: str) -> None:  # noqa: F811
    """`/wall/<root>?dwell=inf` and friends: the callback answers 200 with the wall."""
    app, c = client
    resp = _post_route(app, c, f"/wall/{CITY}", search)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    body = resp.get_json()
    assert body["response"]["view"]["data"]["kind"] == "wall"
    assert body["response"]["target"]["data"]["region"] == CITY


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PAGES), q=query.filter(
    # The view store echoes the caller's own query; an 18-digit integer drawn here would
    # read as an identity number to the suite's personal-data scan of every response.
    lambda q: len(urlencode(q)) < 4000 and not any(pii.scan_text(v) for v in q.values())))
def test_route_callback_property(client: Any, path: str, q: dict[str, str]) -> None:  # noqa: F811
    """Through HTTP too: any query on a known page answers 200 with that page's kind."""
    app, c = client
    resp = _post_route(app, c, path, "?" + urlencode(q))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.get_json()["response"]["view"]["data"]["kind"] == path.split("/")[1]
