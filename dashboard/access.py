"""Access control on every path in (SPEC 4.3): pages, JSON API and Dash callback requests.

With DASHBOARD_AUTH=on every data-bearing request needs a token (``?token=``, ``Authorization:
Bearer``, the HttpOnly cookie set on first use, or — for embeds in cross-site iframes whose
cookies the browser withholds — the token the page carries in its callback payload).

Scope is derived, never read. Dash hands a callback its values by position and ignores the
ids a client writes next to them, so the check does the same: every server callback is
registered through :func:`declare` with a function that turns its positional values into a
:class:`Claim` (which page kind, region and panel it will render). A request body that does
not match a registered callback exactly (output, output ids, input and state ids and
properties, in order) is a 400 before anything else happens. One function, :func:`may_see`,
decides whether a token may see a region and a panel; pages, the API, callbacks and search
all ask it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, g, redirect, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from dashboard.responses import error_response
from dashboard.routes import match_page
from dashboard.runtime import get_runtime
from dashboard.tokens import TokenError, TokenInfo, in_subtree, verify
from queries import tokens_store

COOKIE = "dashboard_token"
OPEN_PREFIXES = (
    "/assets/", "/_dash-component-suites/", "/_dash-layout", "/_dash-dependencies",
    "/_favicon.ico", "/_reload-hash", "/healthz", "/api/v1/openapi.json", "/_wall/state",
)
CALLBACK_PATH = "/_dash-update-component"
TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']+")
ROLES_FOR = {
    "wall": ("wall", "leader"),
    "region": ("leader",),
    "embed": ("embed", "leader"),
    "report": ("leader",),  # the printable 进展情况表 (SPEC 8): exact values, leaders only
    "callback": ("wall", "embed", "leader"),
    "api": ("leader", "exchange"),
    "exchange": ("exchange",),
    # /metrics from an address outside DASHBOARD_METRICS_ALLOW (SPEC 9)
    "metrics": ("leader",),
}
# Request bodies are capped before anything reads them (413). A panel callback body is a
# few hundred bytes; the exchange endpoint takes up to 50,000 records per request.
CALLBACK_MAX_BYTES = 64 * 1024
EXCHANGE_MAX_BYTES = 32 * 1024 * 1024
OTHER_MAX_BYTES = 1024 * 1024
AUDIT_EVERY_SECONDS = 30.0
_audit_lock = threading.Lock()
_audit_last: dict[str, float] = {}


class BadCallback(ValueError):
    """A callback request that matches no registered callback, or carries wrong values."""


@dataclass(frozen=True)
class Claim:
    """What a callback request will render, derived from its registration and values."""

    page: str = "callback"  # whose roles apply: "wall", "region", "embed" or "callback"
    region: str | None = None
    panel: str | None = None
    token: str | None = None


Derive = Callable[[list[Any]], Claim]


@dataclass(frozen=True)
class _Rule:
    """A registered server callback: its outputs, input and state specs, and its Derive."""

    derive: Derive
    multi: bool
    outputs: tuple[tuple[str, str], ...]
    inputs: tuple[tuple[str, str], ...]
    state: tuple[tuple[str, str], ...]


RULES = "dashboard.callback_rules"


def declare(app: Any, derive: Derive, *deps: Any, **kwargs: Any) -> Callable:
    """`app.callback(*deps, **kwargs)` that also records how a request's scope is derived.

    `derive` receives the callback's values by position (inputs, then state) exactly as
    Dash will pass them to the function, and returns the Claim to check; it raises
    BadCallback for values of the wrong shape. Only declared callbacks are answered.
    """

    def decorator(func: Callable) -> Callable:
        before = set(app.callback_map)
        wrapped = app.callback(*deps, **kwargs)(func)
        added = [key for key in app.callback_map if key not in before]
        if len(added) != 1:
            raise RuntimeError("declare() must register exactly one callback")
        key = added[0]
        spec = app.callback_map[key]
        multi = key.startswith("..")
        parts = key[2:-2].split("...") if multi else [key]
        rules = app.server.extensions.setdefault(RULES, {})
        rules[key] = _Rule(
            derive=derive,
            multi=multi,
            outputs=tuple(tuple(p.rsplit(".", 1)) for p in parts),  # type: ignore[misc]
            inputs=tuple((i["id"], i["property"]) for i in spec["inputs"]),
            state=tuple((s["id"], s["property"]) for s in spec["state"]),
        )
        return wrapped

    return decorator


_VALUE_ITEM = frozenset(("id", "property", "value"))
_OUTPUT_ITEM = frozenset(("id", "property"))
_BODY_KEYS = frozenset(
    ("output", "outputs", "inputs", "state", "changedPropIds", "parsedChangedPropsIds"))


def _values(items: Any, expected: tuple[tuple[str, str], ...], what: str) -> list[Any]:
    """The values of `items`, which must name exactly the registered ids and properties."""
    if items is None and not expected:
        return []
    if not isinstance(items, list) or len(items) != len(expected):
        raise BadCallback(f"{what} do not match the callback")
    out = []
    for item, (cid, prop) in zip(items, expected, strict=True):
        if (not isinstance(item, dict) or not set(item) <= _VALUE_ITEM
                or item.get("id") != cid or item.get("property") != prop):
            raise BadCallback(f"{what} do not match the callback")
        out.append(item.get("value"))
    return out


def match_callback(rules: dict[str, _Rule], body: Any) -> Claim:
    """The Claim of a callback request body; BadCallback unless it matches a registration."""
    if not isinstance(body, dict):
        raise BadCallback("callback body must be a JSON object")
    if not set(body) <= _BODY_KEYS:
        raise BadCallback("unexpected fields in the callback body")
    output = body.get("output")
    rule = rules.get(output) if isinstance(output, str) else None
    if rule is None:
        raise BadCallback("unknown callback output")
    outs = body.get("outputs")
    outs = outs if rule.multi else [outs]
    if not isinstance(outs, list) or len(outs) != len(rule.outputs) or any(
        not isinstance(o, dict) or not set(o) <= _OUTPUT_ITEM
        or (o.get("id"), o.get("property")) != exp for o, exp in zip(outs, rule.outputs,
                                                                     strict=False)
    ):
        raise BadCallback("outputs do not match the callback")
    values = _values(body.get("inputs"), rule.inputs, "inputs")
    values += _values(body.get("state"), rule.state, "state")
    names = {f"{cid}.{prop}" for cid, prop in rule.inputs}
    for key in ("changedPropIds", "parsedChangedPropsIds"):
        changed = body.get(key, [])
        if not isinstance(changed, list) or any(c not in names for c in changed):
            raise BadCallback(f"{key} do not match the callback")
    claim = rule.derive(values)
    if claim.region is not None and (not isinstance(claim.region, str)
                                     or len(claim.region) > 40):
        raise BadCallback("malformed region code")
    return claim




def current_token() -> TokenInfo | None:
    """The verified token of this request (None with auth off or on open paths)."""
    return getattr(g, "token_info", None)


def may_see(tok: TokenInfo | None, region: str | None = None, panel: str | None = None) -> bool:
    """The one decision: may this token see region `region` and panel `panel`.

    None for the token means access control is off; None for region or panel means the
    request renders none. A region must lie in the token's subtree (a malformed code lies in
    none); a panel must be in the token's panel list when it has one.
    """
    if tok is None:
        return True
    if region is not None and not in_subtree(region, tok.region):
        return False
    return panel is None or tok.allows_panel(panel)


def is_public(view_kind: str | None) -> bool:
    """Whether this request renders a public view (small counts suppressed)."""
    if get_runtime().settings.auth:
        tok = current_token()
        return tok is None or tok.role in ("wall", "embed")
    return view_kind in ("wall", "embed")


def scope_root() -> str | None:
    """The region the caller is confined to (None: everything)."""
    tok = current_token()
    return tok.region if tok else None


def scope_key() -> str:
    """Everything about the caller a callback response depends on (role, region, panels)."""
    tok = current_token()
    if tok is None:
        return "-"
    panels = ",".join(sorted(tok.panels)) if tok.panels is not None else "*"
    return f"{tok.role}:{tok.region}:{panels}"


def visible(code: str | None) -> bool:
    """Whether a region lies inside the caller's scope."""
    tok = current_token()
    return tok is None or (code is not None and may_see(tok, code))


