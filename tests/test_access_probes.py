"""Access probed as an attacker would, over real HTTP (issue: access that trusts nothing).

Each test here failed on the code that read scope from the ids and names a client writes:
renamed callback inputs, panel names in the body, a cache key without the caller's scope,
hidden counts recovered by subtraction, and malformed or oversized bodies.
"""

from __future__ import annotations

import copy
import html
import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.tokens import in_subtree
from queries.snapshots import latest_batch, region_index, region_with_children
from tests import test_access
from tests.httpserver import callback_body
from tests.test_access import CITY, SHUSHAN, YAOHAI, tok

# The same served demo as tests/test_access.py (a fresh instance for this module).
site = test_access.site
_fresh_memo = test_access._fresh_memo

CB = "/_dash-update-component"


def post(site: dict, body: Any, token: str | None = None, raw: bytes | None = None,
         path: str = CB) -> requests.Response:
    """POST a callback (or any) body with a bearer token."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(site["base"] + path, data=data, headers=headers, timeout=120)


def text_of(resp: requests.Response) -> str:
    """The response body with JSON escapes undone (names may come as \\uXXXX)."""
    try:
        return json.dumps(resp.json(), ensure_ascii=False)
    except ValueError:
        return resp.text


@pytest.fixture(scope="module")
def geo(site: dict) -> dict[str, Any]:
    """Region codes and names of the demo: a township and a community inside 蜀山区."""
    engine = site["engine"]
    batch = latest_batch(engine).id
    town = region_with_children(engine, batch, SHUSHAN)[1][0]["code"]
    community = region_with_children(engine, batch, town)[1][0]["code"]
    other_county_comm = region_with_children(
        engine, batch, region_with_children(engine, batch, YAOHAI)[1][0]["code"])[1][0]["code"]
    index = region_index(engine, batch)
    return {"batch": batch, "town": town, "community": community,
            "other_comm": other_county_comm, "index": index,
            "city_name": next(r["name"] for r in index if r["code"] == CITY)}


def panel_body(site: dict, geo: dict, panel: str, region: str, kind: str = "wall",
               target_panel: str | None = "same", view_extra: dict | None = None) -> dict:
    """A well-formed panel callback body."""
    return callback_body(
        site["deps"], f"{panel}-c-kpis",
        {"target": {"region": region, "panel": panel if target_panel == "same" else
                    target_panel}, "batch": geo["batch"]},
        {"view": {"kind": kind, "lang": "zh", "theme": "dark", **(view_extra or {})}})


# ------------------------------------------------------------------ 1. renamed inputs
@pytest.mark.parametrize("renamed", ["x", "Target", "target ", {"type": "target"}, "view",
                                     "url"])
def test_a_renamed_callback_input_cannot_reach_another_region(site: dict, geo: dict,
                                                              renamed: Any) -> None:
    wall = tok(site, geo["town"], "wall")
    leader = tok(site, SHUSHAN, "leader")
    for token, region in ((wall, CITY), (wall, geo["other_comm"]), (leader, CITY)):
        body = panel_body(site, geo, "overview", region, target_panel=None)
        honest = post(site, body, token)
        assert honest.status_code == 403, honest.text[:200]
        body["inputs"][0]["id"] = renamed
        r = post(site, body, token)
        assert r.status_code == 400, (renamed, r.status_code, r.text[:200])
        assert geo["city_name"] not in text_of(r)


def test_moved_or_extra_inputs_do_not_match_the_callback(site: dict, geo: dict) -> None:
    wall = tok(site, geo["town"], "wall")
    body = panel_body(site, geo, "overview", CITY)
    swapped = copy.deepcopy(body)
    # A panel callback has one input (its want store) and one state (view): trade them.
    swapped["inputs"], swapped["state"] = swapped["state"], swapped["inputs"]
    extra = copy.deepcopy(body)
    extra["inputs"].append({"id": "x", "property": "data", "value": 1})
    other_output = copy.deepcopy(body)
    other_output["output"] = next(d["output"] for d in site["deps"]
                                  if "key_groups-c-table" in d["output"])
    unknown_key = {**copy.deepcopy(body), "extra": True}
    clientside = {**copy.deepcopy(body), "output": "deck.data-active",
                  "outputs": {"id": "deck", "property": "data-active"}}
    for bad in (swapped, extra, other_output, unknown_key, clientside):
        r = post(site, bad, wall)
        assert r.status_code == 400, r.text[:200]


def test_a_wall_token_cannot_render_the_region_shell(site: dict, geo: dict) -> None:
    wall = tok(site, geo["town"], "wall")
    leader = tok(site, geo["town"], "leader")

    def route(pathname: str) -> dict:
        return callback_body(site["deps"], "page.children",
                             {"url": pathname}, {"view": None}) | {
            "inputs": [{"id": "url", "property": "pathname", "value": pathname},
                       {"id": "url", "property": "search", "value": ""}]}

    assert post(site, route(f"/wall/{geo['town']}"), wall).status_code == 200
    assert post(site, route(f"/region/{geo['town']}"), wall).status_code == 403
    assert post(site, route(f"/region/{geo['town']}"), leader).status_code == 200
    assert post(site, route(f"/wall/{CITY}"), wall).status_code == 403
    # The route's view state may not carry a token of another kind past the check either.
    r = post(site, route(f"/region/{geo['town']}") | {
        "state": [{"id": "view", "property": "data", "value": {"tok": leader}}]}, wall)
    assert r.status_code == 403


# ------------------------------------------------------------------ 2. embed panel list
@pytest.mark.parametrize("claimed", [None, "overview", "key_groups", ""])
def test_an_embed_panel_list_is_decided_by_the_output(site: dict, geo: dict,
                                                      claimed: str | None) -> None:
    embed = tok(site, CITY, "embed", panels=["overview"])
    ok = post(site, panel_body(site, geo, "overview", CITY, "embed", claimed), embed)
    assert ok.status_code == 200
    r = post(site, panel_body(site, geo, "key_groups", CITY, "embed", claimed), embed)
    assert r.status_code == 403, r.text[:200]


# ------------------------------------------------------------------ 4. cache and scope
def test_the_callback_cache_never_crosses_scopes(site: dict, geo: dict) -> None:
    city_leader = tok(site, CITY, "leader")
    shushan_leader = tok(site, SHUSHAN, "leader")
    body = callback_body(site["deps"], "search.options", {"search": "街道"},
                         {"view": {"kind": "region", "lang": "zh"}})
    body["inputs"] = [{"id": "search", "property": "search_value", "value": "街道"}]
    wide = post(site, body, city_leader)
    assert wide.status_code == 200
    wide_codes = [o["value"] for o in wide.json()["response"]["search"]["options"]]
    assert any(not in_subtree(c, SHUSHAN) for c in wide_codes)
    narrow = post(site, body, shushan_leader)  # the same bytes, a narrower token
    assert narrow.status_code == 200
    codes = [o["value"] for o in narrow.json()["response"]["search"]["options"]]
    assert codes and all(in_subtree(c, SHUSHAN) for c in codes)


def test_a_wall_header_leaves_out_ancestors_above_the_token(site: dict, geo: dict) -> None:
    wall = tok(site, geo["town"], "wall")
    body = callback_body(site["deps"], "hdr-name", {"target": {"region": geo["community"]},
                                                    "batch": geo["batch"]},
                         {"view": {"kind": "wall", "lang": "zh"}})
    r = post(site, body, wall)
    assert r.status_code == 200
    assert geo["city_name"] not in text_of(r)
    town_name = next(x["name"] for x in geo["index"] if x["code"] == geo["town"])
    assert town_name in text_of(r)


# ------------------------------------------------------------------ 5. subtraction
def _domain(text: str, cap: int = 200) -> range:
    """Values a reader may assume for a shown text ("12 · 40%", "<3", "*", "1,234")."""
    text = html.unescape(text).strip()
    if text.startswith("<"):
        return range(1, int(text[1:]))
    if text.startswith("*"):
        return range(0, cap + 1)
    v = int(text.split("·")[0].strip().replace(",", ""))
    return range(v, v + 1)


def _classed(node: Any, cls: str) -> list[str]:
    """Texts of the elements with class `cls` in a Dash component tree (JSON), in order."""
    out: list[str] = []
    if isinstance(node, list):
        for x in node:
            out += _classed(x, cls)
    elif isinstance(node, dict):
        props = node.get("props", {})
        if "data-tree" in props:
            # A cell sent as compact JSON (layouts/widgets.py `packed`): read its tree.
            out += _classed_packed(json.loads(props["data-tree"]), cls)
        elif cls in str(props.get("className", "")).split():
            kids = props.get("children")
            kids = kids if isinstance(kids, list) else [kids]
            # A number sent in two forms (full digits and 万) is read in its full form.
            full = [k for k in kids if isinstance(k, dict)
                    and "n-full" in str(k.get("props", {}).get("className", ""))]
            out.append(str(full[0]["props"]["children"]) if full
                       else "".join(str(k) for k in kids))
        else:
            out += _classed(props.get("children"), cls)
    return out


def _classed_packed(node: Any, cls: str) -> list[str]:
    """`_classed` over a packed cell: nodes are text or [tag, attrs or 0, *children]."""
    if isinstance(node, str) or not node:
        return []
    if not isinstance(node[0], str):  # a list of nodes
        return [t for x in node for t in _classed_packed(x, cls)]
    attrs, kids = node[1] or {}, node[2:]
    if cls not in str(attrs.get("c", "")).split():
        return [t for x in kids for t in _classed_packed(x, cls)]
    full = [k for k in kids if isinstance(k, list) and "n-full" in str((k[1] or {}).get("c", ""))]
    return ["".join(x for x in full[0][2:] if isinstance(x, str)) if full
            else "".join(x for x in kids if isinstance(x, str))]


def test_hidden_counts_cannot_be_recovered_by_subtraction(site: dict, geo: dict) -> None:
    """Each <3 form on a public wall has ≥ 2 values consistent with everything shown."""
    from tests.test_disclosure import _feasible, _possible

    engine = site["engine"]
    wall = tok(site, CITY, "wall")
    checked = 0
    for r in geo["index"]:
        if r["level"] != "community":
            continue
        m = region_with_children(engine, geo["batch"], r["code"])[0]["metrics"]
        if not any(v in (1, 2) for k, v in m.items() if k.startswith("placements.by_form.")):
            continue
        resp = post(site, callback_body(
            site["deps"], "placements-c-kpis",
            {"target": {"region": r["code"], "panel": "placements"}, "batch": geo["batch"]},
            {"view": {"kind": "wall", "lang": "zh"}}), wall)
        assert resp.status_code == 200
        out = resp.json()["response"]
        forms = [_domain(str(x)) for x in out["placements-g-forms"]["figure"]["data"][0]["text"]]
        trend = [_domain(str(x)) for x in out["placements-g-trend"]["figure"]["data"][0]["text"]]
        kpis = _classed(out["placements-c-kpis"]["children"], "kpi-value")
        month_kpi, year = _domain(kpis[1]), _domain(kpis[2])
        months = trend[-4:]  # T is 2026-04-30: January..April are the year's months
        months[-1] = range(max(months[-1].start, month_kpi.start),
                           min(months[-1].stop, month_kpi.stop))
        for i, dom in enumerate(forms):
            if dom == range(1, 3):
                values = _possible(year, forms, i, lambda t, ms=months: _feasible(t, ms))
                assert len(values) >= 2, (r["code"], forms, year, months)
        checked += 1
        if checked >= 25:
            break
    assert checked >= 5, "demo data has too few communities with a small form"


# ------------------------------------------------------------------ 7. malformed bodies
def test_malformed_and_oversized_requests_are_4xx(site: dict, geo: dict) -> None:
    leader = tok(site, CITY, "leader")
    exchange = tok(site, SHUSHAN, "exchange")
    deep = b"[" * 5000 + b"]" * 5000
    cases = [
        (CB, b"{}", leader, 400),
        (CB, json.dumps({"output": "nope.children", "outputs": {"id": "nope",
                                                                 "property": "children"},
                         "inputs": []}).encode(), leader, 400),
        (CB, deep, leader, 400),
        (CB, b'{"output":' + b"[" * 5000, leader, 400),
        (CB, b"{" + b" " * (1024 * 1024) + b"}", leader, 413),
        (CB, b"{" + b" " * (1024 * 1024) + b"}", None, 413),
        ("/api/v1/exchange/persons", b"[" * 100_000, exchange, 400),
        ("/api/v1/exchange/persons", deep, exchange, 400),
        ("/api/v1/exchange/persons", b"[" + b" " * (40 * 1024 * 1024) + b"]", exchange, 413),
    ]
    for path, raw, token, status in cases:
        r = post(site, None, token, raw=raw, path=path)
        assert r.status_code == status, (path, raw[:30], r.status_code, r.text[:200])
        assert r.headers["Content-Type"].startswith("application/json")
        assert "error" in r.json() and "Traceback" not in r.text


@pytest.mark.parametrize("path,limit", [(CB, 64 * 1024),
                                        ("/api/v1/exchange/persons", 32 * 1024 * 1024)])
def test_chunked_bodies_over_the_limit_are_413_and_up_to_it_are_read(
        site: dict, path: str, limit: int) -> None:
    """A body sent without Content-Length is held to the same limit as one with it.

    werkzeug stops reading a chunked body at the limit without an error, so a body cut short
    used to reach the JSON parser and come back as 400 "malformed".
    """
    from dashboard import access

    assert limit == (access.CALLBACK_MAX_BYTES if path == CB else access.EXCHANGE_MAX_BYTES)
    token = tok(site, CITY, "leader") if path == CB else tok(site, SHUSHAN, "exchange")

    def chunked(n: int) -> requests.Response:
        body = b"[" + b" " * (n - 2) + b"]"

        def pieces() -> Any:  # a generator: requests sends it chunked, with no length
            for i in range(0, len(body), 16 * 1024):
                yield body[i:i + 16 * 1024]

        return requests.post(site["base"] + path, data=pieces(), timeout=120, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})

    for n in (limit + 1, limit + 4096, 3 * limit):
        r = chunked(n)
        assert r.status_code == 413, (n, r.status_code, r.text[:200])
        assert "error" in r.json()
    for n in (limit - 1, limit):
        r = chunked(n)
        # Read whole: an empty array is no callback (400) and no records (200), never 413.
        assert r.status_code != 413, (n, r.text[:200])
        assert "malformed JSON" not in r.text, (n, r.text[:200])


def test_an_absurd_number_rejects_its_record_not_the_request(site: dict, geo: dict) -> None:
    exchange = tok(site, SHUSHAN, "exchange")
    records = [
        {"household_id": "BIG-1", "community_code": geo["community"]},
        {"household_id": "BIG-2", "community_code": geo["community"],
         "zero_identified_on": "2026-04-01"},
    ]
    raw = json.dumps(records).encode().replace(
        b'"BIG-1"', b'"BIG-1", "extra": ' + b"9" * 5000, 1).replace(
        b'"community_code": "' + geo["community"].encode() + b'", "zero',
        b'"community_code": ' + b"1" * 5000 + b', "zero', 1)
    r = post(site, None, exchange, raw=raw, path="/api/v1/exchange/households")
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["imported"] == 1
    assert [x["index"] for x in body["rejected"]] == [1]


# ------------------------------------------------------------------ fuzz
ROLES = ("wall", "embed", "leader", "exchange")


@pytest.fixture(scope="module")
def fuzz(site: dict, geo: dict) -> dict[str, Any]:
    """Tokens of every role on a township, the server callbacks, forbidden codes and names."""
    scope = geo["town"]
    tokens = {role: tok(site, scope, role) for role in ROLES}
    tokens["embed-overview"] = tok(site, scope, "embed", panels=["overview"])
    inside = [r for r in geo["index"] if in_subtree(r["code"], scope)]
    outside = [r for r in geo["index"] if not in_subtree(r["code"], scope)]
    inside_names = [str(r["name"]) for r in inside]
    names = {str(r["name"]) for r in outside} - set(inside_names)
    # A name that is part of an in-scope name (or of the page's own words) proves nothing.
    names = {n for n in names if len(n) >= 3 and not any(n in x for x in inside_names)}
    deps = [d for d in site["deps"] if not d.get("clientside_function")]
    return {"scope": scope, "tokens": tokens, "deps": deps, "inside": inside,
            "outside": outside, "codes": [r["code"] for r in outside], "names": names}


def _base(dep: dict, code: str, panel: str, batch: int) -> dict:
    values = {
        "url": None, "target": {"region": code, "panel": panel}, "batch": batch,
        "view": {"kind": "wall", "lang": "zh"}, "search": code,
    }
    body = callback_body([dep], dep["output"], values, values)
    for item in body["inputs"]:
        if item["id"] == "url":
            item["value"] = f"/wall/{code}" if item["property"] == "pathname" else ""
        if item["id"] == "search" and item["property"] == "search_value":
            item["value"] = "社区"
    return body


WEIRD = st.one_of(
    st.none(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.booleans(),
    st.text(max_size=30), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)


@st.composite
def attack(draw: Any, fx: dict, batch: int) -> tuple[str, dict | list | str]:
    """A role and a mutated body of a registered callback."""
    role = draw(st.sampled_from(sorted(fx["tokens"])))
    dep = draw(st.sampled_from(fx["deps"]))
    all_codes = [r["code"] for r in fx["inside"]] + fx["codes"]
    code = draw(st.sampled_from(all_codes))
    panel = draw(st.sampled_from(["overview", "key_groups", "circle", None, "nope"]))
    body: Any = _base(dep, draw(st.sampled_from([r["code"] for r in fx["inside"]])), "overview",
                      batch)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["id", "value", "region", "output", "drop", "add", "wrap",
                                    "path", "outputs"]))
        items = [x for key in ("inputs", "state") if isinstance(body, dict)
                 and isinstance(body.get(key), list) for x in body[key] if isinstance(x, dict)]
        if how == "id" and items:
            item = draw(st.sampled_from(items))
            item["id"] = draw(st.sampled_from(["x", "Target", "target ", "url", "view", "search",
                                               "batch", {"type": "target"}, ""]))
        elif how == "value" and items:
            draw(st.sampled_from(items))["value"] = draw(WEIRD)
        elif how == "region" and items:
            item = draw(st.sampled_from(items))
            item["value"] = draw(st.sampled_from([
                {"region": code, "panel": panel}, code, f"/wall/{code}", f"/region/{code}",
                f"/embed/{panel}/{code}", {"code": code, "kind": "region", "tok": None},
                f"?panel={panel}&dwell=inf&w=inf"]))
        elif how == "output" and isinstance(body, dict):
            other = draw(st.sampled_from(fx["deps"]))
            body["output"] = draw(st.sampled_from([other["output"], "x.y", "", 5]))
        elif how == "outputs" and isinstance(body, dict):
            body["outputs"] = draw(st.sampled_from([[], {"id": "x", "property": "y"}, None]))
        elif how == "drop" and isinstance(body, dict) and body:
            body.pop(draw(st.sampled_from(sorted(body))))
        elif how == "add" and isinstance(body, dict):
            body[draw(st.sampled_from(["state", "inputs", "extra", "changedPropIds"]))] = \
                draw(WEIRD)
        elif how == "wrap":
            body = draw(st.sampled_from([[body], {"body": body}, json.dumps(body)]))
        elif how == "path" and items:
            draw(st.sampled_from(items))["property"] = draw(st.sampled_from(
                ["data", "pathname", "search", "value", "children"]))
    return role, body


def test_fuzzed_callbacks_never_leak_or_fail(site: dict, geo: dict, fuzz: dict) -> None:
    """Every registered callback, every role, mutated ids, values, outputs and structure."""
    seen = {"ok": 0, "denied": 0}

    @settings(max_examples=250, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(attack(fuzz, geo["batch"]))
    def run(case: tuple[str, Any]) -> None:
        role, body = case
        r = post(site, body, fuzz["tokens"][role])
        assert r.status_code < 500, (role, body, r.text[:300])
        if r.status_code == 200:
            seen["ok"] += 1
            text = text_of(r)
            leaked = [c for c in fuzz["codes"] if c in text]
            assert not leaked, (role, body, leaked[:5])
            names = [n for n in fuzz["names"] if n in text]
            assert not names, (role, body, names[:5])
        else:
            seen["denied"] += 1

    run()
    assert seen["ok"] and seen["denied"]


def test_honest_callbacks_of_every_role_show_only_their_subtree(site: dict, geo: dict,
                                                                fuzz: dict) -> None:
    """The unmutated requests: in-scope answers for the roles that may ask, none leaking."""
    answered = 0
    for role, token in fuzz["tokens"].items():
        for dep in fuzz["deps"]:
            for code in (fuzz["scope"], geo["community"]):
                r = post(site, _base(dep, code, "overview", geo["batch"]), token)
                assert r.status_code in (200, 204, 403), (role, dep["output"], r.text[:200])
                if r.status_code == 200:
                    answered += 1
                    text = text_of(r)
                    assert not [c for c in fuzz["codes"] if c in text], (role, dep["output"])
                    assert not [n for n in fuzz["names"] if n in text], (role, dep["output"])
    assert answered >= 10

