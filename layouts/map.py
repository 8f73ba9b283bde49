"""三公里就业圈地图: community centres with their 3-km rings, open worksites, a chosen metric.

Offline by construction: plain `scatter` traces on equal-aspect axes in kilometres (see
queries.mapgeo), no geo trace, no tiles, no topojson. Province and city maps bin
communities and worksites into hexagons; county and township maps draw every community
with its ring; a community's map shows its ring and each open worksite near it with its
distance. The figure and the legend are filled by dashboard.mapview (they depend on the
chosen metric); the side cell (counts, nearby list) by the generic panel callback.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from dash import dcc, html

from layouts.common import is_leaf, titled
from layouts.i18n import t
from layouts.vacancies import posting_rows
from layouts.widgets import (
    FONT_FAMILY,
    cell,
    cell_id,
    colors,
    frame,
    graph_cell,
    kpi,
    plain,
    style_figure,
    ticker,
)
from queries import mapgeo
from queries.domain import CIRCLE_KM
from queries.maplayer import MAP_METRICS, SHARE_PARTS, MapView
from queries.metrics import label as metric_label

PANEL_ID = "map"
CELLS = ("side",)
GRAPHS = ()  # the map figure has its own callback (dashboard.mapview): it takes ?metric=
MAP_GRAPH = "map"
LEGEND_CELL = "legend"

SHARE_COLORS = ["#ff5d5d", "#ff9f43", "#ffd43b", "#8ce99a", "#20c997"]
COUNT_COLORS = ["#1d4e89", "#1f78b4", "#22a6d6", "#4fd1ff", "#b3f0ff"]
ZERO_COLOR = "#44546e"
NO_DATA = "#2a3546"
VAC_COLOR = "#ffc53d"
RING_COLOR = "rgba(47,211,255,0.55)"
MAX_DISTANCE_LABELS = 24
MAX_CHILD_LABELS = 40


def skeleton(ctx: dict[str, Any]) -> html.Section:
    """The mounted structure of the panel: the map, the side column and the legend."""
    lang = ctx["lang"]
    return frame(PANEL_ID, ctx, [
        graph_cell(PANEL_ID, MAP_GRAPH, t("map.title", lang)),
        cell(PANEL_ID, "side"),
        html.Div(html.Div(id=cell_id(PANEL_ID, LEGEND_CELL), className="cell-content"),
                 className="cell cell-legend"),
    ])


def render(p: dict[str, Any], ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The side column: coverage counts, and a community's open jobs within 3 km."""
    lang = ctx["lang"]
    m = p["m"]
    if is_leaf(p):
        # A community: whether it is covered, then its open jobs within 3 km by distance.
        kpis = html.Div([kpi(t("circle.coverage", lang), m["circle.coverage"], lang=lang,
                             tone="ok")], className="kpi-strip kpi-col")
        side: list[Any] = [kpis, *titled(
            t("circle.nearby", lang),
            ticker(posting_rows(p["nearby"], lang, distance=True), ctx,
                   empty=t("circle.nearby_none", lang)))]
    else:
        side = [html.Div([
            kpi(t("circle.coverage", lang), m["circle.coverage"], lang=lang, tone="ok"),
            kpi(t("circle.covered", lang), m["circle.covered"], lang=lang),
            kpi(t("map.open", lang), m["vacancies.open"], lang=lang),
        ], className="kpi-strip kpi-col")]
    return {"side": html.Div(side, className="map-side")}, {}


# ---------------------------------------------------------------- colour classes
def _fmt(metric: str, v: float, lang: str) -> str:
    if not math.isfinite(v):
        return "—"
    if metric in SHARE_PARTS:
        return f"{v * 100:.0f}%"
    return f"{round(v):,}"


