"""Read-only JSON API (`/api/v1`), `/healthz` and the OpenAPI document (SPEC section 4.2).

Reads go through dashboard.cache (keyed by snapshot batch). Data responses carry a weak
ETag built from the batch id and the region code, `Cache-Control: no-cache` and
`X-Snapshot-Batch`, so pollers revalidate with If-None-Match and get 304 until a new
batch is published. Every error under /api/ and /healthz is JSON `{"error": "..."}`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import zlib
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from dashboard import access, cache
from dashboard.openapi import (
    API_VERSION,
    SEARCH_LIMIT_MAX,
    SEARCH_QUERY_MAX,
    build_openapi,
)
from dashboard.responses import JSON_MIMETYPE, encode_json, error_response, json_response
from dashboard.runtime import get_runtime
from queries import snapshots
from queries.domain import LEVELS, SERIES_KEYS
from queries.metrics import METRIC_KEYS
from queries.refresh import pending_failure

log = logging.getLogger("dashboard.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")

CODE_RE = re.compile(r"^[0-9]{12}$")
SEARCH_LIMIT_DEFAULT = 50


class ApiError(Exception):
    """An error answered as JSON `{"error": message}` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ------------------------------------------------------------------ access hooks
def authorize(region_code: str | None) -> Response | None:
    """Access check for one region (None: the API as a whole); None means allowed.

    The token itself (401) and the role (403) are checked by dashboard.access before any
    handler runs; here the region must also lie in the token's subtree.
    """
    well_formed = region_code is not None and len(region_code) == 12 and region_code.isdigit()
    if well_formed and not access.visible(region_code):
        return error_response(403, "超出令牌的区域范围 (region outside the token's scope)")
    return None


def visible(region_code: str) -> bool:
    """Whether a region may appear in search results for the current request."""
    return access.visible(region_code)


# ------------------------------------------------------------------ helpers
def _number(value: Any) -> int | float | None:
    """A JSON-safe metric value: numbers as they are, anything else (or NaN/inf) as null."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None


def metrics_of(raw: dict[str, Any] | None) -> dict[str, int | float | None]:
    """Every key of METRIC_KEYS (missing ones null), then any extra numeric keys."""
    raw = raw or {}
    out: dict[str, int | float | None] = {key: _number(raw.get(key)) for key in METRIC_KEYS}
    for key, value in raw.items():
        if key not in out and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = _number(value)
    return out


def _series_of(raw: dict[str, Any] | None) -> dict[str, dict[str, int | float | None]]:
    raw = raw or {}
    out: dict[str, dict[str, int | float | None]] = {}
    for key in (*SERIES_KEYS, *[k for k in raw if k not in SERIES_KEYS]):
        values = raw.get(key) or {}
        if isinstance(values, dict):
            out[key] = {str(k): _number(v) for k, v in values.items()}
    return out


def _targets_of(raw: dict[str, Any] | None) -> dict[str, dict[str, int | float | None]]:
    out: dict[str, dict[str, int | float | None]] = {}
    for key, value in (raw or {}).items():
        if isinstance(value, dict) and _number(value.get("target")) is not None:
            out[key] = {
                "target": _number(value.get("target")),
                "completion": _number(value.get("completion")),
                # 时序进度 (SPEC 6.2): the share of the year elapsed at date(T).
                "expected": _number(value.get("expected")),
            }
    return out


def _path_of(raw: Any) -> list[dict[str, str]]:
    """Stored `[[code, name], ...]` (root first) as `[{"code", "name"}, ...]`."""
    out = []
    for item in raw or []:
        if isinstance(item, list | tuple) and len(item) >= 2:
            out.append({"code": str(item[0]), "name": str(item[1])})
        elif isinstance(item, dict):
            out.append({"code": str(item.get("code")), "name": str(item.get("name"))})
    return out


def _settings():  # noqa: ANN202
    return _runtime().settings


def _runtime():  # noqa: ANN202
    return get_runtime()


def _check_code(code: str) -> None:
    if not CODE_RE.match(code):
        raise ApiError(400, "region code must be 12 digits")


def _batch() -> snapshots.Batch:
    batch = cache.current_batch()
    if batch is None:
        raise ApiError(503, "no snapshot yet: the first refresh has not finished")
    return batch


def _salt() -> int:
    """Changes when the response format or the rendering timezone changes."""
    return zlib.crc32(f"{API_VERSION}|{_settings().timezone}".encode()) & 0xFFFF


def _etag(batch: snapshots.Batch, resource: str) -> str:
    """Batch id + resource (region code and view) + the format salt."""
    return f"b{batch.id}-{resource}-{_salt():04x}"


def _snapshot_headers(resp: Response, batch: snapshots.Batch, etag: str) -> Response:
    resp.set_etag(etag, weak=True)
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Snapshot-Batch"] = str(batch.id)
    resp.vary.add("Authorization")
    return resp


def _not_modified(batch: snapshots.Batch, etag: str) -> Response | None:
    """A 304 when If-None-Match already names this batch's ETag (weak comparison)."""
    inm = request.if_none_match
    if not inm:
        return None
    # flask-compress appends ":gzip" etc. to strong tags; accept those forms too.
    candidates = {etag} | {f"{etag}:{enc}" for enc in ("gzip", "br", "deflate", "zstd")}
    if inm.star_tag or any(inm.contains_weak(tag) for tag in candidates):
        return _snapshot_headers(Response(status=304), batch, etag)
    return None


