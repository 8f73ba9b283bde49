"""Access control on every path in (SPEC 4.3): pages, JSON API and Dash callback requests.

With DASHBOARD_AUTH=on every data-bearing request needs a token (``?token=``, ``Authorization:
Bearer``, the HttpOnly cookie set on first use, or — for embeds in cross-site iframes whose
cookies the browser withholds — the token the page carries in its callback payload). The
check on ``/_dash-update-component`` reads the region and panel the client asks for out of the
callback JSON itself, so a hand-made POST cannot widen the scope.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from flask import Flask, Response, g, jsonify, redirect, request

from dashboard.tokens import TokenError, TokenInfo, in_subtree, verify
from queries import tokens_store

COOKIE = "dashboard_token"
OPEN_PREFIXES = (
    "/assets/", "/_dash-component-suites/", "/_dash-layout", "/_dash-dependencies",
    "/_favicon.ico", "/_reload-hash", "/healthz", "/api/v1/openapi.json", "/_wall/state",
)
PAGE_RE = re.compile(r"^/(wall|region)/([^/]*)/?$")
EMBED_RE = re.compile(r"^/embed/([^/]*)/([^/]*)/?$")
TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']+")
ROLES_FOR = {
    "wall": ("wall", "leader"),
    "region": ("leader",),
    "embed": ("embed", "leader"),
    "callback": ("wall", "embed", "leader"),
    "api": ("leader", "exchange"),
    "exchange": ("exchange",),
}
AUDIT_EVERY_SECONDS = 30.0
_audit_lock = threading.Lock()
_audit_last: dict[str, float] = {}


def _error(status: int, message: str) -> Response:
    resp = jsonify({"error": message})
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


def current_token() -> TokenInfo | None:
    """The verified token of this request (None with auth off or on open paths)."""
    return getattr(g, "token_info", None)


def is_public(view_kind: str | None) -> bool:
    """Whether this request renders a public view (small counts suppressed)."""
    from dashboard.app import get_runtime

    if get_runtime().settings.auth:
        tok = current_token()
        return tok is None or tok.role in ("wall", "embed")
    return view_kind in ("wall", "embed")


def scope_root() -> str | None:
    """The region the caller is confined to (None: everything)."""
    tok = current_token()
    return tok.region if tok else None


def visible(code: str | None) -> bool:
    """Whether a region lies inside the caller's scope."""
    root = scope_root()
    return root is None or (code is not None and in_subtree(code, root))


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


def _callback_targets(payload: Any) -> tuple[list[str], list[str], str | None]:
    """Region codes, panel ids and a token found in a Dash callback request body."""
    regions: list[str] = []
    panels: list[str] = []
    token: str | None = None
    if not isinstance(payload, dict):
        raise ValueError("callback body must be an object")
    items: list[Any] = []
    for key in ("inputs", "state"):
        part = payload.get(key) or []
        if not isinstance(part, list):
            raise ValueError(f"callback {key} must be a list")
        for item in part:
            items.extend(item if isinstance(item, list) else [item])
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("malformed callback input")
        cid, prop, value = item.get("id"), item.get("property"), item.get("value")
        if cid == "target" and isinstance(value, dict):
            if value.get("region") is not None:
                regions.append(str(value.get("region")))
            if value.get("panel"):
                panels.append(str(value["panel"]))
        elif cid == "url" and prop == "pathname" and isinstance(value, str):
            m = PAGE_RE.match(value) or EMBED_RE.match(value)
            if m:
                regions.append(m.group(2))
                if value.startswith("/embed/"):
                    panels.append(m.group(1))
        elif cid == "url" and prop == "search" and isinstance(value, str):
            found = parse_qs(value.lstrip("?")).get("token")
            token = token or (found[-1] if found else None)
            panel = parse_qs(value.lstrip("?")).get("panel")
            if panel:
                panels.append(panel[-1])
        elif cid == "search" and prop == "value" and isinstance(value, str):
            regions.append(value)
        elif cid == "view" and isinstance(value, dict):
            if isinstance(value.get("tok"), str):
                token = token or value["tok"]
            if value.get("code") is not None:
                regions.append(str(value["code"]))
    return regions, panels, token


# Expected value types of the callback inputs the pages use; anything else is a 400.
_CALLBACK_TYPES: dict[str, tuple[type, ...]] = {
    "target": (dict, type(None)),
    "view": (dict, type(None)),
    "batch": (int, str, type(None)),
    "url": (str, type(None)),
    "search": (str, type(None)),
}
_TARGET_FIELDS = {"region": (str, type(None)), "panel": (str, type(None))}


