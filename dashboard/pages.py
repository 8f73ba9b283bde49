"""Pages: `/wall/<code>`, `/region/<code>`, `/embed/<panel>/<code>`, routing and panel callbacks.

Routing goes through Dash's single-page index (dcc.Location); a Flask `before_request`
check answers unknown regions and panels with a friendly 404 page before Dash sees them.
Panels stay mounted; their callbacks fire only when the target region or the snapshot
batch changes (the batch id is pushed by the clientside poller in assets/wall.js).
"""

from __future__ import annotations

import html as html_lib
import json
import math
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import Response, jsonify, redirect, request

from dashboard import access, cache
from dashboard.present import path_steps, present
from dashboard.routes import parse_page
from dashboard.runtime import get_runtime
from layouts import BY_ID, PANEL_IDS, PANELS
from layouts.i18n import norm_lang, t
from layouts.shell import embed_page, not_found, region_page, wall_page
from layouts.widgets import cell_id, empty_figure, graph_id
from queries.clock import utcnow

HHMM_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


QUERY_NUMBER_MAX_CHARS = 64


def _int(value: Any, default: int, lo: int, hi: int) -> int:
    """A numeric query value clamped to lo..hi; anything but a finite number gives default.

    No query value may fail a page: `inf`, `nan`, `1e400` (inf once parsed), absurdly long
    digit strings and garbage all fall back to the default.
    """
    if value is None or isinstance(value, bool):
        return default
    try:
        if isinstance(value, str):
            if len(value) > QUERY_NUMBER_MAX_CHARS:
                return default
            value = value.strip()
        number = float(value)
        if not math.isfinite(number):
            return default
        return max(lo, min(hi, int(number)))
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        return default


def parse_query(search: str | None) -> dict[str, str]:
    """`?a=1&b=2` → {a: "1", b: "2"} (last value wins)."""
    q = parse_qs((search or "").lstrip("?"), keep_blank_values=False)
    return {k: v[-1] for k, v in q.items()}


def parse_route(pathname: str | None) -> tuple[str, str | None, str | None]:
    """(kind, code, panel) of a path; kind is wall, region, embed or unknown."""
    return parse_page(pathname)


def panel_list(value: str | None) -> list[str]:
    """The `panels` query: known ids in the given order, duplicates dropped; all when empty."""
    wanted = [p.strip() for p in (value or "").split(",") if p.strip() in PANEL_IDS]
    return list(dict.fromkeys(wanted)) or list(PANEL_IDS)


def canvas_width(q: dict[str, str]) -> int:
    """Width of the design canvas normalised to a height of 1080 (aspect of w×h kept)."""
    w = _int(q.get("w"), 1920, 320, 40000)
    h = _int(q.get("h"), 1080, 240, 20000)
    aspect = max(0.5, min(8.0, w / h))
    return round(1080 * aspect)


TILE_RE = re.compile(r"^([1-9]\d?)[xX×]([1-9]\d?)$")
TILE_MAX = 16  # columns or rows of one wall; more is a typo


def parse_tile(tile: str | None, pos: str | None) -> tuple[tuple[int, int, int] | None, bool]:
    """(cols, rows, pos) of `tile=CxR&pos=i`, and whether the parameters were bad.

    Absent parameters are no tile and not bad; bad ones (a wrong grid, pos outside it, pos
    without tile) give no tile, and the page says so instead of failing.
    """
    if tile is None and pos is None:
        return None, False
    m = TILE_RE.match((tile or "").strip()[:QUERY_NUMBER_MAX_CHARS])
    if not m:
        return None, True
    cols, rows = int(m.group(1)), int(m.group(2))
    index = _int(pos if pos is not None else "0", -1, -1, cols * rows)
    if cols > TILE_MAX or rows > TILE_MAX or not 0 <= index < cols * rows \
            or (pos is not None and not pos.strip().isdigit()):
        return None, True
    return (cols, rows, index), False


def _known(code: str) -> bool | None:
    """Whether a region exists in the newest batch; None when there is no batch yet."""
    index = cache.region_index()
    if not index:
        return None
    return any(r["code"] == code for r in index)


