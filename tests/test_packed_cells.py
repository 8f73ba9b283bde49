"""Cells sent as compact JSON (layouts/widgets.py `pack`, `packed`; drawn by assets/cells.js)."""

from __future__ import annotations

import json

import pytest
from dash import dcc, html

from layouts.widgets import pack, packed, packed_cells


def test_pack_hand_made_tree() -> None:
    """Tags, classes, whitelisted styles, data-code and in-app links, children in order."""
    tree = html.Li([
        html.Span("1", className="rank-no"),
        html.Span(dcc.Link("蜀山区", href="/region/340104000000?panel=overview",
                           className="drill"), **{"data-code": "340104000000"}),
        html.Span(html.Span(className="rank-fill", style={"width": "50.0%"}),
                  className="rank-bar"),
        None,
        html.Span(12, className="rank-val"),
    ], className="rank-row")
    assert pack(tree) == [
        "li", {"c": "rank-row"},
        ["span", {"c": "rank-no"}, "1"],
        ["span", {"d": "340104000000"},
         ["a", {"c": "drill", "h": "/region/340104000000?panel=overview", "n": 1}, "蜀山区"]],
        ["span", {"c": "rank-bar"}, ["span", {"c": "rank-fill", "s": {"width": "50.0%"}}]],
        ["span", {"c": "rank-val"}, "12"],
    ]


def test_packed_keeps_text_literal_and_readable() -> None:
    """One Div whose data-tree is JSON with names and `<3` as plain, unescaped text."""
    div = packed([html.H3("重点群体", className="cell-title"),
                  html.Table(html.Tbody(html.Tr([html.Td("<3"), html.Td("合肥市")])))])
    props = div.to_plotly_json()["props"]
    assert props["className"] == "packed" and props.get("children") is None
    raw = props["data-tree"]
    assert "<3" in raw and "合肥市" in raw
    assert json.loads(raw) == [
        ["h3", {"c": "cell-title"}, "重点群体"],
        ["table", 0, ["tbody", 0, ["tr", 0, ["td", 0, "<3"], ["td", 0, "合肥市"]]]],
    ]
    # A single component is one node; nothing at all is an empty list.
    assert json.loads(packed(html.B("x")).to_plotly_json()["props"]["data-tree"]) == [
        ["b", 0, "x"]]
    assert json.loads(packed(None).to_plotly_json()["props"]["data-tree"]) == []


def test_pack_refuses_what_it_cannot_draw() -> None:
    """A chart or an unknown tag inside a cell is an error, not a silently empty cell."""
    with pytest.raises(TypeError):
        pack(dcc.Graph(id="g"))
    with pytest.raises(TypeError):
        pack(html.Iframe(src="/x"))
    with pytest.raises(TypeError):
        pack(object())
    # Props and styles the drawing does not carry are refused rather than dropped.
    with pytest.raises(TypeError, match="title"):
        pack(html.Span("x", title="tip"))
    with pytest.raises(TypeError, match="style.color"):
        pack(html.Span("x", style={"width": "1%", "color": "red"}))


def test_packed_cells_packs_every_cell() -> None:
    """Every cell of a render() result becomes one packed Div."""
    out = packed_cells({"a": html.Div("x"), "b": [html.Span("y")]})
    assert set(out) == {"a", "b"}
    assert all(v.className == "packed" for v in out.values())
