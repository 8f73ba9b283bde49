"""Shared pieces of every panel: frame, KPI counter, ranking bars, ticker, figure styling."""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html
from dash.development.base_component import Component

from layouts.i18n import t

FONT_FAMILY = '"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif'
PALETTE = ["#2fd3ff", "#ffc53d", "#5cf2a6", "#ff7a6b", "#a78bfa", "#4c8dff", "#f472b6"]
GRAPH_CONFIG = {"displayModeBar": False, "responsive": True, "staticPlot": False}
# The wall is never hovered or dragged: a static plot draws no drag layers or hover handlers.
WALL_GRAPH_CONFIG = {**GRAPH_CONFIG, "staticPlot": True}

# Plotly font sizes per page kind: the wall is read from metres away, embeds are small.
FONT_SIZE = {"wall": 22, "region": 14, "embed": 13}


def plain(text: Any, *, breaks: bool = False) -> str:
    """Text for any Plotly string: HTML-like tags and entities shown literally, not rendered.

    Plotly reads `<a>`, `<span style>`, `<b>`… in trace text, labels, ticks, hover text,
    annotations and titles, and decodes `&lt;`, `&gt;`, `&amp;`. Every data-driven string
    placed in a figure goes through here. With `breaks`, `<br>` (the only markup the
    panels add themselves, e.g. under month labels) stays a line break.
    """
    if text is None:
        return ""
    s = str(text)
    if breaks:
        return "<br>".join(plain(part) for part in s.split("<br>"))
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _has_markup(s: str) -> bool:
    """Whether a string holds an angle bracket other than a `<br>` line break."""
    return "<" in s.replace("<br>", "") or ">" in s.replace("<br>", "")