def _path_text(region: dict[str, Any] | None) -> str:
    if not region:
        return ""
    # A scoped token sees its own subtree only: ancestors above it are left out.
    return " › ".join(str(p["name"]) for p in path_steps(region.get("path"))[:-1]
                      if access.visible(p["code"]))


def not_found_response(lang: str) -> Response:
    """The friendly 404 page (HTML, no traceback)."""
    title = html_lib.escape(t("404.title", lang))
    body = html_lib.escape(t("404.body", lang))
    home = html_lib.escape(t("404.home", lang))
    page = f"""<!doctype html><html lang="{'en' if lang == 'en' else 'zh-CN'}"><head>
<meta charset="utf-8"><title>{title}</title><meta name="viewport" content="width=device-width">
<style>body{{margin:0;height:100vh;display:flex;align-items:center;justify-content:center;
background:#06101f;color:#e6f1ff;font-family:"Noto Sans CJK SC","Source Han Sans SC",
"Microsoft YaHei",sans-serif}}main{{text-align:center}}h1{{font-size:48px;margin:0 0 16px}}
p{{font-size:22px;color:#8fa8c8}}a{{color:#2fd3ff;font-size:22px}}</style></head>
<body><main><h1>{title}</h1><p>{body}</p><p><a href="/">{home}</a></p></main></body></html>"""
    return Response(page, status=404, mimetype="text/html")


# ---------------------------------------------------------------- what a callback renders
# Each server callback is declared with a function from its values (by position, as Dash
# passes them) to the Claim the access check tests: the page kind whose roles apply, the
# region and the panel it renders. Panels come from the callback's outputs, never from a
# name the client sends. Values of the wrong shape are a 400 (BadCallback).
_VIEW_TEXT = ("kind", "lang", "theme", "tok")


def _text(value: Any, what: str, limit: int = 4096) -> str | None:
    """A string (or None) no longer than `limit` characters."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise access.BadCallback(f"wrong type for {what}")
    return value


def _obj(value: Any, what: str) -> dict[str, Any]:
    """A JSON object (None reads as empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise access.BadCallback(f"wrong type for {what}")
    return value


def _view_token(view: Any) -> str | None:
    """The token an embed carries in its view store (cross-site iframes send no cookie)."""
    data = _obj(view, "view")
    for key in _VIEW_TEXT:
        _text(data.get(key), f"view.{key}")
    return data.get("tok")


def _target_region(target: Any) -> str | None:
    """The region of a target store value."""
    data = _obj(target, "target")
    _text(data.get("panel"), "target.panel")
    return _text(data.get("region"), "target.region")


def _batch_value(batch: Any) -> None:
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int | str)):
        raise access.BadCallback("wrong type for batch")


def _claim_of_want(panel: str) -> access.Derive:
    """Claim of a panel callback (want, view): the region the panel's want store names."""

    def derive(values: list[Any]) -> access.Claim:
        want, view = values
        _batch_value(_obj(want, "want").get("batch"))
        return access.Claim("callback", _target_region(want), panel, _view_token(view))

    return derive


def _claim_of_target(page: str, panel: str | None = None) -> access.Derive:
    """Claim of a (target, batch, view) callback: the target's region, a fixed panel."""

    def derive(values: list[Any]) -> access.Claim:
        target, batch, view = values
        _batch_value(batch)
        return access.Claim(page, _target_region(target), panel, _view_token(view))

    return derive


def _route_claim(values: list[Any]) -> access.Claim:
    """Claim of the route callback (pathname, search, view): the page the URL renders."""
    pathname, search, view = values
    # An embed in a cross-site iframe gets no cookie: its first request carries the token
    # of its own address (?token=), later ones the copy kept in the view store.
    # A long address still gets its wall (unknown parameters are ignored); the body cap
    # (access.CALLBACK_MAX_BYTES) bounds it.
    search = _text(search, "url.search", limit=access.CALLBACK_MAX_BYTES)
    tok = _view_token(view) or parse_query(search).get("token")
    kind, code, panel = parse_route(_text(pathname, "url.pathname"))
    if kind == "unknown":
        return access.Claim("callback", None, None, tok)
    return access.Claim(kind, code, panel if kind == "embed" else None, tok)