def mask_tokens(text: str) -> str:
    """Replace token values in a URL or log line with ***."""
    return TOKEN_IN_TEXT.sub(r"\1***", text)


class _TokenLogFilter(logging.Filter):
    """Keeps tokens out of request logs (werkzeug logs the full request line)."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        if record.args:
            record.args = tuple(
                mask_tokens(a) if isinstance(a, str) else a for a in record.args
            ) if isinstance(record.args, tuple) else record.args
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = mask_tokens(record.msg)
        return True


def _bearer() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def _audit(tok: TokenInfo, route: str, region: str | None) -> None:
    """Record the token's last use, at most every AUDIT_EVERY_SECONDS per token and worker."""
    now = time.monotonic()
    with _audit_lock:
        last = _audit_last.get(tok.id)
        if last is not None and now - last < AUDIT_EVERY_SECONDS:
            return
        _audit_last[tok.id] = now
        if len(_audit_last) > 10_000:  # bounded: forget the oldest half
            for key in sorted(_audit_last, key=_audit_last.get)[:5_000]:
                _audit_last.pop(key, None)
    try:
        tokens_store.record_use(get_runtime().engine, tok.id, route, region)
    except Exception:  # noqa: BLE001 - an audit write must never fail the request
        logging.getLogger(__name__).warning("could not record token use", exc_info=True)


