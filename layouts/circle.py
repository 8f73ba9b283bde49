"""三公里就业圈: community coverage by open vacancies within 3 km; nearby jobs of a community."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import html

from layouts.common import child_rows, child_word, is_leaf, titled
from layouts.i18n import t
from layouts.vacancies import posting_rows
from layouts.widgets import (
    PALETTE,
    cell,
    colors,
    frame,
    graph_cell,
    kpi,
    packed_cells,
    plain,
    ranking,
    style_figure,
    ticker,
)

PANEL_ID = "circle"
CELLS = ("kpis", "rank")
GRAPHS = ("gauge",)


def skeleton(ctx: dict[str, Any]) -> html.Section:
    """The mounted structure of the panel (filled by `render`)."""
    lang = ctx["lang"]
    return frame(PANEL_ID, ctx, [
        graph_cell(PANEL_ID, "gauge", t("circle.coverage", lang), mode=ctx["mode"]),
        cell(PANEL_ID, "kpis"),
        cell(PANEL_ID, "rank"),
    ])


def gauge(value: float | None, text: str, ctx: dict[str, Any]) -> dict[str, Any]:
    """A coverage gauge 0–100 % with the formatted value in the middle."""
    c = colors(ctx)
    fig = go.Figure(go.Indicator(
        mode="gauge", value=(value or 0) * 100,
        gauge={
            "axis": {"range": [0, 100], "ticksuffix": "%", "tickcolor": c["muted"]},
            "bar": {"color": PALETTE[2], "thickness": 0.8},
            "bgcolor": "rgba(143,168,200,0.15)", "borderwidth": 0,
            "steps": [], "threshold": {"line": {"color": PALETTE[1], "width": 4},
                                       "thickness": 0.9, "value": 100},
        },
        domain={"x": [0, 1], "y": [0, 1]},
    ))
    big = {"wall": 84, "region": 44, "embed": 36}.get(ctx["mode"], 44)
    return style_figure(fig, ctx, margin={"l": 80, "r": 80, "t": 30, "b": 10}, annotations=[{
        "text": plain(text), "x": 0.5, "y": 0.12, "xref": "paper", "yref": "paper",
        "showarrow": False, "font": {"size": big, "color": c["text"]},
    }])


def render(p: dict[str, Any], ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cell contents and figures for one presented region."""
    lang = ctx["lang"]
    m = p["m"]
    cov = m["circle.coverage"]
    kpis = html.Div([
        kpi(t("circle.covered", lang), m["circle.covered"], lang=lang),
        kpi(t("circle.communities", lang), m["circle.communities"], lang=lang),
        kpi(t("within3", lang), m["placements.within_3km_share"], tone="ok", lang=lang),
    ], className="kpi-strip kpi-col")
    if is_leaf(p):
        rank = titled(t("circle.nearby", lang),
                      ticker(posting_rows(p["nearby"], lang, distance=True), ctx,
                             empty=t("circle.nearby_none", lang)))
    else:
        rank = titled(t("circle.rank", lang, children=child_word(p, lang)),
                      ranking(child_rows(p, "circle.coverage"), ctx, limit=14, max_value=1.0))
    return packed_cells({"kpis": kpis, "rank": rank}), {"gauge": gauge(cov["v"], cov["s"], ctx)}
