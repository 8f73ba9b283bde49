"""Vacancies: open headcount by type and industry, salary bands, 求人倍率, newest postings."""

from __future__ import annotations

from typing import Any

from dash import html

from layouts.common import titled
from layouts.i18n import t
from layouts.widgets import PALETTE, cell, frame, graph_cell, hbar, kpi, packed_cells, ticker, vbar

PANEL_ID = "vacancies"
CELLS = ("kpis", "newest")
GRAPHS = ("types", "industries", "salary")


def skeleton(ctx: dict[str, Any]) -> html.Section:
    """The mounted structure of the panel (filled by `render`)."""
    lang = ctx["lang"]
    return frame(PANEL_ID, ctx, [
        cell(PANEL_ID, "kpis"),
        graph_cell(PANEL_ID, "types", t("by_type", lang), mode=ctx["mode"]),
        graph_cell(PANEL_ID, "industries", t("by_industry", lang), mode=ctx["mode"]),
        graph_cell(PANEL_ID, "salary", t("salary", lang), mode=ctx["mode"]),
        cell(PANEL_ID, "newest"),
    ])


def posting_rows(rows: list[dict[str, Any]], lang: str, *, distance: bool = False) -> list:
    """List items of postings: title, employer, headcount, salary (no personal data)."""
    items = []
    for v in rows:
        meta = [html.Span(v["employer"], className="tk-sub")]
        if distance and v["distance"]:
            meta.append(html.Span(v["distance"], className="tk-tag"))
        elif v["type"]:
            meta.append(html.Span(v["type"], className="tk-tag"))
        items.append(html.Li([
            html.Div([html.Span(v["title"], className="tk-main"),
                      html.Span(t("hiring", lang, n=v["headcount"]), className="tk-num")],
                     className="tk-line"),
            html.Div([*meta, html.Span(v["salary"], className="tk-money")],
                     className="tk-line tk-meta"),
        ], className="tk-row tk-posting"))
    return items


def render(p: dict[str, Any], ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cell contents and figures for one presented region."""
    lang = ctx["lang"]
    m = p["m"]
    person = t("unit.person", lang)
    kpis = html.Div([
        kpi(t("kpi.open", lang), m["vacancies.open"], t("unit.post", lang), lang=lang),
        kpi(t("kpi.headcount", lang), m["vacancies.open_headcount"], person, tone="hot", lang=lang),
        kpi(t("new_month", lang), m["vacancies.new.month"], t("unit.post", lang), lang=lang),
        kpi(t("kpi.seekers", lang), m["jobseekers.active"], person, lang=lang),
        kpi(t("kpi.ratio", lang), m["supply_demand_ratio"], tone="ok", lang=lang),
    ], className="kpi-strip")
    newest = titled(t("newest", lang), ticker(posting_rows(p["newest"], lang), ctx))
    industries = p["industries"][:10]
    return packed_cells({"kpis": kpis, "newest": newest}), {
        "types": hbar(p["types"], ctx, PALETTE[0]),
        "industries": hbar(industries, ctx, PALETTE[2]),
        # Band labels break after the dash so narrow embeds never overlap them.
        "salary": vbar(p["salary_bands"], ctx, PALETTE[1], break_after="–"),
    }
