"""Key groups: registered / assisted / placed / placement rate per group; assistance by kind."""

from __future__ import annotations

from typing import Any

from dash import html

from layouts.common import titled
from layouts.i18n import t
from layouts.widgets import PALETTE, cell, frame, graph_cell, hbar, kpi, number, packed_cells

PANEL_ID = "key_groups"
CELLS = ("table", "kpis")
GRAPHS = ("kinds",)


def skeleton(ctx: dict[str, Any]) -> html.Section:
    """The mounted structure of the panel (filled by `render`)."""
    lang = ctx["lang"]
    return frame(PANEL_ID, ctx, [
        cell(PANEL_ID, "table"),
        cell(PANEL_ID, "kpis"),
        graph_cell(PANEL_ID, "kinds", t("assist_kind", lang), mode=ctx["mode"]),
    ])


def _num(value: dict[str, Any], lang: str) -> Any:
    """A table number: digits, then 万/亿 in small type (short form for the fitter)."""
    main, words = number(value, lang)
    if not words:
        return main
    return [*(main if isinstance(main, list) else [main]),
            html.Small(words, className="num-word")]


def render(p: dict[str, Any], ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cell contents and figures for one presented region."""
    lang = ctx["lang"]
    head = html.Tr([html.Th(t(k, lang)) for k in ("group", "registered", "assisted", "placed",
                                                   "rate")])
    body = []
    for g in p["groups"]:
        rate = g["rate"]["v"]
        body.append(html.Tr([
            html.Td(g["label"], className="grp-name"),
            *(html.Td(_num(g[k], lang), className="num")
              for k in ("registered", "assisted", "placed")),
            # The cell stays a table cell (a flex td leaves its row); the bar and % sit in it.
            html.Td(html.Div([
                html.Span(html.Span(className="rate-fill",
                                    style={"width": f"{min(rate or 0, 1) * 100:.1f}%"}),
                          className="rate-bar"),
                html.Span(g["rate"]["s"], className="rate-val"),
            ], className="rate"), className="rate-cell"),
        ]))
    table = titled(t("groups.title", lang), html.Div(
        html.Table([html.Thead(head), html.Tbody(body)], className="groups"),
        className="groups-box fit"))
    m = p["m"]
    kpis = html.Div([
        kpi(t("assist_total", lang), m["assistance.year"], t("unit.times", lang),
            tone="hot", lang=lang),
        kpi(t("kpi.seekers", lang), m["jobseekers.active"], t("unit.person", lang), lang=lang),
    ], className="kpi-strip kpi-2")
    return (packed_cells({"table": table, "kpis": kpis}),
            {"kinds": hbar(p["kinds"], ctx, PALETTE[4])})