def _search_claim(values: list[Any]) -> access.Claim:
    """Claim of the search box (typed text, view): the region page; options are filtered."""
    text, view = values
    _text(text, "search.search_value")
    return access.Claim("region", None, None, _view_token(view))


def _jump_claim(values: list[Any]) -> access.Claim:
    """Claim of a search jump (chosen code, target, view): the region it jumps to."""
    code, target, view = values
    _target_region(target)
    return access.Claim("region", _text(code, "search.value"), None, _view_token(view))


def register(app: dash.Dash) -> None:
    """Attach page routes, the app layout and the callbacks of every panel."""
    server = app.server

    @server.before_request
    def _check_page():  # noqa: ANN202
        # Dash owns "/" and serves its index for any path: redirect the root and answer
        # unknown regions/panels with 404 before Dash sees them.
        if request.path == "/":
            query = request.query_string.decode()
            return redirect(f"/wall/{get_runtime().settings.root_region}"
                            + (f"?{query}" if query else ""))
        kind, code, panel = parse_route(request.path)
        if kind == "unknown":
            if request.path.startswith(("/wall", "/region", "/embed", "/report")):
                return not_found_response(norm_lang(request.args.get("lang")))
            return None
        if kind == "embed" and panel not in PANEL_IDS:
            return not_found_response(norm_lang(request.args.get("lang")))
        try:
            known = _known(code or "")
        except Exception:  # noqa: BLE001 - database away: let the page load and go stale
            known = None
        if known is False:
            return not_found_response(norm_lang(request.args.get("lang")))
        return None

    # The printable 进展情况表 (SPEC 8): a plain page, no Dash, so it prints as it reads.
    server.add_url_rule("/report/<code>", endpoint="report_page", view_func=report_page)

    @server.route("/_wall/state")
    def _state():  # noqa: ANN202
        # The poller's tiny JSON: which batch is current and whether it is stale.
        rt = get_runtime()
        try:
            batch = cache.current_batch()
        except Exception:  # noqa: BLE001 - database away
            resp = jsonify({"ok": False, "error": "database unavailable"})
            resp.status_code = 503
            resp.headers["Cache-Control"] = "no-store"
            return resp
        # `now` (server epoch ms) lets synchronised walls (sync=1) estimate their clock offset.
        body: dict[str, Any] = {"ok": True, "batch": None, "as_of": None, "computed_at": None,
                                "stale": True}
        if batch is not None:
            now = utcnow()
            age = (now - batch.computed_at).total_seconds()
            body.update(
                batch=batch.id,
                as_of=batch.as_of_iso(rt.settings.timezone),
                computed_at=batch.computed_at_iso(rt.settings.timezone),
                stale=age > 2 * rt.settings.refresh_seconds,
            )
        body["now"] = round(time.time() * 1000, 1)  # last: as close to sending as possible
        resp = jsonify(body)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    app.title = t("app.title")
    app.layout = html.Div(id="app-root", children=[
        dcc.Location(id="url", refresh="callback-nav"),
        dcc.Store(id="view"),
        dcc.Store(id="target"),
        dcc.Store(id="batch"),
        # One "want" store per panel: {region, panel, batch} it should show. The wall sets
        # them one at a time (assets/wall.js: the panel about to be shown, with jitter on a
        # batch change); the region page and embeds map target + batch to all of them.
        *[dcc.Store(id=want_id(pid)) for pid in PANEL_IDS],
        html.Div(id="page"),
    ])

    @access.declare(
        app, _route_claim,
        Output("page", "children"),
        Output("view", "data"),
        Output("target", "data"),
        Input("url", "pathname"),
        Input("url", "search"),
        State("view", "data"),
    )
    def _route(pathname: str | None, search: str | None, view: dict | None):  # noqa: ANN202
        return route(pathname, search, view)

    for module in PANELS:
        _register_panel(app, module)

    @access.declare(
        app, _claim_of_target("wall"),
        Output("hdr-name", "children"),
        Output("hdr-path", "children"),
        Input("target", "data"),
        Input("batch", "data"),
        State("view", "data"),
        prevent_initial_call=True,
    )
    def _wall_head(target: dict | None, _batch: Any, view: dict | None):  # noqa: ANN202
        if not target or not view or view.get("kind") != "wall" or not target.get("region"):
            raise PreventUpdate
        rv = cache.region_view(target["region"])
        if rv is None or rv[1] is None:
            raise PreventUpdate
        return rv[1]["name"], _path_text(rv[1])

    @access.declare(
        app, _claim_of_target("region"),
        Output("crumbs", "children"),
        Output("tabs", "children"),
        Output("wall-link", "href"),
        Input("target", "data"),
        Input("batch", "data"),
        State("view", "data"),
    )
    def _region_chrome(target: dict | None, _batch: Any, view: dict | None):  # noqa: ANN202
        if not target or not view or view.get("kind") != "region" or not target.get("region"):
            raise PreventUpdate
        return region_chrome(target, view)

    app.clientside_callback(
        ClientsideFunction(namespace="wall", function_name="wants"),
        *[Output(want_id(pid), "data") for pid in PANEL_IDS],
        Input("target", "data"),
        Input("batch", "data"),
        State("view", "data"),
        # What each panel holds already: the region page asks only for what it lacks.
        *[State(want_id(pid), "data") for pid in PANEL_IDS],
        prevent_initial_call=True,
    )

    app.clientside_callback(
        ClientsideFunction(namespace="wall", function_name="activePanel"),
        Output("deck", "data-active"),
        Input("target", "data"),
        State("view", "data"),
        prevent_initial_call=True,
    )

    @access.declare(
        app, _search_claim,
        Output("search", "options"),
        Input("search", "search_value"),
        State("view", "data"),
        prevent_initial_call=True,
    )
    def _search(value: str | None, view: dict | None):  # noqa: ANN202
        return search_options(value, (view or {}).get("lang", "zh"))

    @access.declare(
        app, _jump_claim,
        Output("url", "pathname"),
        Output("url", "search"),
        Input("search", "value"),
        State("target", "data"),
        State("view", "data"),
        prevent_initial_call=True,
    )
    def _jump(code: str | None, target: dict | None, view: dict | None):  # noqa: ANN202
        if not code:
            raise PreventUpdate
        panel = (target or {}).get("panel") or "overview"
        return f"/region/{code}", "?" + urlencode(_keep({"panel": panel}, view))


