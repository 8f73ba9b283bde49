"""招聘会与培训: the year's job fairs and the next ones, trainings, interviews, loans,
satisfaction."""

from __future__ import annotations

from typing import Any

from dash import html

from layouts.common import child_rows, child_word, is_leaf, titled
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
    vbar,
)
from queries.domain import TRAINING_KINDS

PANEL_ID = "services"
CELLS = ("kpis", "fairs", "more", "rank")
GRAPHS = ("trainings",)
EMPTY = {"v": None, "s": "—"}


def skeleton(ctx: dict[str, Any]) -> html.Section:
    """The mounted structure of the panel (filled by `render`)."""
    lang = ctx["lang"]
    return frame(PANEL_ID, ctx, [
        cell(PANEL_ID, "kpis"),
        cell(PANEL_ID, "fairs"),
        graph_cell(PANEL_ID, "trainings", t("sv.trainings", lang), mode=ctx["mode"]),
        cell(PANEL_ID, "rank"),
        cell(PANEL_ID, "more"),
    ])


def _score(value: dict[str, Any]) -> str:
    """A mean score with two decimals (SPEC 6.2), whatever the generic mean format gives."""
    v = value.get("v")
    return f"{v:.2f}" if isinstance(v, int | float) else str(value.get("s") or "—")


def fair_rows(fairs: list[dict[str, Any]]) -> list[Any]:
    """Ticker rows of the upcoming fairs: day, title, mode tag, place."""
    return [html.Li([
        html.Div([html.Span(f["date"], className="tk-num"),
                  html.Span(f["title"], className="tk-main"),
                  html.Span(f["mode"], className="tk-tag") if f["mode"] else None],
                 className="tk-line"),
        html.Div(f["where"], className="tk-meta") if f["where"] else None,
    ], className="tk-row tk-posting") for f in fairs]


def render(p: dict[str, Any], ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cell contents and figures for one presented region."""
    lang = ctx["lang"]
    m = p["m"]

    def g(key: str) -> dict[str, Any]:
        return m.get(key) or EMPTY

    person, times = t("unit.person", lang), t("unit.times", lang)
    kpis = html.Div([
        kpi(t("sv.fairs", lang), g("job_fairs.year"), t("unit.fair", lang), tone="hot",
            lang=lang),
        kpi(t("sv.fair_employers", lang), g("job_fairs.employers.year"), t("unit.firm", lang),
            lang=lang),
        kpi(t("sv.fair_posts", lang), g("job_fairs.posts.year"), person, lang=lang),
        kpi(t("sv.fair_intentions", lang), g("job_fairs.intentions.year"), person, tone="ok",
            lang=lang),
        kpi(t("sv.fair_views", lang), g("job_fairs.views.year"), times, lang=lang),
    ], className="kpi-strip")

    fairs = titled(t("sv.upcoming", lang),
                   ticker(fair_rows(p.get("fairs") or []), ctx,
                          empty=t("sv.upcoming_none", lang)))

    score = g("satisfaction.score.year")
    more = titled(t("sv.more", lang), detail([
        (t("sv.interviews", lang), g("interviews.year")["s"], times),
        (t("sv.remote_interviews", lang), g("interviews.remote.year")["s"], times),
        (t("sv.offer_rate", lang), g("interviews.offer_rate.year")["s"], ""),
        (t("sv.loans", lang), g("loans.year")["s"], t("unit.loan", lang)),
        (t("sv.loan_amount", lang), g("loans.amount.year")["s"], t("unit.cny", lang)),
        (t("sv.jobs_created", lang), g("loans.jobs_created.year")["s"], person),
        (t("sv.score", lang), _score(score), t("unit.score", lang)),
        (t("sv.satisfied", lang), g("satisfaction.satisfied_share.year")["s"], ""),
    ]))

    if is_leaf(p):
        rank = titled(t("sv.by_kind", lang), detail([
            (t(f"training.{k}", lang), g(f"trainings.by_kind.{k}")["s"], times)
            for k in TRAINING_KINDS]))
    else:
        rank = titled(f"{t('rank.title', lang, children=child_word(p, lang))} · "
                      f"{t('sv.tr_started', lang)}",
                      # Half a column high on the 1920 wall: six rows and "… +n" fit.
                      ranking(child_rows(p, "trainings.year"), ctx, limit=6))

    bars = [{"label": t(f"sv.tr_{k}", lang), **g(key)} for k, key in (
        ("started", "trainings.year"), ("completed", "trainings.completed.year"),
        ("certified", "trainings.certified.year"), ("subsidised", "trainings.subsidised.year"),
        ("remote", "trainings.remote.year"))]
    fig = vbar(bars, ctx, PALETTE[0])
    fig["data"][0]["marker"]["color"] = [PALETTE[0], PALETTE[2], PALETTE[1], PALETTE[4],
                                         PALETTE[5]]
    cells = {"kpis": kpis, "fairs": fairs, "more": more, "rank": rank}
    return packed_cells(cells), {"trainings": fig}