def plain_figure(obj: Any) -> Any:
    """Safety net over a whole figure dict: any string still holding a tag is escaped."""
    if isinstance(obj, str):
        return plain(obj, breaks=True) if _has_markup(obj) else obj
    if isinstance(obj, dict):
        return {k: plain_figure(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain_figure(v) for v in obj]
    return obj


def cell_id(panel: str, cell: str) -> str:
    """Component id of an HTML cell of a panel (ids are prefixed per panel)."""
    return f"{panel}-c-{cell}"


def graph_id(panel: str, name: str) -> str:
    """Component id of a graph of a panel."""
    return f"{panel}-g-{name}"


def frame(panel: str, ctx: dict[str, Any], body: list[Any]) -> html.Section:
    """A panel's root: data-panel/data-region markup, title bar with the as-of time, body."""
    return html.Section(
        id=f"panel-{panel}",
        className="panel",
        **{"data-panel": panel, "data-region": ctx.get("region") or ""},
        children=[
            html.Header(
                className="panel-head",
                children=[
                    html.H2(t(f"panel.{panel}", ctx["lang"]), className="panel-title"),
                    html.Span(id=f"{panel}-region", className="panel-region"),
                    html.Span(id=f"{panel}-asof", className="as-of"),
                ],
            ),
            html.Div(className=f"panel-body grid-{panel}", children=body),
        ],
    )


def cell(panel: str, name: str, title: str | None = None, extra: str = "") -> html.Div:
    """An HTML cell whose content the panel callback fills."""
    kids: list[Any] = []
    if title:
        kids.append(html.H3(title, className="cell-title", id=f"{panel}-t-{name}"))
    kids.append(html.Div(id=cell_id(panel, name), className="cell-content"))
    return html.Div(kids, className=f"cell cell-{name} {extra}".strip())


def graph_cell(panel: str, name: str, title: str, extra: str = "", *,
               mode: str | None = None) -> html.Div:
    """A cell holding one mounted dcc.Graph; its figure is updated in place.

    With `mode="wall"` the plot is static (nothing on a wall is hovered or dragged).
    """
    return html.Div(
        [
            html.H3(title, className="cell-title"),
            html.Div(
                dcc.Graph(
                    id=graph_id(panel, name),
                    config=WALL_GRAPH_CONFIG if mode == "wall" else GRAPH_CONFIG,
                    responsive=True,
                    style={"height": "100%", "width": "100%"},
                    figure=empty_figure(),
                ),
                className="graph-wrap",
            ),
        ],
        className=f"cell cell-{name} {extra}".strip(),
    )


# ---------------------------------------------------------------- cells drawn clientside
# Every Dash component a callback returns is crawled, indexed and wrapped by the Dash
# renderer, and every mounted one is visited by its store selectors on each update: a wall
# with ~1,100 of them spent most of a region change there (bench/RESULTS.md, issue 9). A
# cell's content is therefore sent as one component carrying a compact JSON tree that
# assets/cells.js draws (text only through textContent, tags and attributes whitelisted).
PACKED_TAGS = frozenset({
    "div", "span", "b", "small", "h3", "ul", "ol", "li", "dl", "dt", "dd",
    "table", "thead", "tbody", "tr", "th", "td", "time", "a",
})
PACKED_STYLE = frozenset({"width", "left", "animationDuration"})
PACKED_PROPS = frozenset({"children", "className", "style", "data-code", "dateTime"})


def pack(obj: Any) -> Any:
    """A component tree as compact JSON: text, or [tag, attrs (or 0), *children].

    attrs: `c` class, `s` style (whitelisted keys), `d` data-code, `h` href and `n` 1 for a
    dcc.Link (drawn as a link that navigates inside the app).
    """
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return str(obj)
    if isinstance(obj, list | tuple):
        return [p for p in (pack(o) for o in obj) if p is not None]
    if not isinstance(obj, Component):
        raise TypeError(f"cannot pack {type(obj).__name__}")
    props = obj.to_plotly_json()["props"]
    link = obj._type == "Link"
    tag = "a" if link else obj._type.lower()
    if tag not in PACKED_TAGS:
        raise TypeError(f"cannot pack a {obj._type}")
    # Anything the drawing would drop is refused here, loudly, rather than lost on screen.
    unknown = set(props) - PACKED_PROPS - ({"href"} if link else set())
    unknown |= {f"style.{k}" for k in props.get("style") or {} if k not in PACKED_STYLE}
    if unknown:
        raise TypeError(f"cannot pack {obj._type} with {sorted(unknown)}: "
                        "add it to PACKED_PROPS/PACKED_STYLE and assets/cells.js")
    attrs: dict[str, Any] = {}
    if props.get("className"):
        attrs["c"] = props["className"]
    if props.get("style"):
        attrs["s"] = props["style"]
    if props.get("data-code"):
        attrs["d"] = str(props["data-code"])
    if link:
        attrs["h"], attrs["n"] = props.get("href") or "", 1
    elif props.get("dateTime"):
        attrs["t"] = str(props["dateTime"])
    children = props.get("children")
    kids = pack(children)
    if kids is None:
        kids = []
    elif not isinstance(children, list | tuple):
        kids = [kids]
    return [tag, attrs or 0, *kids]


def packed(content: Any) -> html.Div:
    """One component holding a cell's content as JSON for assets/cells.js to draw.

    The wrapper has `display: contents` (wall.css), so the drawn nodes lay out as if they
    were the cell's own children.
    """
    tree = pack(content)
    nodes = tree if isinstance(content, list | tuple) else [] if tree is None else [tree]
    return html.Div(className="packed",
                    **{"data-tree": json.dumps(nodes, ensure_ascii=False,
                                               separators=(",", ":"))})


def packed_cells(cells: dict[str, Any]) -> dict[str, Any]:
    """Every cell of a panel's render() packed (see `packed`)."""
    return {name: packed(content) for name, content in cells.items()}


# A count as present() writes it: "13,652", "1234.6万", "2.50亿" (zh) or "123k", "2.50M" (en).
COUNT_RE = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})*|\d+(?:\.\d+)?[万亿kM])$")


def split_word(s: str) -> tuple[str, str]:
    """Digits and a trailing 万/亿 ("1234.6万" → ("1234.6", "万")): the word sits by the unit."""
    if COUNT_RE.match(s) and s[-1] in "万亿":
        return s[:-1], s[-1]
    return s, ""


def _trim(x: float, decimals: int) -> str:
    """A number with at most `decimals` decimals, trailing zeros dropped."""
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def compact(v: Any, s: str, lang: str = "zh") -> tuple[str, str] | None:
    """A shorter (digits, word) form of a count for a box too narrow for its full digits.

    "13,652" → ("1.37", "万"), "1234.6万" → ("1235", "万"); English "13,652" → ("13.7k", "").
    None when the text is not a count or the short form would not be shorter.
    """
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
        return None
    if not COUNT_RE.match(s or ""):
        return None
    digits, _ = split_word(s)
    a = abs(v)
    if lang == "en":
        if not 1e4 <= a < 1e6:
            return None
        alt = (_trim(v / 1e3, 1 if a < 1e5 else 0) + "k", "")
    elif a >= 1e8:
        alt = (_trim(v / 1e8, 2 if a < 1e9 else 1 if a < 1e10 else 0), "亿")
    elif a >= 1e4:
        alt = (_trim(v / 1e4, 2 if a < 1e5 else 1 if a < 1e6 else 0), "万")
    else:
        return None
    return alt if len(alt[0]) < len(digits) else None