def _keep(params: dict[str, str], view: dict | None) -> dict[str, str]:
    """Add the language to link parameters when it is not the default."""
    if (view or {}).get("lang") == "en":
        params = {**params, "lang": "en"}
    return params


def route(pathname: str | None, search: str | None, view: dict | None) -> tuple:
    """Page, view and target for a URL; the region page only retargets when its shell stays."""
    q = parse_query(search)
    lang = norm_lang(q.get("lang"))
    kind, code, panel = parse_route(pathname)
    if kind == "unknown" or code is None:
        return not_found(lang), {"kind": "unknown", "lang": lang}, None
    if kind == "region":
        panel = q.get("panel") if q.get("panel") in PANEL_IDS else "overview"
    if kind == "embed" and panel not in PANEL_IDS:
        return not_found(lang), {"kind": "unknown", "lang": lang}, None
    theme = q.get("theme") if q.get("theme") in ("dark", "light", "transparent") else "dark"
    shell = {"kind": kind, "lang": lang, "theme": theme}
    if kind != "region":
        shell.update(code=code, panel=panel, q=q)
    target = {"region": code, "panel": panel}
    if view and view.get("shell") == shell:
        return no_update, no_update, target

    try:
        rv = cache.region_view(code)
        batch = cache.current_batch()
    except Exception:  # noqa: BLE001 - database away at first load: render, the poller recovers
        rv, batch = None, None
    region = rv[1] if rv else None
    if rv is not None and region is None:
        return not_found(lang), {"kind": "unknown", "lang": lang}, None
    rt = get_runtime()
    opts: dict[str, Any] = {
        "code": code,
        "lang": lang,
        "theme": theme,
        "panel": panel,
        "batch": batch.id if batch else None,
        "computed": batch.computed_at_iso(rt.settings.timezone) if batch else None,
        "poll": _int(q.get("poll"), 30, 2, 3600),
        "root": rt.settings.root_region,
        "tz": rt.settings.timezone,
        "qs0": "?lang=en" if lang == "en" else "",
    }
    view_data = {"kind": kind, "lang": lang, "theme": theme, "shell": shell,
                 "stale_after": 2 * rt.settings.refresh_seconds}
    if kind == "embed" and q.get("token"):
        # Cross-site iframes may not send the cookie: callbacks carry the token instead.
        view_data["tok"] = q["token"]
    opts["auth_off"] = not rt.settings.auth
    opts["small_cell"] = rt.settings.small_cell
    if kind == "wall":
        children = rv[2] if rv else []
        tour = [code]
        if q.get("tour") == "children":
            tour += [c["code"] for c in children]
        reload_at = q.get("reload_at", "03:30")
        tile, tile_bad = parse_tile(q.get("tile"), q.get("pos"))
        opts.update(
            sync=q.get("sync") == "1",
            tile=tile,
            tile_bad=tile_bad,
            # Longest random delay (s) before re-fetching the shown panel on a batch change.
            jitter=_int(q.get("jitter"), 10, 0, 600),
            dwell=_int(q.get("dwell"), 20, 2, 3600),
            panels=panel_list(q.get("panels")),
            tour=tour,
            reload_at=reload_at if (HHMM_RE.match(reload_at) or reload_at == "off") else "03:30",
            canvas_w=canvas_width(q),
            name=region["name"] if region else code,
            path_text=_path_text(region),
        )
        return wall_page(opts), view_data, target
    if kind == "region":
        return region_page(opts), view_data, target
    return embed_page(opts), view_data, target