def classes(metric: str, values: np.ndarray, lang: str, *, single: bool = False
            ) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Colour of each value and the legend [(colour, label)] for the metric's classes;
    `single`: each value is one community's (coverage is then covered or not)."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.size, NO_DATA, dtype=object)
    ok = np.isfinite(values)
    if metric in SHARE_PARTS:
        if single:
            # One community each: covered or not.
            out[ok & (values >= 1)] = SHARE_COLORS[-1]
            out[ok & (values < 1)] = SHARE_COLORS[0]
            return out, [(SHARE_COLORS[-1], t("map.covered", lang)),
                         (SHARE_COLORS[0], t("map.not_covered", lang))]
        edges = [0.2, 0.4, 0.6, 0.8]
        k = np.searchsorted(edges, np.where(ok, values, 0), side="right")
        out[ok] = np.array(SHARE_COLORS, dtype=object)[k[ok]]
        labels = ["<20%", "20–40%", "40–60%", "60–80%", "≥80%"]
        return out, list(zip(SHARE_COLORS, labels, strict=True))
    positive = values[ok & (values > 0)]
    out[ok & (values <= 0)] = ZERO_COLOR
    legend = [(ZERO_COLOR, "0")]
    if positive.size:
        qs = np.quantile(positive, [0.25, 0.5, 0.75, 0.9]) if positive.size > 4 else positive
        bounds = sorted({int(math.ceil(q)) for q in qs})
        lo = 1
        for j, hi in enumerate(bounds):
            if hi < lo:
                continue
            sel = ok & (values >= lo) & (values <= hi)
            color = COUNT_COLORS[min(j, len(COUNT_COLORS) - 1)]
            out[sel] = color
            legend.append((color, f"{lo:,}" if hi == lo else f"{lo:,}–{hi:,}"))
            lo = hi + 1
        top = ok & (values >= lo)
        if top.any():
            color = COUNT_COLORS[min(len(bounds), len(COUNT_COLORS) - 1)]
            out[top] = color
            legend.append((color, f"≥{lo:,}"))
    return out, legend


def metric_name(metric: str, lang: str) -> str:
    """Display name of a map metric (registry label, else the vacancy type's name)."""
    name = metric_label(metric, lang)
    if name:
        return name
    if metric.startswith("vacancies.by_type."):
        from layouts.i18n import enum

        return f"{t('map.headcount', lang)} · {enum('type', metric.rsplit('.', 1)[1], lang)}"
    return metric


def legend(view: MapView, ctx: dict[str, Any], *, metric_links: bool = False) -> list[Any]:
    """The legend cell: what colours, rings and dots mean; metric choices on the region page."""
    lang = ctx["lang"]
    values = view.hex_value if view.mode == "hex" else view.com_value
    _, entries = classes(view.metric, values, lang, single=view.mode != "hex")
    unit = t("map.per_hex", lang, km=_km(view.hex_size)) if view.mode == "hex" else ""
    items: list[Any] = [html.Li([html.Span(className="swatch", style={"background": c}),
                                 html.Span(text)]) for c, text in entries]
    items.append(html.Li([html.Span(className="swatch swatch-dot", style={"background": VAC_COLOR}),
                          html.Span(t("map.vacancy_key", lang))]))
    if view.mode != "hex":
        items.append(html.Li([html.Span(className="swatch ring"),
                              html.Span(t("map.ring_key", lang))]))
    kids: list[Any] = [
        html.H3(t("map.colour_by", lang, metric=metric_name(view.metric, lang)),
                className="cell-title"),
        html.Ul(items, className="map-legend"),
    ]
    if unit:
        kids.append(html.Div(unit, className="map-note"))
    if metric_links:
        qs = ctx.get("qs", "")
        links = [dcc.Link(metric_name(k, lang), className="metric-link" + (
            " is-active" if k == view.metric else ""),
            href=f"/region/{ctx['region']}?panel=map&metric={k}{qs}") for k in MAP_METRICS]
        kids.append(html.Div(links, className="metric-links"))
    return kids


def _km(v: float) -> str:
    return f"{v:g}"


# ---------------------------------------------------------------- the figure
def _sizes(head: np.ndarray, lo: float, hi: float) -> list[float]:
    """Marker diameters growing with the square root of the headcount (area ∝ headcount)."""
    head = np.asarray(head, dtype=float)
    if head.size == 0:
        return []
    top = max(float(np.sqrt(head.max())), 1.0)
    return [round(lo + (hi - lo) * float(np.sqrt(h)) / top, 1) for h in head]


def figure(view: MapView, names: dict[str, str], ctx: dict[str, Any]) -> dict[str, Any]:
    """The map as a Plotly figure dict (scatter traces only, equal-aspect km axes)."""
    c = colors(ctx)
    wall = ctx["mode"] == "wall"
    hover = "skip" if wall else "text"
    big = {"wall": 22, "region": 13, "embed": 12}.get(ctx["mode"], 13)
    fig = go.Figure()
    if view.outline[0]:
        fig.add_scatter(x=view.outline[0], y=view.outline[1], mode="lines",
                        line={"color": "rgba(143,168,200,0.55)", "width": 1.5},
                        hoverinfo="skip", name="outline")
    if view.mode == "hex":
        _hex_traces(fig, view, names, ctx, hover)
    else:
        _point_traces(fig, view, ctx, hover)
    labels = _child_labels(fig, view, names, ctx, big)
    layout = _axes(view, c, ctx, big)
    layout["annotations"] = labels + layout["annotations"]
    bar = layout.pop("meta_scale")
    out = style_figure(fig, ctx, **layout)
    # No `transition` here: with one set (even of 0 ms) Plotly.react takes its animated
    # path for scatter traces, and text points drawn while the panel is hidden got
    # `scale(NaN,1)` transforms (console errors, distance labels lost).
    out["layout"].pop("transition", None)
    # What the figure is drawn at, for tests and screenshots (Plotly keeps `meta` as is).
    out["layout"]["meta"] = {"mode": view.mode, "metric": view.metric,
                             "hex_km": view.hex_size, "scale_km": bar}
    return out


