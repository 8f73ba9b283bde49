"""Helpers shared by panel modules: context, titles, labels of metric keys, trend figure."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import html

from layouts.i18n import t
from layouts.widgets import PALETTE, detail, kpi, plain, style_figure
from queries import metrics


def metric_label(key: str, lang: str) -> str:
    """Display label of a metric key (targets list): the registry's, else built from parts."""
    declared = metrics.label(key, lang)
    if declared:
        return declared
    if key.startswith("key_groups."):
        from layouts.i18n import enum

        parts = key.split(".")
        what = parts[2] if parts[2] in ("registered", "assisted", "placed") else "rate"
        return f"{enum('group', parts[1], lang)} · {t(what, lang)}"
    return key


def placement_kpis(m: dict[str, Any], lang: str) -> list[Any]:
    """The three placement counters (today, month, year) that open the overview and
    placements panels."""
    person = t("unit.person", lang)
    return [
        kpi(t("kpi.today", lang), m["placements.today"], person, tone="hot", lang=lang),
        kpi(t("kpi.month", lang), m["placements.month"], person, lang=lang),
        kpi(t("kpi.year", lang), m["placements.year"], person, lang=lang),
    ]


def titled(title: str, *content: Any) -> list[Any]:
    """A cell title followed by content."""
    return [html.H3(title, className="cell-title"), *content]


def child_word(p: dict[str, Any], lang: str) -> str:
    """'各区县' / 'counties' for the level of the children."""
    return t(f"child.{p.get('child_level') or 'community'}", lang)


def is_leaf(p: dict[str, Any]) -> bool:
    """No child regions (a community): panels show the region's own detail instead."""
    return not p.get("children")


def child_rows(p: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Ranking rows of the children for one metric."""
    return [{"code": c["code"], "name": c["name"], **c["m"][key]} for c in p["children"]
            if key in c["m"]]


def own_detail(p: dict[str, Any], keys: list[tuple[str, str, str]], lang: str) -> list[Any]:
    """The region's own figures (label key, metric key, unit key) as a detail list."""
    pairs = [(t(lbl, lang), p["m"][k]["s"], t(unit, lang) if unit else "") for lbl, k, unit in keys]
    return titled(t("own_detail", lang), detail(pairs))


def trend_figure(p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """The 12-month placements series as bars with a line, values on top."""
    s = p["series"]
    x = [plain(r["label"], breaks=True) for r in s]
    y = [r["v"] or 0 for r in s]
    fig = go.Figure()
    fig.add_bar(x=x, y=y, marker={"color": "rgba(47,211,255,0.35)",
                                  "line": {"color": PALETTE[0], "width": 1}},
                text=[plain(r["s"]) for r in s], textposition="outside", cliponaxis=False,
                constraintext="none",
                hoverinfo="skip" if ctx["mode"] == "wall" else "x+y")
    fig.add_scatter(x=x, y=y, mode="lines+markers", line={"color": PALETTE[1], "width": 3},
                    marker={"size": 8}, hoverinfo="skip")
    top = max(y) if y and max(y) > 0 else 1
    return style_figure(fig, ctx, yaxis={"visible": False, "range": [0, top * 1.25]},
                        xaxis={"tickangle": 0, "showgrid": False}, bargap=0.35)


def target_rows(p: dict[str, Any], lang: str, keys: list[str] | None = None,
                limit: int = 6, show_expected: bool = False) -> Any:
    """Targets as provincial progress tables show them: done / target, completion with ahead
    or behind, and the 时序进度 (share of the year gone) as a mark on the bar; its figure once
    under the list with `show_expected` (else put `expected_text` in the cell title)."""
    chosen = [(k, p["targets"][k]) for k in (keys or list(p["targets"])) if k in p["targets"]]
    rows = []
    for key, tg in chosen[:limit]:
        pct = tg.get("pct") or 0
        exp = tg.get("expected_v")
        pace = tg.get("pace")
        bar = [html.Div(className="tg-fill", style={"width": f"{min(pct, 1) * 100:.1f}%"})]
        if exp is not None:
            bar.append(html.Div(className="tg-exp", style={"left": f"{min(exp, 1) * 100:.1f}%"}))
        rows.append(html.Li([
            html.Div([html.Span(metric_label(key, lang), className="tg-name"), html.Span([
                html.Span(f"{t('done', lang)} ", className="muted"),
                html.B(tg["done"]),
                html.Span(f" / {t('target', lang)} {tg['target']}", className="muted"),
            ], className="tg-nums")], className="tg-top fit"),
            html.Div(bar, className="tg-bar"),
            html.Div(tg["completion"], className=f"tg-pct {pace or ''}".strip()),
            html.Span(t(f"pace.{pace}", lang) if pace else "", className=f"pace {pace or ''}"),
        ], className="tg-row tg-paced"))
    note = expected_text(p, lang) if show_expected else ""
    return html.Div([html.Ul(rows, className="targets"),
                     html.Div(note, className="tg-expected muted") if note else None],
                    className="targets-box")


def expected_text(p: dict[str, Any], lang: str) -> str:
    """'时序进度 32.9%' of the region's targets (the same share of the year for each)."""
    for tg in p["targets"].values():
        if tg.get("expected_v") is not None:
            return f"{t('expected', lang)} {tg['expected']}"
    return ""