def region_chrome(target: dict[str, Any], view: dict[str, Any]) -> tuple:
    """Breadcrumb (links up the path), panel tabs and the wall link of the region page."""
    lang = view.get("lang", "zh")
    code = target["region"]
    panel = target.get("panel") or "overview"
    rv = cache.region_view(code)
    region = rv[1] if rv else None
    crumbs: list[Any] = []
    if region:
        path = path_steps(region.get("path")) or [{"code": code, "name": region.get("name")}]
        # A scoped leader's breadcrumb starts at their own region.
        path = [step for step in path if access.visible(step["code"])] or path[-1:]
        for i, step in enumerate(path):
            if i:
                crumbs.append(html.Span("›", className="crumb-sep"))
            if step["code"] == code or i == len(path) - 1:
                crumbs.append(html.Span(step["name"], className="crumb here"))
            else:
                href = f"/region/{step['code']}?" + urlencode(_keep({"panel": panel}, view))
                crumbs.append(dcc.Link(step["name"], href=href, className="crumb"))
    tabs = [
        html.Span(dcc.Link(t(f"panel.{pid}", lang),
                           href=f"/region/{code}?" + urlencode(_keep({"panel": pid}, view)),
                           className="tab is-active" if pid == panel else "tab"),
                  **{"data-tab": pid})
        for pid in PANEL_IDS if access.may_see(access.current_token(), None, pid)
    ]
    wall_q = "?" + urlencode(_keep({"panels": panel}, view))
    return crumbs, tabs, f"/wall/{code}{wall_q}"


def search_options(value: str | None, lang: str) -> list[dict[str, str]]:
    """Up to 30 regions whose name or code contains the typed text (shorter names first)."""
    text = (value or "").strip().lower()
    if not text:
        return []
    index = cache.region_index()
    by_code = {r["code"]: r for r in index}
    hits = [r for r in index
            if (text in str(r["name"]).lower() or str(r["code"]).startswith(text))
            and access.visible(r["code"])]
    hits.sort(key=lambda r: (len(str(r["name"])), r["code"]))
    out = []
    for r in hits[:30]:
        parent = by_code.get(r.get("parent_code") or "")
        level = t(f"level.{r['level']}", lang)
        label = f"{r['name']} · {level}" + (f" · {parent['name']}" if parent else "")
        out.append({"label": label, "value": r["code"]})
    return out