def validate_callback(payload: Any) -> str | None:
    """Why a callback body is malformed (wrong shape or types), or None when it is fine."""
    if not isinstance(payload, dict):
        return "callback body must be a JSON object"
    if not isinstance(payload.get("output", ""), str):
        return "output must be a string"
    for key in ("inputs", "state"):
        part = payload.get(key, [])
        if not isinstance(part, list):
            return f"{key} must be a list"
        for item in part:
            for one in (item if isinstance(item, list) else [item]):
                if not isinstance(one, dict) or not isinstance(one.get("property", ""), str):
                    return "malformed callback input"
                cid, value = one.get("id"), one.get("value")
                allowed = _CALLBACK_TYPES.get(cid) if isinstance(cid, str) else None
                wrong = allowed is not None and not isinstance(value, allowed)
                if wrong or (cid == "batch" and isinstance(value, bool)):
                    return f"wrong type for {cid}"
                if cid == "target" and isinstance(value, dict):
                    for field, types in _TARGET_FIELDS.items():
                        if not isinstance(value.get(field), types):
                            return f"wrong type for target.{field}"
                    if len(str(value.get("region") or "")) > 40:
                        return "region code too long"
                if isinstance(value, str) and len(value) > 4096:
                    return "value too long"
    return None


def _audit(tok: TokenInfo, route: str, region: str | None) -> None:
    """Record the token's last use, at most every AUDIT_EVERY_SECONDS per token and worker."""
    from dashboard.app import get_runtime

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
    if path == "/_dash-update-component":
        return "callback", None, None
    m = PAGE_RE.match(path)
    if m:
        return m.group(1), m.group(2), None
    m = EMBED_RE.match(path)
    if m:
        return "embed", m.group(2), m.group(1)
    if path.startswith("/api/v1/exchange"):
        return "exchange", None, None
    if path.startswith("/api/"):
        m = re.match(r"^/api/v1/regions/([^/]+)", path)
        return "api", (m.group(1) if m else None), None
    return "other", None, None


def register(server: Flask) -> None:
    """Install the access check, the token cookie and the security headers."""
    from dashboard.app import get_runtime

    logging.getLogger("werkzeug").addFilter(_TokenLogFilter())
    logging.getLogger("gunicorn.access").addFilter(_TokenLogFilter())

    @server.before_request
    def _check_access():  # noqa: ANN202, PLR0911
        g.token_info = None
        rt = get_runtime()
        if request.path == "/_dash-update-component" and request.method == "POST":
            # Wrong shapes or types from a hand-made request are a 400, never a 500.
            body = request.get_json(force=True, silent=True, cache=True)
            problem = validate_callback(body)
            if problem:
                return _error(400, f"malformed callback request: {problem}")
        if not rt.settings.auth:
            return None
        path = request.path
        if path.startswith(OPEN_PREFIXES) or path == "/api/v1/openapi.json":
            return None
        kind, code, panel = _classify(path)
        from_query = request.args.get("token")
        cookie = request.cookies.get(COOKIE)
        token = _bearer() or from_query
        regions: list[str] = [code] if code else []
        panels: list[str] = [panel] if panel else []
        if kind == "callback":
            try:
                body = request.get_json(force=True, silent=False, cache=True)
                found_regions, found_panels, body_token = _callback_targets(body)
            except Exception:  # noqa: BLE001 - malformed JSON is the client's fault
                return _error(400, "malformed callback request")
            regions += found_regions
            panels += found_panels
            token = token or body_token
        token = token or cookie
        if path == "/":
            if token:
                try:
                    tok = verify(rt.engine, rt.settings.secret_key, token)
                    return redirect(f"/wall/{tok.region}")
                except TokenError:
                    pass
            return _error(401, "需要访问令牌 (token required)")
        if kind == "other":
            # Unknown paths carry no data; Dash answers them with its empty index page.
            return None
        if not token:
            return _error(401, "需要访问令牌 (token required)")
        try:
            tok = verify(rt.engine, rt.settings.secret_key, token)
        except TokenError as err:
            return _error(401, f"令牌无效 (invalid token): {err}")
        g.token_info = tok
        if tok.role not in ROLES_FOR[kind]:
            return _error(403, f"角色 {tok.role} 无权访问此功能 (role not allowed here)")
        for r in regions:
            # Malformed codes are left to the route itself (400/404): they match no region.
            if len(r) == 12 and r.isdigit() and not in_subtree(r, tok.region):
                return _error(403, "超出令牌的区域范围 (region outside the token's scope)")
        for p in panels:
            if not tok.allows_panel(p):
                return _error(403, "令牌不含此面板 (panel not allowed by the token)")
        _audit(tok, path, regions[0] if regions else None)
        if kind in ("wall", "region", "embed") and from_query:
            g.set_cookie = from_query
            if kind != "embed":
                # Take the token out of the address bar (and so out of later logs, history
                # and Referer); the HttpOnly cookie carries it from now on, across reloads.
                rest = {k: v for k, v in request.args.items() if k != "token"}
                resp = redirect(path + ("?" + urlencode(rest) if rest else ""))
                _set_cookie(resp, from_query, tok)
                return resp
        return None

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


__all__ = ["register", "current_token", "is_public", "visible", "scope_root", "mask_tokens",
           "COOKIE"]