def _region_view(code: str) -> tuple[snapshots.Batch, dict[str, Any], list[dict[str, Any]]]:
    view = cache.region_view(code)
    if view is None:
        raise ApiError(503, "no snapshot yet: the first refresh has not finished")
    batch, region, children = view
    if region is None:
        raise ApiError(404, f"unknown region: {code}")
    return batch, region, children


# ------------------------------------------------------------------ endpoints
Build = Callable[[snapshots.Batch, dict[str, Any], list[dict[str, Any]]], Any]


def _serve_region(code: str, kind: str, build: Build,
                  encode: Callable[[Any], bytes] = encode_json,
                  content_type: str = JSON_MIMETYPE) -> Response:
    """Validate, authorize, answer 304 or the encoded body (cached per batch, code, kind)."""
    _check_code(code)
    denied = authorize(code)
    if denied is not None:
        return denied
    batch = _batch()
    cached = _not_modified(batch, _etag(batch, f"{code}-{kind}"))
    if cached is not None:
        return cached
    # The encoded body is cached too: re-normalising a county's children on every poll
    # costs tens of milliseconds; a cache hit costs one get.
    body = cache.cache.get(_body_key(batch, code, kind))
    if body is None:
        batch, reg, children = _region_view(code)
        body = encode(build(batch, reg, children))
        cache.cache.set(_body_key(batch, code, kind), body)
    resp = Response(body, status=200, content_type=content_type)
    return _snapshot_headers(resp, batch, _etag(batch, f"{code}-{kind}"))


def _body_key(batch: snapshots.Batch, code: str, kind: str) -> str:
    return f"api:{kind}:{batch.id}:{code}:{_salt():04x}"


def _region_payload(
    batch: snapshots.Batch, reg: dict[str, Any], children: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "code": reg["code"],
        "name": reg["name"],
        "level": reg["level"],
        "parent_code": reg["parent_code"],
        "children": [
            {"code": c["code"], "name": c["name"], "level": c["level"]} for c in children
        ],
    }


def _metrics_payload(
    batch: snapshots.Batch, reg: dict[str, Any], children: list[dict[str, Any]]
) -> dict[str, Any]:
    tz = _settings().timezone
    return {
        "region": {
            "code": reg["code"],
            "name": reg["name"],
            "level": reg["level"],
            "parent_code": reg["parent_code"],
            "path": _path_of(reg.get("path")),
        },
        "as_of": batch.as_of_iso(tz),
        "computed_at": batch.computed_at_iso(tz),
        "metrics": metrics_of(reg.get("metrics")),
        "series": _series_of(reg.get("series")),
        "targets": _targets_of(reg.get("targets")),
        "children": [
            {"code": c["code"], "name": c["name"], "level": c["level"],
             "metrics": metrics_of(c.get("metrics"))}
            for c in children
        ],
    }


@bp.get("/regions/<code>")
def region(code: str) -> Response:
    """A region and its direct children."""
    return _serve_region(code, "r", _region_payload)


@bp.get("/regions/<code>/metrics")
def region_metrics(code: str) -> Response:
    """Every metric, series and target of a region, and its children's metrics."""
    return _serve_region(code, "m", _metrics_payload)


REPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@bp.get("/regions/<code>/report.xlsx")
def region_report(code: str) -> Response:
    """进展情况表 (SPEC 8) as XLSX, or CSV with `?format=csv`; leader and exchange tokens."""
    from dashboard import reports

    fmt = request.args.get("format", "xlsx")
    if fmt not in REPORT_TYPES:
        raise ApiError(400, "format must be xlsx or csv")
    lang = request.args.get("lang", "zh")
    if lang not in ("zh", "en"):
        raise ApiError(400, "lang must be zh or en")
    tz = _settings().timezone

    def build(batch: snapshots.Batch, reg: dict[str, Any], children: list[dict[str, Any]]
              ) -> reports.Report:
        return reports.build(reg, children, batch.as_of_iso(tz), lang)

    resp = _serve_region(code, f"report-{fmt}-{lang}", build,
                         reports.to_xlsx if fmt == "xlsx" else reports.to_csv,
                         REPORT_TYPES[fmt])
    if resp.status_code == 200:
        day = _batch().as_of_iso(tz)[:10]
        resp.headers["Content-Disposition"] = f'attachment; filename="report-{code}-{day}.{fmt}"'
    return resp


