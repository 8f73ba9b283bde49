"""Page shells around the panels: the wall canvas, the leaders' region page and the embed."""

from __future__ import annotations

import json
from typing import Any

from dash import dcc, html

from layouts import BY_ID, PANEL_IDS
from layouts.i18n import t

WIDE_ASPECT = 2.3  # from about 21:9 up, panels switch to their one-row wide grids


def stale_text(lang: str) -> dict[str, str]:
    """The stale and offline marks' wording for assets/wall.js (one source: layouts.i18n)."""
    return {"data-text-stale": t("stale", lang), "data-text-offline": t("offline", lang)}


def wall_page(opts: dict[str, Any]) -> html.Div:
    """The fixed design canvas of the wall: header, deck of mounted panels, progress bar."""
    lang = opts["lang"]
    ctx = {"mode": "wall", "lang": lang, "region": opts["code"], "theme": "dark"}
    width = opts["canvas_w"]
    deck_attrs = {
        "data-mode": "wall",
        "data-dwell": str(opts["dwell"]),
        "data-poll": str(opts["poll"]),
        "data-reload": opts["reload_at"],
        "data-tour": json.dumps(opts["tour"]),
        "data-batch": str(opts["batch"] or ""),
        "data-computed": opts["computed"] or "",
        "data-lang": lang,
        # The clock shows the data's zone (DASHBOARD_TIMEZONE), not the browser's.
        "data-tz": opts.get("tz") or "",
        "data-w": str(width),
        "data-h": "1080",
        # Several screens as one wall (SPEC 4.1): the step follows the server clock, and a
        # tile shows only its part of the canvas (assets/wall.js).
        "data-sync": "1" if opts.get("sync") else "",
        "data-tile": ",".join(str(n) for n in opts["tile"]) if opts.get("tile") else "",
        "data-jitter": str(opts.get("jitter", 10)),
        **stale_text(lang),
    }
    labels = [html.Span(t(f"panel.{pid}", lang), className="dot", **{"data-for": pid})
              for pid in opts["panels"]]
    return html.Div(
        id="canvas",
        className="canvas wall" + (" wide" if width / 1080 >= WIDE_ASPECT else ""),
        style={"width": f"{width}px", "height": "1080px"},
        children=[
            html.Header(className="wall-head", children=[
                html.Div(className="brand", children=[
                    html.Span(className="brand-mark"),
                    html.Span(t("app.brand", lang), className="brand-name"),
                ]),
                html.Div(className="where", children=[
                    html.H1(opts["name"], id="hdr-name", className="region-name"),
                    html.Div(opts["path_text"], id="hdr-path", className="region-path"),
                ]),
                html.Div(className="clock-box", children=[
                    html.Div(id="clock", className="clock"),
                    html.Div(id="clock-date", className="clock-date"),
                ]),
            ]),
            html.Div(
                id="deck", className="deck", **deck_attrs,
                children=[BY_ID[pid].skeleton(ctx) for pid in opts["panels"]],
            ),
            # Bad tile/pos parameters: say so on the screen the installer is looking at.
            *([html.Div(t("tile.bad", lang), className="param-error", role="alert")]
              if opts.get("tile_bad") else []),
            html.Footer(className="wall-foot", children=[
                html.Div(labels, className="dots"),
                html.Div(t("paused", lang), id="paused", className="paused-mark"),
                html.Div(t("auth.off", lang) if opts.get("auth_off") else "",
                         className="auth-off"),
                # What "<3" and "*" mean, for anyone reading the public numbers.
                html.Div(t("legend.hidden", lang, n=opts.get("small_cell", 3)),
                         className="auth-off legend"),
                html.Div(html.Div(id="progress-fill", className="progress-fill"),
                         className="progress"),
            ]),
        ],
    )


def region_page(opts: dict[str, Any]) -> html.Div:
    """The leaders' page: search, breadcrumb, panel tabs, all panels mounted (one shown)."""
    lang = opts["lang"]
    ctx = {"mode": "region", "lang": lang, "region": opts["code"], "theme": "dark"}
    return html.Div(className="region-page", children=[
        html.Header(className="region-head", children=[
            html.A([html.Span(className="brand-mark"), t("app.brand", lang)],
                   href=f"/region/{opts['root']}{opts['qs0']}", className="brand"),
            html.Nav(id="crumbs", className="crumbs"),
            dcc.Dropdown(id="search", options=[], placeholder=t("search", lang),
                         className="search", searchable=True, clearable=True),
            html.A(t("wall", lang), id="wall-link", className="wall-link",
                   href=f"/wall/{opts['code']}{opts['qs0']}", target="_blank"),
        ]),
        html.Nav(id="tabs", className="tabs"),
        html.Div(
            id="deck", className="deck region-deck",
            **{"data-mode": "region", "data-active": opts["panel"], "data-lang": lang,
               **stale_text(lang),
               "data-batch": str(opts["batch"] or ""), "data-poll": str(opts["poll"]),
               "data-computed": opts["computed"] or ""},
            children=[BY_ID[pid].skeleton(ctx) for pid in PANEL_IDS],
        ),
    ])


def embed_page(opts: dict[str, Any]) -> html.Div:
    """One panel filling its iframe, no navigation chrome."""
    lang = opts["lang"]
    ctx = {"mode": "embed", "lang": lang, "region": opts["code"], "theme": opts["theme"]}
    return html.Div(
        id="deck",
        className=f"deck embed-deck theme-{opts['theme']}",
        **{"data-mode": "embed", "data-active": opts["panel"], "data-lang": lang,
               **stale_text(lang),
           "data-batch": str(opts["batch"] or ""), "data-poll": str(opts["poll"]),
           "data-computed": opts["computed"] or ""},
        children=[BY_ID[opts["panel"]].skeleton(ctx)],
    )


def not_found(lang: str) -> html.Div:
    """A friendly in-app message for an unknown region or panel."""
    return html.Div(className="not-found", children=[
        html.H1(t("404.title", lang)),
        html.P(t("404.body", lang)),
        html.A(t("404.home", lang), href="/"),
    ])
