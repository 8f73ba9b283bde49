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
FAR_COLOR = "#6b7a93"  # a worksite beyond the ring, on a community's map
RING_COLOR = "rgba(47,211,255,0.55)"
RINGS_UID = "maprings"  # the wall's rings trace; assets/wall.css draws its outline
MAX_DISTANCE_LABELS = 24
MAX_CHILD_LABELS = 40
MAX_LISTED = 12  # names the legend lists of those with no spot on the map
# A wall's county or township map with more worksites than this merges them per small
# hexagon (a dot each, area ∝ the summed headcount): Plotly's work per map change grows
# with the dots (2,000 in an urban district were 44 % of a 161 ms change), and a wall's
# change must stay a short task. The cells are at least MERGE_CELL_PX design px across
# (radius), larger when that still leaves more than MAX_WALL_DOTS dots.
MERGE_DOTS_ABOVE = 600
MAX_WALL_DOTS = 800
MERGE_CELL_PX = 12.0
MERGE_STEPS_KM = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)


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


def legend(view: MapView, ctx: dict[str, Any], *, metric_links: bool = False,
           unlabelled: list[str] | tuple[str, ...] = ()) -> list[Any]:
    """The legend cell: what colours, rings and dots mean; the children whose name found no
    spot on the map (the figure's meta "unlabelled"); metric choices on the region page."""
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
    merged = wall_dots(view, ctx)[0]
    if merged:
        kids.append(html.Div(t("map.vacancy_merged", lang, km=_km(merged)),
                             className="map-note"))
    if unlabelled:
        sep = "、" if lang == "zh" else ", "
        listed = sep.join(unlabelled[:MAX_LISTED])
        if len(unlabelled) > MAX_LISTED:
            listed += t("map.and_more", lang, n=len(unlabelled))
        kids.append(html.Div(t("map.unlabelled", lang, names=listed),
                             className="map-note map-unlabelled"))
    if metric_links:
        qs = ctx.get("qs", "")
        links = [dcc.Link(metric_name(k, lang), className="metric-link" + (
            " is-active" if k == view.metric else ""),
            href=f"/region/{ctx['region']}?panel=map&metric={k}{qs}") for k in MAP_METRICS]
        kids.append(html.Div(links, className="metric-links"))
    return kids


def _km(v: float) -> str:
    return f"{v:g}"


