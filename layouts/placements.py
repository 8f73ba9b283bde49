"""Placements: 12-month trend, forms of employment, child ranking, share within 3 km."""

from __future__ import annotations

from typing import Any

from dash import html

from layouts.common import (
    child_rows,
    child_word,
    is_leaf,
    own_detail,
    placement_kpis,
    titled,
    trend_figure,
)
from layouts.i18n import t
from layouts.widgets import PALETTE, cell, frame, graph_cell, hbar, kpi, packed_cells, ranking

PANEL_ID = "placements"
CELLS = ("kpis", "rank")
GRAPHS = ("trend", "forms")


def skeleton(ctx: dict[str, Any]) -> html.Section:
    """The mounted structure of the panel (filled by `render`)."""
    lang = ctx["lang"]
    return frame(PANEL_ID, ctx, [
        cell(PANEL_ID, "kpis"),
        graph_cell(PANEL_ID, "trend", t("trend", lang), mode=ctx["mode"]),
        graph_cell(PANEL_ID, "forms", t("forms", lang), mode=ctx["mode"]),
        cell(PANEL_ID, "rank"),
    ])


def render(p: dict[str, Any], ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cell contents and figures for one presented region."""
    lang = ctx["lang"]
    m = p["m"]
    kpis = html.Div([
        *placement_kpis(m, lang),
        kpi(t("within3", lang), m["placements.within_3km_share"],
            note=t("within3.note", lang), tone="ok", lang=lang),
    ], className="kpi-strip")
    if is_leaf(p):
        rank = own_detail(p, [(f"form.{f['key']}", f"placements.by_form.{f['key']}",
                               "unit.person") for f in p["forms"]], lang)
    else:
        rank = titled(f"{t('rank.title', lang, children=child_word(p, lang))} · "
                      f"{t('kpi.year', lang)}",
                      ranking(child_rows(p, "placements.year"), ctx, limit=14))
    # Shares only when every form is shown: over the visible ones they would be wrong
    # (14 of 21 read as 100 %) and would hint at the hidden ones.
    total = sum(f["v"] or 0 for f in p["forms"])
    whole = all(f["v"] is not None for f in p["forms"])
    forms = sorted(
        ({**f, "s": f"{f['s']} · {(f['v'] or 0) / total:.0%}" if total and whole
          else f["s"]} for f in p["forms"]),
        key=lambda f: -(f["v"] or 0))
    return packed_cells({"kpis": kpis, "rank": rank}), {
        "trend": trend_figure(p, ctx),
        "forms": hbar(forms, ctx, PALETTE[1]),
    }