def number(value: dict[str, Any] | str, lang: str = "zh") -> tuple[Any, list[Any]]:
    """Children of a number and of the word before its unit: full and short forms.

    Both forms are in the page; the clientside fitter (assets/wall.js) shows the short one
    (class `n-alt`) only when the full digits would not fit their box even when shrunk.
    """
    if isinstance(value, dict):
        v, s = value.get("v"), str(value.get("s") or "")
    else:
        v, s = None, str(value)
    digits, word = split_word(s) if lang != "en" else (s, "")
    alt = compact(v, s, lang)
    if alt is None:
        return digits, [word] if word else []
    main = [html.Span(digits, className="n-full"), html.Span(alt[0], className="n-alt")]
    words = []
    if word:
        words.append(html.Span(word, className="n-full"))
    if alt[1]:
        words.append(html.Span(alt[1], className="n-alt"))
    return main, words


def kpi(label: str, value: dict[str, Any] | str, unit: str = "", *, lang: str = "zh",
        note: str = "", tone: str = "") -> html.Div:
    """A big counter: label, digits (≥ 64px on the wall canvas, shrunk to fit) and unit.

    `value` is a presented cell ({"v", "s"}) or its text; 万/亿 goes beside the unit.
    """
    main, words = number(value, lang)
    unit_kids = [*words, unit] if unit else words
    return html.Div(
        [
            html.Div(label, className="kpi-label"),
            html.Div(
                [html.Span(main, className="kpi-value"),
                 html.Span(unit_kids, className="kpi-unit") if unit_kids else None],
                className="kpi-line fit",
            ),
            html.Div(note, className="kpi-note") if note else None,
        ],
        className=f"kpi {tone}".strip(),
    )


def ranking(
    rows: list[dict[str, Any]],
    ctx: dict[str, Any],
    *,
    limit: int = 12,
    max_value: float | None = None,
) -> html.Div:
    """Horizontal bars of child regions; on the region page names drill down (links)."""
    if not rows:
        return html.Div(t("no_data", ctx["lang"]), className="empty")
    rows = sorted(rows, key=lambda r: -(r.get("v") or 0))
    shown = rows if ctx["mode"] == "region" else rows[:limit]
    top = max_value if max_value else max((r.get("v") or 0) for r in rows) or 1
    items = []
    for i, r in enumerate(shown):
        width = f"{max(0.0, min(1.0, (r.get('v') or 0) / top)) * 100:.1f}%"
        name: Any = r["name"]
        if ctx["mode"] == "region" and r.get("code"):
            panel = ctx.get("panel") or "overview"
            # dcc.Link takes no data-* attributes: the wrapper carries the code.
            name = html.Span(
                dcc.Link(r["name"], href=f"/region/{r['code']}?panel={panel}{ctx['qs']}",
                         className="drill"),
                **{"data-code": r["code"]})
        items.append(
            html.Li(
                [
                    html.Span(str(i + 1), className="rank-no"),
                    html.Span(name, className="rank-name"),
                    html.Span(html.Span(className="rank-fill", style={"width": width}),
                              className="rank-bar"),
                    html.Span(r["s"], className="rank-val"),
                ],
                className="rank-row",
            )
        )
    more = len(rows) - len(shown)
    tail = html.Div(f"… +{more}", className="rank-more") if more > 0 else None
    return html.Div([html.Ol(items, className="ranking"), tail], className="rank-box")


def ticker(rows: list[Any], ctx: dict[str, Any], *, empty: str | None = None) -> html.Div:
    """A vertically scrolling list on the wall (CSS animation), a plain list elsewhere."""
    if not rows:
        return html.Div(empty or t("no_data", ctx["lang"]), className="empty")
    if ctx["mode"] == "wall" and len(rows) > 6:
        # The list is drawn twice so the CSS loop is seamless; speed scales with length.
        return html.Div(
            html.Ul(rows + rows, className="ticker-track",
                    style={"animationDuration": f"{len(rows) * 3}s"}),
            className="ticker is-moving",
        )
    return html.Div(html.Ul(rows, className="ticker-track"), className="ticker")


def detail(pairs: list[tuple[str, str, str]]) -> html.Dl:
    """A label/value list (a community's own figures where a ranking would be)."""
    items: list[Any] = []
    for label, value, unit in pairs:
        items += [html.Dt(label), html.Dd([html.Span(value), html.Small(unit)])]
    return html.Dl(items, className="detail")


def colors(ctx: dict[str, Any]) -> dict[str, str]:
    """Text and grid colours for the current theme."""
    if ctx.get("theme") in ("light", "transparent"):
        return {"text": "#1f2a44", "muted": "#5b6785", "grid": "rgba(0,0,0,0.08)"}
    return {"text": "#e6f1ff", "muted": "#8fa8c8", "grid": "rgba(143,168,200,0.18)"}