def _search_args() -> tuple[str, str | None, str | None, int]:
    q = request.args.get("q", "").strip()
    if len(q) > SEARCH_QUERY_MAX:
        raise ApiError(400, f"q must be at most {SEARCH_QUERY_MAX} characters")
    # A parameter that is present must be valid, even when empty.
    level = request.args.get("level")
    if level is not None and level not in LEVELS:
        raise ApiError(400, f"level must be one of {', '.join(LEVELS)}")
    parent = request.args.get("parent")
    if parent is not None and not CODE_RE.match(parent):
        raise ApiError(400, "parent must be a 12-digit region code")
    raw_limit = request.args.get("limit")
    limit = SEARCH_LIMIT_DEFAULT
    if raw_limit is not None:
        if not re.fullmatch(r"[0-9]{1,4}", raw_limit.strip()):
            raise ApiError(400, f"limit must be an integer 1..{SEARCH_LIMIT_MAX}")
        limit = int(raw_limit)
        if not 1 <= limit <= SEARCH_LIMIT_MAX:
            raise ApiError(400, f"limit must be an integer 1..{SEARCH_LIMIT_MAX}")
    return q, level, parent, limit


@bp.get("/regions")
def search() -> Response:
    """Regions of the current snapshot whose name contains q or whose code starts with q."""
    q, level, parent, limit = _search_args()
    denied = authorize(None)
    if denied is not None:
        return denied
    batch = _batch()
    key = json.dumps([q, level, parent, limit], ensure_ascii=False)
    etag = _etag(batch, f"s{zlib.crc32(key.encode()):08x}")
    cached = _not_modified(batch, etag)
    if cached is not None:
        return cached
    matches = [
        r for r in cache.region_index()
        if (not q or q in (r["name"] or "") or r["code"].startswith(q))
        and (level is None or r["level"] == level)
        and (parent is None or r["parent_code"] == parent)
        and visible(r["code"])
    ]
    matches.sort(key=lambda r: r["code"])
    payload = {
        "results": [
            {"code": r["code"], "name": r["name"], "level": r["level"],
             "parent_code": r["parent_code"]}
            for r in matches[:limit]
        ],
        "total": len(matches),
        "truncated": len(matches) > limit,
    }
    return _snapshot_headers(json_response(payload), batch, etag)


EXCHANGE_MAX_RECORDS = 50_000


