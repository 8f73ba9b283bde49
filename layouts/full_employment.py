"""充分就业社区: compliance against its target and 时序进度, failing criteria, where to act."""

from __future__ import annotations

from typing import Any

from dash import html

from layouts.circle import gauge
from layouts.common import child_rows, child_word, is_leaf, target_rows, titled
from layouts.i18n import t
from layouts.widgets import (
    PALETTE,
    cell,
    detail,
    frame,
    graph_cell,
    kpi,
    packed_cells,
    ranking,
    ticker,
)
from queries.domain import FE_CRITERIA as CRITERIA

PANEL_ID = "full_employment"
CELLS = ("kpis", "criteria", "act", "rank")
GRAPHS = ("gauge",)
RATE = "full_employment.rate"
EMPTY = {"v": None, "s": "—"}


def skeleton(ctx: dict[str, Any]) -> html.Section:
    """The mounted structure of the panel (filled by `render`)."""
    lang = ctx["lang"]
    return frame(PANEL_ID, ctx, [
        graph_cell(PANEL_ID, "gauge", t("fe.rate", lang), mode=ctx["mode"]),
        cell(PANEL_ID, "kpis"),
        cell(PANEL_ID, "criteria"),
        cell(PANEL_ID, "act"),
        cell(PANEL_ID, "rank"),
    ])


def rate_gauge(p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """The compliance gauge; its threshold line marks the year's target when there is one."""
    rate = p["m"].get(RATE) or EMPTY
    fig = gauge(rate["v"], rate["s"], ctx)
    tg = p["targets"].get(RATE)
    target = _target_value(p)
    g = fig["data"][0]["gauge"]
    if ctx["mode"] == "embed":
        # A small iframe: the circle panel's wide side margins would leave no gauge at all.
        fig["layout"]["margin"] = {"l": 46, "r": 46, "t": 16, "b": 6}
        fig["layout"]["annotations"][0]["font"]["size"] = 26
    if tg is not None and target is not None:
        g["threshold"]["value"] = target * 100
        g["threshold"]["line"]["color"] = PALETTE[1]
    else:
        g["threshold"]["line"]["width"] = 0
    return fig


def _target_value(p: dict[str, Any]) -> float | None:
    """The rate target as a number (done ÷ completion gives it back from presented values)."""
    tg = p["targets"].get(RATE)
    rate = (p["m"].get(RATE) or EMPTY)["v"]
    if not tg or not tg.get("pct") or rate is None:
        return None
    return rate / tg["pct"]


def failing_rows(p: dict[str, Any], lang: str) -> html.Ul:
    """Communities failing each criterion, as bars against all communities of the region."""
    m = p["m"]
    total = (m.get("full_employment.communities") or EMPTY)["v"] or 0
    rows = []
    for c in CRITERIA:
        val = m.get(f"full_employment.failing.{c}") or EMPTY
        width = min(1.0, (val["v"] or 0) / total) * 100 if total else 0
        rows.append(html.Li([
            html.Span(t(f"crit.{c}", lang), className="crit-name"),
            html.Span(html.Span(className="crit-fill", style={"width": f"{width:.1f}%"}),
                      className="crit-bar"),
            html.Span(val["s"], className="crit-val"),
        ], className="crit-row"))
    return html.Ul(rows, className="crit-list")


def criteria_rows(p: dict[str, Any], lang: str) -> html.Ul:
    """A community's four criteria: met or not, with the figure behind each."""
    rows = []
    for c in p.get("criteria") or []:
        state = "ok" if c["met"] else "bad" if c["met"] is False else ""
        word = t("fe.met", lang) if c["met"] else t("fe.not_met", lang) if c["met"] is False \
            else "—"
        rows.append(html.Li([
            html.Span(c["label"], className="crit-name"),
            html.Span(c["value"], className="crit-val"),
            html.Span(word, className=f"crit-state {state}".strip()),
        ], className="crit-row crit-own"))
    return html.Ul(rows, className="crit-list")


def act_rows(p: dict[str, Any], lang: str) -> list[Any]:
    """Ticker rows of the communities to act on: name, how many criteria, which ones."""
    return [html.Li([
        html.Div([html.Span(a["name"], className="tk-main"),
                  html.Span(t("fe.n_failing", lang, n=len(a["failing"])), className="tk-num")],
                 className="tk-line"),
        html.Div([html.Span(t(f"crit_short.{k}", lang), className="tk-tag")
                  for k in a["failing"]], className="tk-line tk-tags"),
    ], className="tk-row tk-posting") for a in p.get("act_on") or []]


def render(p: dict[str, Any], ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cell contents and figures for one presented region."""
    lang = ctx["lang"]
    m = p["m"]

    def g(key: str) -> dict[str, Any]:
        return m.get(key) or EMPTY

    goal: Any = (target_rows(p, lang, [RATE], show_expected=True) if RATE in p["targets"]
                 else html.Div(t("report.no_targets", lang), className="empty"))
    kpis = html.Div([
        html.Div([
            kpi(t("fe.compliant", lang), g("full_employment.compliant"), lang=lang, tone="ok"),
            kpi(t("fe.communities", lang), g("full_employment.communities"), lang=lang),
        ], className="kpi-strip"),
        goal,
    ], className="fe-kpis")

    if is_leaf(p):
        criteria = titled(t("fe.criteria", lang), criteria_rows(p, lang))
        act = titled(t("own_detail", lang), detail([
            (t("fe.employed", lang), g("labour.employed")["s"], t("unit.person", lang)),
            (t("fe.unemployed", lang), g("unemployed.registered")["s"], t("unit.person", lang)),
            (t("fe.unemp_rate", lang), g("unemployment.registered_rate")["s"], ""),
            (t("fe.long_term", lang), g("unemployed.long_term")["s"], t("unit.person", lang)),
            (t("fe.overdue", lang), g("zero_households.overdue")["s"],
             t("unit.household", lang)),
        ]))
        failed = [c for c in p.get("criteria") or [] if c["met"] is False]
        status = (t("fe.status_bad", lang, n=len(failed)) if failed
                  else t("fe.status_ok", lang))
        rank = titled(t("fe.status", lang), html.Div([
            html.Div(status, className=f"fe-status {'bad' if failed else 'ok'}"),
            html.Ul([html.Li(c["label"]) for c in failed], className="fe-failed"),
        ], className="fe-status-box"))
    else:
        criteria = titled(t("fe.failing", lang), failing_rows(p, lang))
        act = titled(t("fe.act_on", lang),
                     ticker(act_rows(p, lang), ctx, empty=t("fe.act_none", lang)))
        rank = titled(t("fe.rank", lang, children=child_word(p, lang)),
                      # Half a column high on the wall: nine rows and "… +n" fit.
                      ranking(child_rows(p, RATE), ctx, limit=9, max_value=1.0))
    cells = {"kpis": kpis, "criteria": criteria, "act": act, "rank": rank}
    return packed_cells(cells), {"gauge": rate_gauge(p, ctx)}