def _classify(path: str) -> tuple[str, str | None, str | None]:
    """(route kind, region code, panel) of a request path."""
    if path == CALLBACK_PATH:
        return "callback", None, None
    kind, code, panel = match_page(path)
    if kind != "unknown":
        return kind, code, panel
    if path.startswith("/api/v1/exchange"):
        return "exchange", None, None
    if path.startswith("/api/"):
        m = re.match(r"^/api/v1/regions/([^/]+)", path)
        return "api", (m.group(1) if m else None), None
    return "other", None, None


def _metrics_gate() -> Response | None:
    """/metrics: open to DASHBOARD_METRICS_ALLOW addresses, else a leader token, else 403.

    Decided with auth on or off: operators' figures are never public. The address is the
    socket peer, or the one the configured proxies forwarded (DASHBOARD_PROXIES).
    """
    from dashboard.metrics import address_allowed

    rt = get_runtime()
    if address_allowed(request.remote_addr, rt.settings.metrics_allow):
        return None
    token = _bearer() or request.args.get("token") or request.cookies.get(COOKIE)
    if token:
        try:
            tok = verify(rt.engine, rt.settings.secret_key, token)
        except TokenError:
            tok = None
        if tok is not None and tok.role in ROLES_FOR["metrics"]:
            g.token_info = tok
            _audit(tok, request.path, None)
            return None
    return error_response(403, "无权读取运行指标 (metrics: address not allowed, no leader token)")


def _limit_body() -> Response | None:
    """413 for a body over this route's limit, decided before a byte of it is parsed."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    if request.path == CALLBACK_PATH:
        limit = CALLBACK_MAX_BYTES
    elif request.path.startswith("/api/v1/exchange"):
        limit = EXCHANGE_MAX_BYTES
    else:
        limit = OTHER_MAX_BYTES
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        return error_response(413, f"请求体过大 (request body over {limit} bytes)")
    return None


def _int_or_text(text: str) -> int | str:
    """A JSON integer; one too long for int() stays text, for its record's validator."""
    try:
        return int(text)
    except ValueError:
        return text


def read_body() -> bytes:
    """The request body, cached; RequestEntityTooLarge when a chunked body passes the limit.

    With Content-Length the limit is checked up front (`_limit_body`). A chunked body has no
    length: werkzeug reads it up to `max_content_length` and stops there without a word, so
    the parser would see a body cut short and call it malformed (400). One byte more on the
    wire means the body was longer than allowed (413).
    """
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(data) >= limit:
        raw = request.environ.get("wsgi.input")
        try:
            more = raw.read(1) if raw is not None else b""
        except (OSError, ValueError):
            more = b""
        if more:
            raise RequestEntityTooLarge()
    return data


def parse_json_body(records: bool = False) -> tuple[Any, Response | None]:
    """The request's JSON, or a 400/413 response instead.

    Callback bodies are parsed through Flask (cached for Dash). Exchange records are parsed
    here, with integers too long for Python kept as text, so one absurd value rejects its own
    record instead of the whole request; the endpoint reads them from `g.exchange_body`.
    """
    try:
        data = read_body()
        if records:
            body = json.loads(data, parse_int=_int_or_text)
            g.exchange_body = body
            return body, None
        return request.get_json(force=True, silent=False, cache=True), None
    except RequestEntityTooLarge:
        return None, error_response(413, "请求体过大 (request body too large)")
    except (HTTPException, ValueError, RecursionError, UnicodeDecodeError):
        # Bad JSON, bad encoding or nesting deep enough to exhaust the parser's stack.
        return None, error_response(400, "请求体不是有效的 JSON (malformed JSON body)")