def _hex_traces(fig: go.Figure, view: MapView, names: dict[str, str], ctx: dict[str, Any],
                hover: str) -> None:
    lang = ctx["lang"]
    fill, _ = classes(view.metric, view.hex_value, lang)
    by_colour: dict[str, tuple[list, list]] = {}
    size = view.hex_size * 0.97  # a hair of gap between cells
    for cx, cy, col, n in zip(view.hex_x, view.hex_y, fill, view.hex_n, strict=True):
        if not n:
            continue  # a cell with worksites only: its dot is drawn, not a coloured cell
        xs, ys = mapgeo.hex_outline(float(cx), float(cy), size)
        bx, by = by_colour.setdefault(col, ([], []))
        bx += [*xs, None]
        by += [*ys, None]
    for col, (xs, ys) in by_colour.items():
        fig.add_scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=col,
                        line={"width": 0, "color": col}, hoverinfo="skip", name="hex")
    texts = [plain(f"{names.get(k, k)} · {t('circle.communities', lang)} {int(n):,} · "
                   f"{metric_name(view.metric, lang)} {_fmt(view.metric, v, lang)} · "
                   f"{t('map.headcount', lang)} {int(h):,}")
             for k, n, v, h in zip(view.hex_child, view.hex_n, view.hex_value, view.hex_head,
                                   strict=True)]
    # Invisible markers at the centres carry hover text and the child to drill into.
    has_c = view.hex_n > 0
    fig.add_scatter(x=view.hex_x[has_c], y=view.hex_y[has_c], mode="markers",
                    marker={"size": 14, "color": "rgba(0,0,0,0)"},
                    customdata=[k for k, n in zip(view.hex_child, view.hex_n, strict=True) if n],
                    hovertext=[s for s, n in zip(texts, view.hex_n, strict=True) if n],
                    hoverinfo=hover, name="cells")
    has = view.hex_head > 0
    fig.add_scatter(x=view.hex_x[has], y=view.hex_y[has], mode="markers",
                    marker={"size": _sizes(view.hex_head[has], 3, 12),
                            "color": VAC_COLOR, "opacity": 0.9,
                            "line": {"width": 0}}, hoverinfo="skip", name="vacancies")


def _point_traces(fig: go.Figure, view: MapView, ctx: dict[str, Any], hover: str) -> None:
    lang = ctx["lang"]
    community = view.mode == "community"
    if community:
        inside = view.vac_km <= CIRCLE_KM + 1e-9
        vac_col = np.where(inside, VAC_COLOR, "#6b7a93")
        vtext = [plain(f"{t('map.headcount', lang)} {int(h):,} · "
                       f"{t('km', lang, d=f'{d:.1f}')}")
                 for h, d in zip(view.vac_head, view.vac_km, strict=True)]
    else:
        vac_col = np.full(view.vac_x.size, VAC_COLOR, dtype=object)
        vtext = [plain(f"{t('map.headcount', lang)} {int(h):,}") for h in view.vac_head]
    # Many worksites (a dense district): smaller, fainter dots so centres and rings show.
    crowded = view.vac_x.size > (60 if community else 300)
    lo, hi = ((5, 14) if crowded else (8, 26)) if community else (
        (3, 9) if crowded else (5, 14))
    fig.add_scatter(x=view.vac_x, y=view.vac_y, mode="markers",
                    marker={"size": _sizes(view.vac_head, lo, hi), "color": list(vac_col),
                            "opacity": 0.5 if crowded else 0.85, "line": {"width": 0}},
                    hovertext=vtext, hoverinfo=hover, name="vacancies")
    fig.add_scatter(x=view.rings[0], y=view.rings[1], mode="lines",
                    line={"color": "#2fd3ff" if community else RING_COLOR,
                          "width": 3 if community else 1},
                    hoverinfo="skip", name="rings")
    if community and view.vac_km.size:
        order = np.argsort(view.vac_km)
        # Distances of the nearest ones only: a crowded ring would be a blur of numbers.
        limit = MAX_DISTANCE_LABELS if view.vac_x.size <= 60 else 8
        near = [i for i in order if view.vac_km[i] <= CIRCLE_KM + 1e-9][:limit]
        fig.add_scatter(x=view.vac_x[near], y=view.vac_y[near], mode="text",
                        text=[f"{view.vac_km[i]:.1f}" for i in near],
                        textposition="top center",
                        textfont={"color": colors(ctx)["text"],
                                  "size": 20 if ctx["mode"] == "wall" else 12},
                        hoverinfo="skip", name="distances")
    col, _ = classes(view.metric, view.com_value, lang, single=True)
    ctext = [plain(f"{n} · {metric_name(view.metric, lang)} {_fmt(view.metric, v, lang)}")
             for n, v in zip(view.com_name, view.com_value, strict=True)]
    fig.add_scatter(x=view.com_x, y=view.com_y, mode="markers",
                    marker={"size": 22 if community else (11 if ctx["mode"] == "wall" else 8),
                            "color": list(col), "symbol": "circle",
                            "line": {"width": 1.5, "color": "#06101f"}},
                    customdata=view.com_child, hovertext=ctext, hoverinfo=hover,
                    name="communities")


