"""Zero-employment households: outstanding (goal 0), overdue by child, identified vs cleared."""

from __future__ import annotations

from typing import Any

from dash import html

from layouts.common import child_rows, child_word, is_leaf, own_detail, titled
from layouts.i18n import t
from layouts.widgets import (
    FONT_SIZE,
    PALETTE,
    cell,
    colors,
    frame,
    graph_cell,
    kpi,
    packed_cells,
    plain,
    ranking,
    vbar,
)

PANEL_ID = "zero_households"
CELLS = ("kpis", "rank")
GRAPHS = ("flow",)


def skeleton(ctx: dict[str, Any]) -> html.Section:
    """The mounted structure of the panel (filled by `render`)."""
    lang = ctx["lang"]
    return frame(PANEL_ID, ctx, [
        cell(PANEL_ID, "kpis"),
        graph_cell(PANEL_ID, "flow", t("zh.flow", lang), mode=ctx["mode"]),
        cell(PANEL_ID, "rank"),
    ])


def render(p: dict[str, Any], ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cell contents and figures for one presented region."""
    lang = ctx["lang"]
    m = p["m"]
    hh = t("unit.household", lang)
    outstanding = m["zero_households.outstanding"]
    overdue = m["zero_households.overdue"]
    kpis = html.Div([
        kpi(t("zh.outstanding", lang), outstanding, hh,
            note=t("zh.goal", lang) if outstanding["v"] else t("zh.all_clear", lang),
            tone="warn" if outstanding["v"] else "ok", lang=lang),
        kpi(t("zh.overdue", lang), overdue, hh, tone="bad" if overdue["v"] else "ok", lang=lang),
        kpi(t("zh.identified", lang), m["zero_households.identified.year"], hh, lang=lang),
        kpi(t("zh.cleared", lang), m["zero_households.cleared.year"], hh, tone="ok", lang=lang),
        kpi(t("zh.avg_days", lang), m["zero_households.avg_days_to_clear.year"],
            t("unit.day", lang), lang=lang),
    ], className="kpi-strip")
    if is_leaf(p):
        rank = own_detail(p, [
            ("zh.outstanding", "zero_households.outstanding", "unit.household"),
            ("zh.overdue", "zero_households.overdue", "unit.household"),
            ("zh.identified", "zero_households.identified.year", "unit.household"),
            ("zh.cleared", "zero_households.cleared.year", "unit.household"),
            ("zh.avg_days", "zero_households.avg_days_to_clear.year", "unit.day"),
        ], lang)
    else:
        rows = [r for r in child_rows(p, "zero_households.overdue")]
        rank = titled(f"{t('zh.overdue_rank', lang)} · {child_word(p, lang)}",
                      ranking(rows, ctx, limit=14))
    flow = [
        {"label": t("zh.identified", lang), **m["zero_households.identified.year"]},
        {"label": t("zh.cleared", lang), **m["zero_households.cleared.year"]},
        {"label": t("zh.outstanding", lang), **outstanding},
        {"label": t("zh.overdue", lang), **overdue},
    ]
    fig = vbar(flow, ctx, PALETTE[0])
    fig["data"][0]["marker"]["color"] = [PALETTE[0], PALETTE[2], PALETTE[1], PALETTE[3]]
    if all(r["v"] == 0 for r in flow):
        # Four bars of nothing read as a broken chart: say what the zeros mean.
        fig["layout"]["annotations"] = [{
            "text": plain(t("zh.none_year", lang)), "x": 0.5, "y": 0.55, "xref": "paper",
            "yref": "paper", "showarrow": False,
            "font": {"size": round(FONT_SIZE.get(ctx["mode"], 14) * 1.3),
                     "color": colors(ctx)["muted"]},
        }]
    return packed_cells({"kpis": kpis, "rank": rank}), {"flow": fig}
