"""The map panel's own callbacks: its figure and legend (`?metric=`), and drill-down by click.

The generic panel callback (dashboard.pages) fills the map panel's side column, region
name and as-of time; the figure depends on the chosen metric, which only the address
carries, so it has a callback of its own reading `url.search`. The metric is checked
against the allow-list of queries.maplayer (derived from the metric registry); anything
else falls back to coverage. A click on the map names a child region: the drill callback's
claim is that child, accepted only if the server's own snapshot lists it as a child of the
region shown, and then checked against the token like any region page.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, State, html
from dash.exceptions import PreventUpdate

from dashboard import access, cache
from dashboard.pages import (
    _batch_value,
    _obj,
    _target_region,
    _text,
    _view_token,
    canvas_width,
    parse_query,
    want_id,
)
from dashboard.runtime import get_runtime
from layouts import map as map_panel
from layouts.i18n import t
from layouts.widgets import cell_id, empty_figure, graph_id
from queries.boundaries import Boundaries, load_boundaries
from queries.maplayer import MapBase, load_map_base, map_metric, map_view

log = logging.getLogger(__name__)
BOUNDARIES = "dashboard.boundaries"
MAP_OUT = graph_id(map_panel.PANEL_ID, map_panel.MAP_GRAPH)
LEGEND_OUT = cell_id(map_panel.PANEL_ID, map_panel.LEGEND_CELL)


def boundaries_of(path: str) -> Boundaries | None:
    """The operator's outlines, validated (BoundaryError with a clear message otherwise)."""
    if not path:
        return None
    found = load_boundaries(path)
    for warning in found.warnings:
        log.warning("DASHBOARD_BOUNDARIES: %s", warning)
    log.info("DASHBOARD_BOUNDARIES: %d outlines from %s", len(found.outlines), path)
    return found


def map_base() -> MapBase | None:
    """Communities and open worksites of the newest batch, read once per batch (cached)."""
    batch = cache.current_batch()
    if batch is None:
        return None
    key = f"mapbase:{batch.id}"
    hit = cache.cache.get(key)
    if hit is None:
        rt = get_runtime()
        local = batch.as_of.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(rt.settings.timezone))
        hit = load_map_base(rt.engine, batch.id, local.date())
        cache.cache.set(key, hit)
    return hit


def _map_claim(values: list[Any]) -> access.Claim:
    """Claim of the map figure (want, url.search, view): the region the map's want store
    names (as for every panel, dashboard.pages), panel map."""
    want, search, view = values
    _batch_value(_obj(want, "want").get("batch"))
    _text(search, "url.search", limit=access.CALLBACK_MAX_BYTES)
    return access.Claim("callback", _target_region(want), map_panel.PANEL_ID,
                        _view_token(view))


def clicked_code(click: Any) -> str | None:
    """The region code a click on the map carries (points' customdata), shape-checked."""
    if click is None:
        return None
    if not isinstance(click, dict) or not isinstance(click.get("points"), list):
        raise access.BadCallback("wrong type for clickData")
    points = click["points"]
    if not points:
        return None
    point = points[0]
    if not isinstance(point, dict):
        raise access.BadCallback("wrong type for clickData.points")
    code = point.get("customdata")
    if code is None:
        return None
    if not isinstance(code, str) or not (len(code) == 12 and code.isdigit()):
        raise access.BadCallback("malformed region code in clickData")
    return code


def child_of(parent: str | None, code: str) -> bool:
    """Whether the newest snapshot lists `code` as a child of `parent` (server data only)."""
    if not parent:
        return False
    rv = cache.region_view(parent)
    return rv is not None and any(c.get("code") == code for c in rv[2])