def empty_figure() -> dict[str, Any]:
    """A blank, transparent figure for a graph before data arrives."""
    return {
        "data": [],
        "layout": {
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "xaxis": {"visible": False}, "yaxis": {"visible": False},
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        },
    }


_AXIS = re.compile(r"^([xy])axis\d*$")


def merge_layout(into: dict[str, Any], new: dict[str, Any]) -> None:
    """Plotly's update semantics on plain dicts: nested dicts merge, other values replace.

    Plotly's own `update_layout` validates every key path first, which was three quarters
    of a panel's render time; the result is the same dict (tests/test_style_figure.py)."""
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge_layout(into[k], v)
        else:
            into[k] = copy.deepcopy(v) if isinstance(v, dict | list) else v


def style_figure(fig: go.Figure | dict[str, Any], ctx: dict[str, Any],
                 **layout: Any) -> dict[str, Any]:
    """Apply the big-screen look (transparent, large type, no mode bar) and return a dict."""
    c = colors(ctx)
    size = FONT_SIZE.get(ctx["mode"], 14)
    out = fig.to_plotly_json() if isinstance(fig, go.Figure) else fig
    lay = out.setdefault("layout", {})
    merge_layout(lay, {
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT_FAMILY, "size": size, "color": c["text"]},
        "margin": {"l": 10, "r": 20, "t": 10, "b": 10},
        "showlegend": False,
        "hovermode": False if ctx["mode"] == "wall" else "closest",
        "separators": ".,",
        "uirevision": "keep",
    })
    # As fig.update_xaxes / update_yaxes: every axis of the layout, the first one always.
    axis = {"gridcolor": c["grid"], "zeroline": False, "automargin": True,
            "tickfont": {"color": c["muted"]}}
    for xy in ("x", "y"):
        keys = sorted({f"{xy}axis", *(k for k in lay if (m := _AXIS.match(k)) and m[1] == xy)})
        for k in keys:
            merge_layout(lay, {k: axis})
    if layout:
        merge_layout(lay, layout)
    # Builders escape their labels with plain(); this catches any string one forgot.
    return plain_figure(out)


def hbar(rows: list[dict[str, Any]], ctx: dict[str, Any], color: str = PALETTE[0]) -> dict:
    """Horizontal bar chart of labelled values (largest on top), values printed at bar ends."""
    labels = [plain(r["label"]) for r in rows][::-1]
    values = [r.get("v") or 0 for r in rows][::-1]
    texts = [plain(r.get("s")) for r in rows][::-1]
    fig = go.Figure(go.Bar(
        x=values, y=labels, orientation="h", text=texts, textposition="outside",
        marker={"color": color}, cliponaxis=False, constraintext="none",
        hoverinfo="skip" if ctx["mode"] == "wall" else "x+y",
    ))
    top = max(values) if values and max(values) > 0 else 1
    return style_figure(fig, ctx, xaxis={"visible": False, "range": [0, top * 1.28]},
                        bargap=0.35)


def vbar(rows: list[dict[str, Any]], ctx: dict[str, Any], color: str = PALETTE[0], *,
         break_after: str = "") -> dict:
    """Vertical bars with values on top; labels break after `break_after` when given."""
    labels = [plain(r["label"]) for r in rows]
    if break_after:
        labels = [label.replace(break_after, break_after + "<br>") for label in labels]
    values = [r.get("v") or 0 for r in rows]
    fig = go.Figure(go.Bar(
        x=labels, y=values, text=[plain(r.get("s")) for r in rows], textposition="outside",
        marker={"color": color}, cliponaxis=False, constraintext="none",
        hoverinfo="skip" if ctx["mode"] == "wall" else "x+y",
    ))
    top = max(values) if values and max(values) > 0 else 1
    # No grid lines across categories: they would run through the value labels.
    return style_figure(fig, ctx, yaxis={"visible": False, "range": [0, top * 1.22]},
                        xaxis={"tickangle": 0, "showgrid": False}, bargap=0.3)


def donut(rows: list[dict[str, Any]], ctx: dict[str, Any]) -> dict:
    """A donut of shares with labels outside (forms of employment and the like)."""
    rows = [r for r in rows if (r.get("v") or 0) > 0]
    if not rows:
        return empty_figure()
    fig = go.Figure(go.Pie(
        labels=[plain(r["label"]) for r in rows], values=[r["v"] for r in rows], hole=0.55,
        sort=False, direction="clockwise", textinfo="label+percent",
        textposition="outside", marker={"colors": PALETTE},
        hoverinfo="skip" if ctx["mode"] == "wall" else "label+value+percent",
    ))
    return style_figure(fig, ctx, margin={"l": 40, "r": 40, "t": 30, "b": 30},
                        uniformtext={"minsize": 10, "mode": "hide"})