def wall_dots(view: MapView, ctx: dict[str, Any]
              ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The worksite dots a county or township map draws: (cell km, x, y, headcount), the
    cell 0 when each worksite is its own dot. A wall's map with more than MERGE_DOTS_ABOVE
    worksites merges them per hexagon of the smallest MERGE_STEPS_KM radius at least
    MERGE_CELL_PX across that leaves at most MAX_WALL_DOTS dots (the largest step else)."""
    if ctx["mode"] != "wall" or view.mode != "points" or view.vac_x.size <= MERGE_DOTS_ABOVE:
        return 0.0, view.vac_x, view.vac_y, view.vac_head
    ppk = _px_per_km(view, *plot_px(ctx))[0]
    steps = [s for s in MERGE_STEPS_KM if s * ppk >= MERGE_CELL_PX] or [MERGE_STEPS_KM[-1]]
    for size in steps:
        x, y, head = mapgeo.merge_points(view.vac_x, view.vac_y, view.vac_head, size)
        if x.size <= MAX_WALL_DOTS:
            break
    return size, x, y, head


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
    layout = _axes(view, c, ctx, big)
    bar = layout.pop("meta_scale")
    labels, unlabelled = _child_labels(fig, view, names, ctx, big,
                                       layout.pop("meta_scale_box"))
    layout["annotations"] = labels + layout["annotations"]
    out = style_figure(fig, ctx, **layout)
    # No `transition` here: with one set (even of 0 ms) Plotly.react takes its animated
    # path for scatter traces, and text points drawn while the panel is hidden got
    # `scale(NaN,1)` transforms (console errors, distance labels lost).
    out["layout"].pop("transition", None)
    # What the figure is drawn at, for tests and screenshots (Plotly keeps `meta` as is).
    out["layout"]["meta"] = {"mode": view.mode, "metric": view.metric,
                             "hex_km": view.hex_size, "scale_km": bar,
                             "dots_merged_km": wall_dots(view, ctx)[0],
                             # Children whose name found no spot on the map: the legend
                             # lists them (legend(…, unlabelled=…)).
                             "unlabelled": unlabelled}
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
    if ctx["mode"] != "wall":
        # Invisible markers at the centres carry hover text and the child to drill into
        # (a wall is never hovered or clicked: it draws none of them).
        texts = [plain(f"{names.get(k, k)} · {t('circle.communities', lang)} {int(n):,} · "
                       f"{metric_name(view.metric, lang)} {_fmt(view.metric, v, lang)} · "
                       f"{t('map.headcount', lang)} {int(h):,}")
                 for k, n, v, h in zip(view.hex_child, view.hex_n, view.hex_value,
                                       view.hex_head, strict=True)]
        has_c = view.hex_n > 0
        fig.add_scatter(x=view.hex_x[has_c], y=view.hex_y[has_c], mode="markers",
                        marker={"size": 14, "color": "rgba(0,0,0,0)"},
                        customdata=[k for k, n in zip(view.hex_child, view.hex_n, strict=True)
                                    if n],
                        hovertext=[s for s, n in zip(texts, view.hex_n, strict=True) if n],
                        hoverinfo=hover, name="cells")
    has = view.hex_head > 0
    # A gold dot per cell, its area ∝ the open headcount: an eighth to half the cell's
    # radius, in km, so it scales with the map.
    radius = np.asarray(_sizes(view.hex_head[has], 0.25, 1.0)) * view.hex_size / 2
    _dots(fig, view.hex_x[has], view.hex_y[has], radius, VAC_COLOR, 0.9)


def _dots(fig: go.Figure, x: np.ndarray, y: np.ndarray, radius: Any, color: str,
          opacity: float, name: str = "vacancies") -> None:
    """Dots as one filled path of small polygons. Hundreds of scatter markers cost the
    wall's main thread a DOM element and a style pass each (at province scale the worksite
    markers were over half of a map change's Plotly.react)."""
    xs, ys = mapgeo.dots_xy(x, y, radius)
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    fig.add_scatter(x=xs, y=ys, mode="none", fill="toself",
                    fillcolor=f"rgba({r},{g},{b},{opacity})", hoverinfo="skip", name=name)


def ring_step(radius_px: float, vertices: int = mapgeo.RING_VERTICES,
              tolerance_px: float = 0.5) -> int:
    """Keep every n-th vertex of a ring (1, 2 or 4): the largest n whose polygon's sides
    stay within `tolerance_px` of the circle at this radius (sagitta r·(1 − cos(π/sides)))."""
    for n in (4, 2):
        if radius_px * (1 - math.cos(math.pi * n / vertices)) <= tolerance_px:
            return n
    return 1


def _every(values: list, step: int) -> list:
    """Every `step`-th vertex of each closed ring of a None-separated polyline (the ring's
    vertex count a multiple of `step`, so each ring stays closed)."""
    if step == 1:
        return values
    out: list = []
    ring: list = []
    for v in values:
        if v is None:
            out += ring[::step] + [None]
            ring = []
        else:
            ring.append(v)
    return out + ring[::step]


def _point_traces(fig: go.Figure, view: MapView, ctx: dict[str, Any], hover: str) -> None:
    lang = ctx["lang"]
    community = view.mode == "community"
    if community:
        inside = view.vac_km <= CIRCLE_KM + 1e-9
        vac_col = np.where(inside, VAC_COLOR, FAR_COLOR)
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
    if ctx["mode"] == "wall" and not community:
        # Nobody hovers a wall: the dots as one path (px diameters → km on this map), merged
        # per small hexagon when there are many (the legend says so).
        ppk = _px_per_km(view, *plot_px(ctx))[0]
        _, dx, dy, dhead = wall_dots(view, ctx)
        crowded = dx.size > 300
        lo, hi = (3, 9) if crowded else (5, 14)
        _dots(fig, dx, dy, np.asarray(_sizes(dhead, lo, hi)) / 2 / ppk, VAC_COLOR,
              0.5 if crowded else 0.85)
    elif ctx["mode"] == "wall":
        # A community's map on the wall: every worksite its own dot, as one path per colour
        # (inside the ring gold, outside grey), never merged; distances are printed below.
        ppk = _px_per_km(view, *plot_px(ctx))[0]
        radius = np.asarray(_sizes(view.vac_head, lo, hi)) / 2 / ppk
        opacity = 0.5 if crowded else 0.85
        _dots(fig, view.vac_x[inside], view.vac_y[inside], radius[inside], VAC_COLOR, opacity)
        _dots(fig, view.vac_x[~inside], view.vac_y[~inside], radius[~inside], FAR_COLOR,
              opacity, name="vacancies_far")
    else:
        fig.add_scatter(x=view.vac_x, y=view.vac_y, mode="markers",
                        marker={"size": _sizes(view.vac_head, lo, hi), "color": list(vac_col),
                                "opacity": 0.5 if crowded else 0.85, "line": {"width": 0}},
                        hovertext=vtext, hoverinfo=hover, name="vacancies")
    rx, ry = view.rings
    if not community:
        step = ring_step(CIRCLE_KM * _px_per_km(view, *plot_px(ctx))[0])
        rx, ry = _every(rx, step), _every(ry, step)
    if ctx["mode"] == "wall" and not community:
        # One path for all rings: a line trace costs Plotly an SVG path (and its styling)
        # per ring, a fill one path for all its polygons. The fill is transparent; the
        # outline comes from assets/wall.css (`.tracemaprings path.js-fill`, Plotly's class
        # for a trace's fill plus its uid), as the lines' colour and width were.
        fig.add_scatter(x=rx, y=ry, mode="none", fill="toself", fillcolor="rgba(0,0,0,0)",
                        uid=RINGS_UID, hoverinfo="skip", name="rings")
    else:
        fig.add_scatter(x=rx, y=ry, mode="lines",
                        line={"color": "#2fd3ff" if community else RING_COLOR,
                              "width": 3 if community else 1},
                        hoverinfo="skip", name="rings")
    if community and view.vac_km.size:
        order = np.argsort(view.vac_km)
        # Distances of the nearest ones only: a crowded ring would be a blur of numbers.
        limit = MAX_DISTANCE_LABELS if view.vac_x.size <= 60 else 8
        near = [i for i in order if view.vac_km[i] <= CIRCLE_KM + 1e-9][:limit]
        size = 20 if ctx["mode"] == "wall" else 12
        near = _apart_texts(view, near, size, ctx)
        fig.add_scatter(x=view.vac_x[near], y=view.vac_y[near], mode="text",
                        text=[f"{view.vac_km[i]:.1f}" for i in near],
                        textposition="top center",
                        textfont={"color": colors(ctx)["text"], "size": size},
                        hoverinfo="skip", name="distances")
    col, _ = classes(view.metric, view.com_value, lang, single=True)
    if ctx["mode"] == "wall" and not community:
        # Nobody clicks or hovers a wall: the centres as one path per colour, like the dots
        # (a dark rim under each, as the markers' outline).
        ppk = _px_per_km(view, *plot_px(ctx))[0]
        _dots(fig, view.com_x, view.com_y, 7.0 / ppk, "#06101f", 1.0, name="communities")
        for c in dict.fromkeys(col):
            sel = col == c
            _dots(fig, view.com_x[sel], view.com_y[sel], 5.5 / ppk, c, 1.0,
                  name="communities")
        return
    ctext = [plain(f"{n} · {metric_name(view.metric, lang)} {_fmt(view.metric, v, lang)}")
             for n, v in zip(view.com_name, view.com_value, strict=True)]
    fig.add_scatter(x=view.com_x, y=view.com_y, mode="markers",
                    marker={"size": 22 if community else (11 if ctx["mode"] == "wall" else 8),
                            "color": list(col), "symbol": "circle",
                            "line": {"width": 1.5, "color": "#06101f"}},
                    customdata=view.com_child, hovertext=ctext, hoverinfo=hover,
                    name="communities")


# The plot area (px) labels are placed for: the smallest each page kind is drawn at, as
# measured in Chromium (wall 1920×1080: 1253×734 design px, and the same height at 3840;
# region page at 1440×900: 927×515; an embed in an 800×600 frame: 523×368). A larger screen
# gives the map more pixels per km with labels of the same size, so labels placed apart
# here stay apart there.
PLOT_PX = {"wall": (1253.0, 734.0), "region": (927.0, 515.0), "embed": (523.0, 368.0)}
Box = tuple[float, float, float, float]  # left, top, right, bottom (px, y down)


def plot_px(ctx: dict[str, Any]) -> tuple[float, float]:
    """The plot area the labels are placed for. A wall's canvas is 1080 design px high
    whatever the screen; a canvas narrower than 1920 (ctx "canvas_w") narrows the map."""
    w, h = PLOT_PX.get(ctx["mode"], PLOT_PX["region"])
    if ctx["mode"] == "wall":
        w *= min(float(ctx.get("canvas_w") or 1920), 1920.0) / 1920.0
    return w, h


def text_px(text: str, font: float) -> tuple[float, float]:
    """A label's box (px) on its plate: CJK glyphs a full em wide, others about 0.6 em."""
    em = sum(1.0 if ord(ch) >= 0x2E80 else 0.62 for ch in text)
    return em * font + 10.0, font * 1.3 + 8.0


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(anchors: list[tuple[float, float]], sizes: list[tuple[float, float]],
                 plot: tuple[float, float], blocked: list[Box] = (), *,
                 lift: float = 0.0) -> list[tuple[float, float] | None]:
    """Greedy placement, most important label first: each label's offset (dx, dy) in px
    from its anchor, or None when no spot is free. A spot is free when the label's box lies
    inside the plot and overlaps neither a placed label nor a blocked box. Tried in order:
    on the anchor (`lift` px above it), then beside, above and below it at growing
    distances (drawn with a leader line to the anchor)."""
    width, height = plot
    taken: list[Box] = list(blocked)
    out: list[tuple[float, float] | None] = []
    for (ax, ay), (w, h) in zip(anchors, sizes, strict=True):
        spots = [(0.0, -lift)]
        for r in (1, 2, 3):
            dx, dy = r * (w / 2 + 14), r * (h + 6)
            spots += [(dx, -lift), (-dx, -lift), (0.0, -lift - dy), (0.0, -lift + dy),
                      (dx, -lift - dy), (-dx, -lift - dy), (dx, -lift + dy),
                      (-dx, -lift + dy)]
        found = None
        for dx, dy in spots:
            cx, cy = ax + dx, ay + dy
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
                continue
            if any(_overlaps(box, t) for t in taken):
                continue
            found = (dx, dy)
            taken.append(box)
            break
        out.append(found)
    return out


def _apart_texts(view: MapView, idx: list[int], size: int, ctx: dict[str, Any]) -> list[int]:
    """The distance labels (drawn above their worksite) that overlap neither a nearer
    one's nor the community's own marker: worksites a few metres apart would print their
    distances on top of each other."""
    width, height = plot_px(ctx)
    ppk, xmid, ymid = _px_per_km(view, width, height)
    cx, cy = width / 2 - xmid * ppk, height / 2 + ymid * ppk  # the community (0, 0)
    taken: list[Box] = [(cx - 12, cy - 12, cx + 12, cy + 12)]
    kept = []
    for i in idx:
        w, h = text_px(f"{view.vac_km[i]:.1f}", size)
        x = width / 2 + (view.vac_x[i] - xmid) * ppk
        y = height / 2 - (view.vac_y[i] - ymid) * ppk - h / 2 - 4
        box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        if not any(_overlaps(box, t) for t in taken):
            taken.append(box)
            kept.append(i)
    return kept


def _child_labels(fig: go.Figure, view: MapView, names: dict[str, str], ctx: dict[str, Any],
                  big: int, scale_box: tuple[float, float, str, int]
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """The children's names at the centroid of their communities, as annotations on a dark
    plate (readable over coloured cells), and the names not drawn. Placed greedily,
    children with most communities first, so that no two overlap (place_labels); a name
    moved off its centroid has a leader line to it. A name with no free spot (or past the
    first MAX_CHILD_LABELS) is tried again smaller; one that still finds none is returned,
    for the legend to list: no child goes unnamed. On the region page invisible markers at
    the centroids carry the child's code, so a click on a name drills down; the wall is
    never clicked, and draws its names as traces (_label_traces)."""
    if not view.kid_code:
        return [], []
    n = view.kid_n or [1] * len(view.kid_code)
    order = sorted(range(len(view.kid_code)), key=lambda i: (-n[i], view.kid_code[i]))
    size = big if len(order) <= 20 else max(10, big - 6)
    small = max(9, round(size * 0.7))
    # Where the children are communities their name sits just above their own point.
    above = view.mode == "points" and view.kid_code == view.com_child
    width, height = plot_px(ctx)
    ppk, xmid, ymid = _px_per_km(view, width, height)
    anchor = {i: (width / 2 + (view.kid_x[i] - xmid) * ppk,
                  height / 2 - (view.kid_y[i] - ymid) * ppk) for i in order}
    text = {i: plain(names.get(view.kid_code[i], view.kid_code[i])) for i in order}
    bar0, bar1, bar_text, bar_font = scale_box
    bw, bh = text_px(bar_text, bar_font)
    left, right = (width / 2 + (v - xmid) * ppk for v in (bar0, bar1))
    mid = (left + right) / 2
    taken: list[Box] = [(min(left, mid - bw / 2) - 4, height * 0.95 - bh - 4,
                         max(right, mid + bw / 2) + 4, height)]
    # (child, name, (dx, dy), box (w, h), font size, lift of its home spot)
    shown: list[tuple[int, str, tuple[float, float], tuple[float, float], int, float]] = []
    todo = order[:MAX_CHILD_LABELS]
    rest = order[MAX_CHILD_LABELS:]
    for font, batch in ((size, todo), (small, None)):
        if batch is None:  # the second pass: what found no spot, then what was past the cap
            placed = {i for i, *_ in shown}
            batch = ([i for i in todo if i not in placed] + rest)[:MAX_CHILD_LABELS]
        boxes = [text_px(text[i], font) for i in batch]
        lift = boxes[0][1] / 2 + 8 if above and boxes else 0.0
        spots = place_labels([anchor[i] for i in batch], boxes, (width, height), taken,
                             lift=lift)
        for i, spot, (w, h) in zip(batch, spots, boxes, strict=True):
            if spot is None:
                continue
            shown.append((i, text[i], spot, (w, h), font, lift))
            cx, cy = anchor[i][0] + spot[0], anchor[i][1] + spot[1]
            taken.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    placed = {i for i, *_ in shown}
    missing = [text[i] for i in order if i not in placed]
    if ctx["mode"] == "wall":
        _label_traces(fig, view, shown, ppk)
        return [], missing
    fig.add_scatter(
        x=[view.kid_x[i] for i, *_ in shown], y=[view.kid_y[i] for i, *_ in shown],
        mode="markers", marker={"size": [f * 2 for *_, f, _ in shown],
                                "color": "rgba(0,0,0,0)"},
        # "none": no hover label, but clicks still report the point (not so with "skip").
        customdata=[view.kid_code[i] for i, *_ in shown], hoverinfo="none",
        name="labels",
    )
    out = []
    for i, name, (dx, dy), _, font, home in shown:
        note = {"x": view.kid_x[i], "y": view.kid_y[i], "xref": "x", "yref": "y",
                "text": name, "bgcolor": "rgba(4,11,23,0.72)", "borderpad": 2,
                "xanchor": "center", "yanchor": "middle",
                "font": {"family": FONT_FAMILY, "size": font, "color": "#ffffff"}}
        if dx == 0 and abs(dy) <= home:
            note.update(showarrow=False, yshift=-dy)
        else:
            # The name moved off its centroid: a thin leader line back to it.
            note.update(showarrow=True, ax=round(dx, 1), ay=round(dy, 1), axref="pixel",
                        ayref="pixel", arrowhead=0, arrowwidth=1.5, standoff=2,
                        arrowcolor="rgba(255,255,255,0.75)")
        out.append(note)
    return out, missing


def _label_traces(fig: go.Figure, view: MapView,
                  shown: list[tuple[int, str, tuple[float, float], tuple[float, float], int,
                                    float]],
                  ppk: float) -> None:
    """The wall's names as three traces: leader lines and plates as filled paths, the names
    as one text trace. Annotations cost Plotly a measured text box and, moved aside, an
    arrow each (the names were a fifth of a county map change); a wall's canvas is 1080
    design px high whatever the screen, so sizes in px convert to km exactly here."""
    lead_x: list[float | None] = []
    lead_y: list[float | None] = []
    plate_x: list[float | None] = []
    plate_y: list[float | None] = []
    xs, ys, texts, fonts = [], [], [], []
    half = 0.75 / ppk  # a leader line 1.5 px wide
    for i, text, (dx, dy), (w, h), font, home in shown:
        ax, ay = view.kid_x[i], view.kid_y[i]
        x, y = ax + dx / ppk, ay - dy / ppk  # px down → km up
        if not (dx == 0 and abs(dy) <= home):
            # Moved off its centroid: a line from the centroid to the plate (under it).
            length = math.hypot(x - ax, y - ay) or 1.0
            nx, ny = -(y - ay) / length * half, (x - ax) / length * half
            lead_x += [round(v, 3) for v in (ax + nx, x + nx, x - nx, ax - nx)] + [None]
            lead_y += [round(v, 3) for v in (ay + ny, y + ny, y - ny, ay - ny)] + [None]
        # The plate: the box the name was placed in, less a 1 px margin across and 2 px
        # above and below (as tall as an annotation's plate, a little wider).
        pw, ph = (w - 2) / 2 / ppk, (h - 4) / 2 / ppk
        plate_x += [round(v, 3) for v in (x - pw, x + pw, x + pw, x - pw)] + [None]
        plate_y += [round(v, 3) for v in (y - ph, y - ph, y + ph, y + ph)] + [None]
        xs.append(round(x, 3))
        ys.append(round(y, 3))
        texts.append(text)
        fonts.append(font)
    if lead_x:
        fig.add_scatter(x=lead_x, y=lead_y, mode="none", fill="toself",
                        fillcolor="rgba(255,255,255,0.75)", hoverinfo="skip", name="leaders")
    if xs:
        fig.add_scatter(x=plate_x, y=plate_y, mode="none", fill="toself",
                        fillcolor="rgba(4,11,23,0.72)", hoverinfo="skip", name="plates")
        fig.add_scatter(x=xs, y=ys, text=texts, mode="text", textposition="middle center",
                        textfont={"family": FONT_FAMILY, "color": "#ffffff",
                                  "size": fonts if len(set(fonts)) > 1 else fonts[0]},
                        cliponaxis=False, hoverinfo="skip", name="names")


def _px_per_km(view: MapView, width: float, height: float) -> tuple[float, float, float]:
    """Pixels per km on equal-aspect axes fitted into width × height, and the view's
    centre (Plotly widens the range of the axis with room to spare, about the middle)."""
    x0, x1 = view.x_range
    y0, y1 = view.y_range
    ppk = min(width / max(x1 - x0, 1e-9), height / max(y1 - y0, 1e-9))
    return ppk, (x0 + x1) / 2, (y0 + y1) / 2


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
        # Where the bar and its label are, for the names to keep clear of (x in km).
        "meta_scale_box": (bx0, bx0 + bar, plain(label), max(12, big - 4)),
    }