def register(server: Flask) -> None:
    """Install the access check, the token cookie and the security headers."""
    logging.getLogger("werkzeug").addFilter(_TokenLogFilter())
    logging.getLogger("gunicorn.access").addFilter(_TokenLogFilter())

    @server.before_request
    def _check_access():  # noqa: ANN202, PLR0911, PLR0912
        g.token_info = None
        too_big = _limit_body()
        if too_big is not None:
            return too_big
        rt = get_runtime()
        path = request.path
        claim: Claim | None = None
        if path == CALLBACK_PATH and request.method == "POST":
            # The body must match a registered callback exactly; its scope is derived from
            # the registration and the values by position, never from ids it names.
            body, problem = parse_json_body()
            if problem is not None:
                return problem
            try:
                claim = match_callback(server.extensions.get(RULES, {}), body)
            except BadCallback as err:
                return error_response(400, f"malformed callback request: {err}")
            g.callback_claim = claim
        if path == "/metrics":
            return _metrics_gate()
        if not rt.settings.auth:
            return None
        if path.startswith(OPEN_PREFIXES) or path == "/api/v1/openapi.json":
            return None
        kind, code, panel = _classify(path)
        from_query = request.args.get("token")
        cookie = request.cookies.get(COOKIE)
        token = _bearer() or from_query or (claim.token if claim else None) or cookie
        if path == "/":
            if token:
                try:
                    tok = verify(rt.engine, rt.settings.secret_key, token)
                    return redirect(f"/wall/{tok.region}")
                except TokenError:
                    pass
            return error_response(401, "需要访问令牌 (token required)")
        if kind == "other":
            # Unknown paths carry no data; Dash answers them with its empty index page.
            return None
        if not token:
            return error_response(401, "需要访问令牌 (token required)")
        try:
            tok = verify(rt.engine, rt.settings.secret_key, token)
        except TokenError as err:
            return error_response(401, f"令牌无效 (invalid token): {err}")
        g.token_info = tok
        if tok.role not in ROLES_FOR[kind]:
            return error_response(403, f"角色 {tok.role} 无权访问此功能 (role not allowed here)")
        if claim is not None:
            if tok.role not in ROLES_FOR.get(claim.page, ()):
                return error_response(
                    403, f"角色 {tok.role} 无权访问此功能 (role not allowed here)")
            code, panel = claim.region, claim.panel
        elif code is not None and not (len(code) == 12 and code.isdigit()):
            code = None  # a malformed code on a page or API path is left to its 404
        if not may_see(tok, code, None):
            return error_response(403, "超出令牌的区域范围 (region outside the token's scope)")
        if not may_see(tok, None, panel):
            return error_response(403, "令牌不含此面板 (panel not allowed by the token)")
        _audit(tok, path, code)
        if kind == "exchange" and request.method == "POST":
            # Parsed only once the caller is known; the endpoint reads the cached result.
            _, problem = parse_json_body(records=True)
            if problem is not None:
                return problem
        if kind in ("wall", "region", "embed", "report") and from_query:
            g.set_cookie = from_query
            if kind != "embed":
                # Take the token out of the address bar (and so out of later logs, history
                # and Referer); the HttpOnly cookie carries it from now on, across reloads.
                rest = {k: v for k, v in request.args.items() if k != "token"}
                resp = redirect(path + ("?" + urlencode(rest) if rest else ""))
                _set_cookie(resp, from_query, tok)
                return resp
        return None

    @server.errorhandler(413)
    def _too_large(_err: Exception) -> Response:
        return error_response(413, "请求体过大 (request body too large)")

    @server.after_request
    def _headers(resp: Response) -> Response:
        rt = get_runtime()
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/embed/"):
            resp.headers["Content-Security-Policy"] = (
                f"frame-ancestors {rt.settings.frame_ancestors}"
            )
        else:
            resp.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
            resp.headers["X-Frame-Options"] = "DENY"
        pending = getattr(g, "set_cookie", None)
        tok = current_token()
        if pending and tok is not None:
            _set_cookie(resp, pending, tok)
        return resp


def _set_cookie(resp: Response, token: str, tok: TokenInfo) -> None:
    """The HttpOnly token cookie, living as long as the token."""
    max_age = 365 * 86400
    if tok.expires_at is not None:
        max_age = max(0, int((tok.expires_at - tokens_store.utcnow()).total_seconds()))
    resp.set_cookie(COOKIE, token, max_age=max_age, httponly=True, samesite="Lax",
                    secure=request.is_secure, path="/")


__all__ = ["register", "current_token", "is_public", "visible", "scope_root", "scope_key",
           "mask_tokens", "may_see", "declare", "match_callback", "Claim", "BadCallback",
           "parse_json_body", "COOKIE"]