@bp.post("/exchange/<kind>", provide_automatic_options=False)
def exchange(kind: str) -> Response:
    """Import a JSON array of records of one KIND (token role `exchange`, SPEC 4.2).

    The token's region is the import's scope, checked by the importer on each canonical
    row (after header aliasing and parsing), never on the raw keys of the request.
    """
    from queries.exchange.kinds import KIND_NAMES
    from queries.exchange.pipeline import import_records

    if not _settings().auth:
        # Writing data is never open: without access control there is no exchange token.
        raise ApiError(401, "数据交换需要 DASHBOARD_AUTH=on 和 exchange 令牌 "
                            "(exchange needs DASHBOARD_AUTH=on and an exchange token)")
    token = access.current_token()
    if token is None:
        raise ApiError(401, "需要 exchange 令牌 (an exchange token is required)")
    if kind not in KIND_NAMES:
        raise ApiError(404, f"unknown kind {kind[:40]!r}; one of {', '.join(KIND_NAMES)}")
    # Parsed by the access check once the caller was known (long integers kept as text).
    records = g.get("exchange_body") if "exchange_body" in g else request.get_json(
        force=True, silent=True)
    if not isinstance(records, list):
        raise ApiError(400, "body must be a JSON array of records")
    if len(records) > EXCHANGE_MAX_RECORDS:
        raise ApiError(400, f"at most {EXCHANGE_MAX_RECORDS} records per request")
    imported, rejected = import_records(_runtime().engine, kind, records,
                                        tz=_settings().timezone,
                                        scope=lambda code: access.may_see(token, code))
    resp = json_response({"imported": imported, "rejected": rejected})
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/exchange/vacancies", methods=["GET", "OPTIONS"], provide_automatic_options=False)
def exchange_vacancy_feed() -> Response:
    """Vacancies created or changed after `since`, oldest change first, with `next` (SPEC 7).

    The token's region limits the records (the cursor still moves past the others). Like
    the import endpoint it needs an exchange token, so DASHBOARD_AUTH must be on.
    """
    from queries import outbox

    if request.method == "OPTIONS":
        # This path reads the feed (GET) and imports vacancies (POST, the {kind} route).
        resp = Response(status=200)
        resp.headers["Allow"] = "GET, HEAD, OPTIONS, POST"
        return resp
    if not _settings().auth:
        raise ApiError(401, "数据交换需要 DASHBOARD_AUTH=on 和 exchange 令牌 "
                            "(exchange needs DASHBOARD_AUTH=on and an exchange token)")
    token = access.current_token()
    if token is None:
        raise ApiError(401, "需要 exchange 令牌 (an exchange token is required)")
    raw_limit = request.args.get("limit", str(outbox.FEED_LIMIT_DEFAULT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= outbox.FEED_LIMIT_MAX:
        raise ApiError(400, f"limit 应为 1..{outbox.FEED_LIMIT_MAX} 的整数 "
                            f"(limit must be an integer 1..{outbox.FEED_LIMIT_MAX})")
    try:
        records, nxt = outbox.read_feed(_runtime().engine, request.args.get("since"),
                                        int(raw_limit), lambda code: access.may_see(token, code))
    except outbox.CursorError as err:
        raise ApiError(400, str(err)) from None
    resp = json_response({"records": records, "next": nxt})
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/exchange/<kind>", methods=["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"],
          provide_automatic_options=False)
def exchange_other_methods(kind: str) -> Response:
    """Only POST exists here (the catch-alls would otherwise answer 404 or 200)."""
    resp = error_response(405, "method not allowed; use POST")
    resp.headers["Allow"] = "POST"
    return resp


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 document of this API."""
    resp = json_response(build_openapi(_settings().root_region))
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.errorhandler(ApiError)
def _api_error(err: ApiError) -> Response:
    return error_response(err.status, err.message)


@bp.errorhandler(SQLAlchemyError)
def _db_error(err: SQLAlchemyError) -> Response:
    log.warning("database unavailable for %s: %s", request.path, err)
    return error_response(503, "database unavailable")


# ------------------------------------------------------------------ /healthz
def _outbox_health(engine: Any, pushing: bool, body: dict[str, Any]) -> None:
    """Add the outbound events' depth and dead events (SPEC 7); dead ones degrade."""
    from queries import outbox

    try:
        body["outbox"] = outbox.health(engine, pushing)
    except SQLAlchemyError as err:  # e.g. a schema not yet migrated: the rest still answers
        log.warning("healthz: outbox unavailable: %s", err)
        return
    if body["outbox"]["dead"] and body.get("status") == "ok":
        body["status"] = "degraded"


def healthz() -> Response:
    """Snapshot freshness: 200 while a snapshot is served, 503 without one or without a DB."""
    rt = get_runtime()
    try:
        status, body = snapshots.health(
            rt.engine, rt.settings.refresh_seconds, rt.settings.timezone
        )
    except SQLAlchemyError as err:
        log.warning("healthz: database unavailable: %s", err)
        status, body = 503, {
            "status": "unavailable",
            "last_refresh": None,
            "stale": True,
            "error": "database unavailable",
        }
        pending = pending_failure(rt.engine)
        if pending is not None:  # a refresh in this process failed and could not record it
            body["last_error"] = snapshots.pending_error(pending, rt.settings.timezone)
    else:
        _outbox_health(rt.engine, bool(rt.settings.province_url), body)
    resp = json_response(body, status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


# ------------------------------------------------------------------ JSON errors
def is_json_path() -> bool:
    """Whether the current request's errors must be JSON (/api/... and /healthz)."""
    path = request.path
    return path == "/api" or path.startswith("/api/") or path == "/healthz"


def _unknown_endpoint(rest: str = "") -> Response:
    return error_response(404, f"no such endpoint: {request.path}")


def _http_error(err: HTTPException) -> Response | HTTPException:
    if not is_json_path():
        return err
    code = err.code or 500
    message = (err.name or "error").lower()
    if code == 404:
        message = f"no such endpoint: {request.path}"
    resp = error_response(code, message)
    for name, value in err.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            resp.headers[name] = value
    return resp


def _server_error(err: InternalServerError) -> Response | InternalServerError:
    if not is_json_path():
        return err
    original = getattr(err, "original_exception", None)
    if isinstance(original, SQLAlchemyError):
        return error_response(503, "database unavailable")
    return error_response(500, "internal server error")


def register(server: Flask) -> None:
    """Attach the /api/v1 blueprint, /healthz and JSON error handlers for /api/ paths."""
    server.register_blueprint(bp)
    server.add_url_rule("/healthz", endpoint="healthz", view_func=healthz, methods=["GET"])
    # Dash serves its index for any unknown GET path; keep /api/* JSON instead.
    for rule in ("/api", "/api/", "/api/<path:rest>"):
        server.add_url_rule(rule, endpoint=f"api_unknown{rule}", view_func=_unknown_endpoint,
                            methods=["GET"])
    server.register_error_handler(HTTPException, _http_error)
    server.register_error_handler(InternalServerError, _server_error)