def _child_labels(fig: go.Figure, view: MapView, names: dict[str, str], ctx: dict[str, Any],
                  big: int) -> list[dict[str, Any]]:
    """The children's names at the centroid of their communities, as annotations on a dark
    plate (readable over coloured cells); invisible markers under them carry the child's
    code, so a click on a name drills down on the region page."""
    if not view.kid_code:
        return []
    kids = list(zip(view.kid_code, view.kid_x, view.kid_y, strict=True))[:MAX_CHILD_LABELS]
    size = big if len(kids) <= 20 else max(10, big - 6)
    fig.add_scatter(
        x=[k[1] for k in kids], y=[k[2] for k in kids], mode="markers",
        marker={"size": size * 2, "color": "rgba(0,0,0,0)"},
        # "none": no hover label, but clicks still report the point (not so with "skip").
        customdata=[k[0] for k in kids], hoverinfo="skip" if ctx["mode"] == "wall" else "none",
        name="labels",
    )
    # Where the children are communities their name sits just above their own point.
    above = ({"yanchor": "bottom", "yshift": 8}
             if view.mode == "points" and view.kid_code == view.com_child else {})
    return [{"x": k[1], "y": k[2], "xref": "x", "yref": "y", "showarrow": False,
             "text": plain(names.get(k[0], k[0])), "bgcolor": "rgba(4,11,23,0.62)",
             "borderpad": 2, "font": {"family": FONT_FAMILY, "size": size, "color": "#ffffff"},
             **above}
            for k in kids]


def _axes(view: MapView, c: dict[str, str], ctx: dict[str, Any], big: int) -> dict[str, Any]:
    """Equal-aspect km axes (1 km the same both ways) and a scale bar in data units."""
    x0, x1 = view.x_range
    y0, y1 = view.y_range
    span = max(x1 - x0, y1 - y0)
    if view.mode == "community":
        bar = CIRCLE_KM  # the bar and the ring's radius can be compared directly
    else:
        bar = mapgeo.nice_length(x1 - x0)
    bx0 = x0 + 0.03 * span
    label = t("km", ctx["lang"], d=f"{bar:g}")
    shapes = [
        {"type": "line", "xref": "x", "yref": "paper", "x0": bx0, "x1": bx0 + bar,
         "y0": 0.03, "y1": 0.03, "line": {"color": c["text"], "width": 4}},
        {"type": "line", "xref": "x", "yref": "paper", "x0": bx0, "x1": bx0,
         "y0": 0.015, "y1": 0.045, "line": {"color": c["text"], "width": 3}},
        {"type": "line", "xref": "x", "yref": "paper", "x0": bx0 + bar, "x1": bx0 + bar,
         "y0": 0.015, "y1": 0.045, "line": {"color": c["text"], "width": 3}},
    ]
    annotations = [{"x": bx0 + bar / 2, "y": 0.05, "xref": "x", "yref": "paper",
                    "text": plain(label), "showarrow": False, "yanchor": "bottom",
                    "font": {"size": max(12, big - 4), "color": c["text"]}}]
    return {
        "xaxis": {"range": [x0, x1], "visible": False, "fixedrange": True},
        "yaxis": {"range": [y0, y1], "visible": False, "scaleanchor": "x", "scaleratio": 1,
                  "fixedrange": True},
        "shapes": shapes,
        "annotations": annotations,
        "margin": {"l": 4, "r": 4, "t": 4, "b": 4},
        "dragmode": False,
        "meta_scale": bar,
    }