def _register_panel(app: dash.Dash, module: Any) -> None:
    """One callback per panel: cells, figures, data-region, as-of and region name."""
    pid = module.PANEL_ID
    outputs = [Output(cell_id(pid, c), "children") for c in module.CELLS]
    outputs += [Output(graph_id(pid, g), "figure") for g in module.GRAPHS]
    outputs += [Output(f"panel-{pid}", "data-region"), Output(f"{pid}-asof", "children"),
                Output(f"{pid}-region", "children")]

    # Fired only by its want store (never on mount): a wall asks for one panel at a time.
    @access.declare(app, _claim_of_want(pid), *outputs,
                    Input(want_id(pid), "data"), State("view", "data"),
                    prevent_initial_call=True)
    def _fill(want: dict | None, view: dict | None):  # noqa: ANN202
        return render_panel(module, want, view)

    _fill.__name__ = f"fill_{pid}"


def want_id(pid: str) -> str:
    """Id of the store whose value ({region, panel, batch}) makes panel `pid` render."""
    return f"want-{pid}"


def render_panel(module: Any, target: dict | None, view: dict | None) -> list[Any]:
    """Everything one panel shows for the target region, values routed through present()."""
    if not target or not view or not target.get("region"):
        raise PreventUpdate
    lang = view.get("lang", "zh")
    kind = view.get("kind", "wall")
    code = target["region"]
    rv = cache.region_view(code)
    n_cells, n_graphs = len(module.CELLS), len(module.GRAPHS)
    if rv is None or rv[1] is None:
        waiting = html.Div(t("waiting", lang), className="empty")
        return [waiting] * n_cells + [empty_figure()] * n_graphs + [code, "", ""]
    batch, region, children = rv
    tz = get_runtime().settings.timezone
    p = present(region, children, as_of=batch.as_of_iso(tz), lang=lang,
                public=access.is_public(kind),
                small_cell=get_runtime().settings.small_cell,
                visible=access.visible if access.current_token() is not None else None)
    ctx = {
        "mode": kind,
        "lang": lang,
        "theme": view.get("theme", "dark"),
        "region": code,
        "panel": target.get("panel"),
        "qs": "&lang=en" if lang == "en" else "",
    }
    cells, figures = module.render(p, ctx)
    as_of = html.Span([t("as_of", lang), " ", html.Time(p["as_of"], dateTime=batch.as_of_iso(tz))])
    return ([cells[c] for c in module.CELLS] + [figures[g] for g in module.GRAPHS]
            + [code, as_of, p["name"]])


def report_page(code: str) -> Response:
    """`/report/<code>`: the progress table as an A4 page (zh, or English with lang=en)."""
    from dashboard import reports

    lang = norm_lang(request.args.get("lang"))
    try:
        rv = cache.region_view(code)
    except Exception:  # noqa: BLE001 - database away: say so, never a traceback
        rv = None
    if rv is None:
        return Response(f"<!doctype html><meta charset=\"utf-8\"><p>{t('waiting', lang)}</p>",
                        status=503, mimetype="text/html")
    batch, region, children = rv
    if region is None:
        return not_found_response(lang)
    report = reports.build(region, children, batch.as_of_iso(get_runtime().settings.timezone),
                           lang)
    q = "&lang=en" if lang == "en" else ""
    links = {t("report.xlsx", lang): f"/api/v1/regions/{code}/report.xlsx?format=xlsx{q}",
             t("report.csv", lang): f"/api/v1/regions/{code}/report.xlsx?format=csv{q}"}
    resp = Response(reports.to_html(report, links), mimetype="text/html")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


__all__ = ["register", "route", "render_panel", "parse_route", "parse_query", "BY_ID", "_dump"]
