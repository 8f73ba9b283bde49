"""Overview: placements today/month/year, vacancies, 求人倍率, zero households, targets."""

from __future__ import annotations

from typing import Any

from dash import html

from layouts.common import (
    child_rows,
    child_word,
    expected_text,
    is_leaf,
    own_detail,
    placement_kpis,
    target_rows,
    titled,
    trend_figure,
)
from layouts.i18n import t
from layouts.widgets import cell, detail, frame, graph_cell, kpi, packed_cells, ranking, ticker

PANEL_ID = "overview"
CELLS = ("kpis", "targets", "rank", "latest")
GRAPHS = ("trend",)


def skeleton(ctx: dict[str, Any]) -> html.Section:
    """The mounted structure of the panel (filled by `render`)."""
    lang = ctx["lang"]
    return frame(PANEL_ID, ctx, [
        cell(PANEL_ID, "kpis"),
        cell(PANEL_ID, "targets"),
        cell(PANEL_ID, "rank"),
        cell(PANEL_ID, "latest"),
        graph_cell(PANEL_ID, "trend", t("trend", lang), extra="wide-only", mode=ctx["mode"]),
    ])


def render(p: dict[str, Any], ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cell contents and figures for one presented region."""
    lang = ctx["lang"]
    m = p["m"]
    person = t("unit.person", lang)
    kpis = html.Div([
        *placement_kpis(m, lang),
        kpi(t("kpi.open", lang), m["vacancies.open"], t("unit.post", lang), lang=lang),
        kpi(t("kpi.headcount", lang), m["vacancies.open_headcount"], person, lang=lang),
        kpi(t("kpi.ratio", lang), m["supply_demand_ratio"], lang=lang),
        kpi(t("kpi.zero", lang), m["zero_households.outstanding"],
            t("unit.household", lang),
            tone="warn" if (m["zero_households.outstanding"]["v"] or 0) > 0 else "ok", lang=lang),
    ], className="kpi-strip")

    if p["targets"]:
        # Against 时序进度 (ahead / behind), as provincial progress tables show targets.
        title = " · ".join(x for x in (t("targets", lang), expected_text(p, lang)) if x)
        targets = titled(title, target_rows(p, lang, limit=6))
    else:
        targets = titled(t("key_figures", lang), detail([
            (t("kpi.seekers", lang), m["jobseekers.active"]["s"], person),
            (t("new_month", lang), m["vacancies.new.month"]["s"], t("unit.post", lang)),
            (t("assist_total", lang), m["assistance.year"]["s"], t("unit.times", lang)),
            (t("within3", lang), m["placements.within_3km_share"]["s"], ""),
            (t("circle.coverage", lang), m["circle.coverage"]["s"], ""),
        ]))

    if is_leaf(p):
        rank = own_detail(p, [
            ("zh.overdue", "zero_households.overdue", "unit.household"),
            ("zh.cleared", "zero_households.cleared.year", "unit.household"),
            ("kpi.open", "vacancies.open", "unit.post"),
            ("placed", "placements.year", "unit.person"),
        ], lang)
    else:
        rank = titled(f"{t('rank.title', lang, children=child_word(p, lang))} · "
                      f"{t('kpi.year', lang)}",
                      ranking(child_rows(p, "placements.year"), ctx))

    items = [html.Li([html.Span(r["when"], className="tk-time"),
                      html.Span(r["where"], className="tk-main"),
                      html.Span(r["form"], className="tk-tag")], className="tk-row")
             for r in p["latest"]]
    latest = titled(t("latest", lang), ticker(items, ctx))
    cells = {"kpis": kpis, "targets": targets, "rank": rank, "latest": latest}
    return packed_cells(cells), {"trend": trend_figure(p, ctx)}