def _drill_claim(values: list[Any]) -> access.Claim:
    """Claim of a click on the map (clickData, url.search, target, view): the clicked child,
    accepted only when it is a child of the region shown."""
    click, search, target, view = values
    _text(search, "url.search", limit=access.CALLBACK_MAX_BYTES)
    region = _target_region(target)
    tok = _view_token(view)
    code = clicked_code(click)
    if _text((view or {}).get("kind"), "view.kind") != "region":
        # The wall and embeds do not navigate: the callback renders nothing for them.
        return access.Claim("callback", region, map_panel.PANEL_ID, tok)
    if code is None:
        return access.Claim("region", region, map_panel.PANEL_ID, tok)
    if not child_of(region, code):
        raise access.BadCallback("clicked region is not a child of the region shown")
    return access.Claim("region", code, map_panel.PANEL_ID, tok)


def render_map(target: dict | None, search: str | None, view: dict | None) -> tuple[Any, Any]:
    """Figure and legend of the map panel for the target region."""
    if not target or not view or not target.get("region"):
        raise PreventUpdate
    kind = view.get("kind", "wall")
    if kind == "region" and target.get("panel") != map_panel.PANEL_ID:
        raise PreventUpdate  # drawn when its tab is opened (it is the heavy panel)
    lang = view.get("lang", "zh")
    code = target["region"]
    rv = cache.region_view(code)
    base = map_base()
    if rv is None or rv[1] is None or base is None:
        return empty_figure(), html.Div(t("waiting", lang), className="empty")
    _, region, children = rv
    metric = map_metric(parse_query(search).get("metric"))
    tok = access.current_token()
    mv = map_view(base, code, region.get("level") or "", metric,
                  scope=tok.region if tok is not None else None,
                  boundaries=get_runtime_boundaries())
    names = {c["code"]: c.get("name") or c["code"] for c in children}
    names[code] = region.get("name") or code
    ctx = {"mode": kind, "lang": lang, "theme": view.get("theme", "dark"), "region": code,
           "panel": map_panel.PANEL_ID, "qs": "&lang=en" if lang == "en" else "",
           "canvas_w": canvas_width(parse_query(search))}
    fig = map_panel.figure(mv, names, ctx)
    return fig, map_panel.legend(mv, ctx, metric_links=kind == "region",
                                 unlabelled=fig["layout"]["meta"]["unlabelled"])


def get_runtime_boundaries() -> Boundaries | None:
    """The outlines validated at start-up (None when no file is configured)."""
    from flask import current_app

    return current_app.extensions.get(BOUNDARIES)


def drill(click: Any, search: str | None, target: dict | None, view: dict | None) -> tuple:
    """Address of the clicked child's region page (the claim already checked it)."""
    code = clicked_code(click)
    if not code or not target or not child_of(target.get("region"), code):
        raise PreventUpdate
    params = {"panel": map_panel.PANEL_ID}
    metric = parse_query(search).get("metric")
    if metric and map_metric(metric) == metric:
        params["metric"] = metric
    if (view or {}).get("lang") == "en":
        params["lang"] = "en"
    return f"/region/{code}", "?" + urlencode(params)


def register(app: dash.Dash) -> None:
    """Validate the boundaries file and attach the map's figure and drill callbacks."""
    settings = app.server.extensions["dashboard"].settings
    app.server.extensions[BOUNDARIES] = boundaries_of(settings.boundaries)

    # Fired by the map's want store like the panel's other cells (a wall asks for one panel
    # at a time), and by the address on the region page (?metric=).
    @access.declare(app, _map_claim,
                    Output(MAP_OUT, "figure"), Output(LEGEND_OUT, "children"),
                    Input(want_id(map_panel.PANEL_ID), "data"), Input("url", "search"),
                    State("view", "data"), prevent_initial_call=True)
    def _map(want: dict | None, search: str | None, view: dict | None):  # noqa: ANN202
        return render_map(want, search, view)

    @access.declare(app, _drill_claim,
                    Output("url", "pathname", allow_duplicate=True),
                    Output("url", "search", allow_duplicate=True),
                    Input(MAP_OUT, "clickData"), State("url", "search"),
                    State("target", "data"), State("view", "data"),
                    prevent_initial_call=True)
    def _drill(click: Any, search: str | None, target: dict | None,
               view: dict | None):  # noqa: ANN202
        if (view or {}).get("kind") != "region":
            raise PreventUpdate  # the wall and embeds do not navigate
        return drill(click, search, target, view)
