"""The OpenAPI 3.0 document of the read-only JSON API and /healthz (SPEC section 4.2)."""

from __future__ import annotations

from typing import Any

from queries.domain import LEVELS
from queries.exchange.kinds import KIND_NAMES
from queries.exchange.schema import record_schemas, schema_name
from queries.metrics import FAMILY_OF, METRIC_KEYS

API_VERSION = "1.0.0"
CODE_PATTERN = r"^[0-9]{12}$"
SEARCH_LIMIT_MAX = 200
SEARCH_QUERY_MAX = 50

_NULLABLE_NUMBER: dict[str, Any] = {"type": "number", "nullable": True}
_NULLABLE_STRING: dict[str, Any] = {"type": "string", "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        out["headers"] = headers
    return out


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_SNAPSHOT_HEADERS: dict[str, Any] = {
    "ETag": {
        "description": "Weak validator of this resource in this snapshot batch "
                       "(batch id + region code); send it back in If-None-Match.",
        "schema": {"type": "string"},
    },
    "X-Snapshot-Batch": {
        "description": "Id of the snapshot batch the data comes from.",
        "schema": {"type": "string", "pattern": r"^[0-9]+$"},
    },
    "Cache-Control": {
        "description": "Always `no-cache`: revalidate with If-None-Match.",
        "schema": {"type": "string"},
    },
}

_NOT_MODIFIED: dict[str, Any] = {
    "description": "Not modified: the snapshot batch has not changed since the ETag given in "
                   "If-None-Match.",
}


def _describe(key: str) -> str:
    """A metric key's definition from the registry (queries.metrics)."""
    fam = FAMILY_OF[key]
    unit = {"count": "count" if fam.decimals == 0 else f"sum, {fam.decimals} decimals",
            "share": f"share 0..1, {fam.decimals} decimals",
            "ratio": f"ratio, {fam.decimals} decimals", "mean": f"mean, {fam.decimals} decimal"}
    return f"{fam.definition} ({unit[fam.kind]})"


def _schemas() -> dict[str, Any]:
    # Each key described by its registry entry: the SPEC definition, kind and decimals.
    metric_props = {key: {**_NULLABLE_NUMBER, "description": _describe(key)}
                    for key in METRIC_KEYS}
    region_ref = {
        "type": "object",
        "required": ["code", "name", "level"],
        "properties": {
            "code": {"type": "string", "pattern": CODE_PATTERN},
            "name": {"type": "string"},
            "level": {"type": "string", "enum": list(LEVELS)},
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
        "Metrics": {
            "type": "object",
            "description": "Every metric key of SPEC section 3 (null where a ratio has a zero "
                           "denominator).",
            "required": list(METRIC_KEYS),
            "properties": metric_props,
            "additionalProperties": _NULLABLE_NUMBER,
        },
        "RegionRef": region_ref,
        "PathItem": {
            "type": "object",
            "required": ["code", "name"],
            "properties": {
                "code": {"type": "string", "pattern": CODE_PATTERN},
                "name": {"type": "string"},
            },
        },
        "Region": {
            "type": "object",
            "required": ["code", "name", "level", "parent_code", "children"],
            "properties": {
                **region_ref["properties"],
                "parent_code": {**_NULLABLE_STRING, "pattern": CODE_PATTERN},
                "children": {"type": "array", "items": _ref("RegionRef")},
            },
        },
        "RegionDetail": {
            "type": "object",
            "required": ["code", "name", "level", "parent_code", "path"],
            "properties": {
                **region_ref["properties"],
                "parent_code": {**_NULLABLE_STRING, "pattern": CODE_PATTERN},
                "path": {
                    "type": "array",
                    "description": "Ancestors and the region itself, root first.",
                    "items": _ref("PathItem"),
                },
            },
        },
        "ChildMetrics": {
            "type": "object",
            "required": ["code", "name", "level", "metrics"],
            "properties": {**region_ref["properties"], "metrics": _ref("Metrics")},
        },
        "Target": {
            "type": "object",
            "required": ["target", "completion", "expected"],
            "properties": {
                "target": {"type": "number"}, "completion": _NULLABLE_NUMBER,
                "expected": {**_NULLABLE_NUMBER, "description": "时序进度: day of year ÷ "
                             "days in the year at date(T), 4 decimals (SPEC 6.2)"},
            },
        },
        "RegionMetrics": {
            "type": "object",
            "required": ["region", "as_of", "computed_at", "metrics", "series", "targets",
                         "children"],
            "properties": {
                "region": _ref("RegionDetail"),
                "as_of": {"type": "string", "format": "date-time"},
                "computed_at": {"type": "string", "format": "date-time"},
                "metrics": _ref("Metrics"),
                "series": {
                    "type": "object",
                    "required": ["placements.monthly"],
                    "properties": {
                        "placements.monthly": {
                            "type": "object",
                            "description": "Placements per month, keys YYYY-MM, the 12 months "
                                           "ending with the as-of month.",
                            "additionalProperties": {"type": "number"},
                        },
                    },
                    "additionalProperties": {
                        "type": "object", "additionalProperties": {"type": "number"},
                    },
                },
                "targets": {
                    "type": "object",
                    "description": "Yearly target and completion (value ÷ target) by metric key.",
                    "additionalProperties": _ref("Target"),
                },
                "children": {"type": "array", "items": _ref("ChildMetrics")},
            },
        },
        "SearchResult": {
            "type": "object",
            "required": ["code", "name", "level", "parent_code"],
            "properties": {
                **region_ref["properties"],
                "parent_code": {**_NULLABLE_STRING, "pattern": CODE_PATTERN},
            },
        },
        "SearchResults": {
            "type": "object",
            "required": ["results", "total", "truncated"],
            "properties": {
                "results": {"type": "array", "items": _ref("SearchResult")},
                "total": {"type": "integer", "minimum": 0},
                "truncated": {"type": "boolean"},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "last_refresh", "stale"],
            "properties": {
                "status": {"type": "string",
                           "enum": ["ok", "degraded", "no_snapshot", "unavailable"]},
                "last_refresh": {**_NULLABLE_STRING, "format": "date-time"},
                "as_of": {**_NULLABLE_STRING, "format": "date-time"},
                "stale": {"type": "boolean"},
                "refreshing": {"type": "boolean"},
                "error": {"type": "string"},
                "last_error": {
                    "type": "object",
                    "nullable": True,
                    "required": ["at", "error"],
                    "properties": {
                        "at": {"type": "string", "format": "date-time"},
                        "error": {"type": "string"},
                    },
                },
                "outbox": {
                    "type": "object",
                    "description": "Outbound events (SPEC 7): depth, dead events (the "
                                   "first ids), the oldest pending event.",
                    "properties": {
                        "pushing": {"type": "boolean"},
                        "pending": {"type": "integer"},
                        "dead": {"type": "integer"},
                        "dead_ids": {"type": "array", "items": {"type": "integer"}},
                        "oldest_pending_at": {**_NULLABLE_STRING, "format": "date-time"},
                    },
                },
            },
        },
    }


def build_openapi(root_region: str) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document; `root_region` is used as the example region code."""
    code_param = {
        "name": "code",
        "in": "path",
        "required": True,
        "description": "12-digit administrative division code.",
        "schema": {"type": "string", "pattern": CODE_PATTERN},
        "example": root_region,
    }
    if_none_match = {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "ETag of a previous response; 304 when the batch has not changed.",
        "schema": {"type": "string"},
    }
    auth_errors = {
        "401": _error("DASHBOARD_AUTH=on: missing, forged, expired or revoked token."),
        "403": _error("DASHBOARD_AUTH=on: role not allowed, or region outside the token's "
                      "subtree."),
    }
    region_errors = {
        **auth_errors,
        "400": _error("Malformed region code (not 12 digits)."),
        "404": _error("No such region in the current snapshot."),
        "503": _error("No snapshot yet, or the database is unreachable."),
    }
    doc = {
        "openapi": "3.0.3",
        "info": {
            "title": "三公里就业圈 就业服务大屏 API",
            "version": API_VERSION,
            "description": "Read-only snapshot data of the employment-service dashboard. "
                           "Every response is UTF-8 JSON; errors are `{\"error\": \"...\"}`. "
                           "Data responses carry an ETag (batch id + region code) and "
                           "`Cache-Control: no-cache`: pollers send If-None-Match and get 304 "
                           "until a new snapshot batch is published.",
        },
        "paths": {
            "/api/v1/regions": {
                "get": {
                    "operationId": "searchRegions",
                    "summary": "Search regions of the current snapshot by name or code prefix.",
                    "parameters": [
                        {"name": "q", "in": "query", "required": False,
                         "description": "Substring of the name, or a prefix of the code.",
                         "schema": {"type": "string", "maxLength": SEARCH_QUERY_MAX}},
                        {"name": "level", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": list(LEVELS)}},
                        {"name": "parent", "in": "query", "required": False,
                         "description": "Only direct children of this region.",
                         "schema": {"type": "string", "pattern": CODE_PATTERN}},
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1,
                                    "maximum": SEARCH_LIMIT_MAX, "default": 50}},
                        if_none_match,
                    ],
                    "responses": {
                        "200": _json(_ref("SearchResults"), "Matching regions, by code.",
                                     _SNAPSHOT_HEADERS),
                        "304": _NOT_MODIFIED,
                        **auth_errors,
                        "400": _error("Invalid query parameter."),
                        "503": _error("No snapshot yet, or the database is unreachable."),
                    },
                },
            },
            "/api/v1/regions/{code}": {
                "get": {
                    "operationId": "getRegion",
                    "summary": "A region and its direct children.",
                    "parameters": [code_param, if_none_match],
                    "responses": {
                        "200": _json(_ref("Region"), "The region.", _SNAPSHOT_HEADERS),
                        "304": _NOT_MODIFIED,
                        **region_errors,
                    },
                },
            },
            "/api/v1/regions/{code}/metrics": {
                "get": {
                    "operationId": "getRegionMetrics",
                    "summary": "Every metric, series and target of a region and its children.",
                    "parameters": [code_param, if_none_match],
                    "responses": {
                        "200": _json(_ref("RegionMetrics"), "Metrics of the latest snapshot.",
                                     _SNAPSHOT_HEADERS),
                        "304": _NOT_MODIFIED,
                        **region_errors,
                    },
                },
            },
            "/api/v1/regions/{code}/report.xlsx": {
                "get": {
                    "operationId": "getRegionReport",
                    "summary": "进展情况表 (SPEC 8): one row per child region and a total row "
                               "(the region itself) with the main metrics and, for each "
                               "target, target, done, completion and expected (时序进度). "
                               "Values are the snapshot's, unrounded, as in /metrics. Token "
                               "roles `leader` and `exchange`.",
                    "parameters": [
                        code_param,
                        {"name": "format", "in": "query", "required": False,
                         "description": "`xlsx` (default: one sheet, title, as-of, a two-row "
                                        "header with each target over its four parts) or "
                                        "`csv` (UTF-8 with BOM, one flat header row "
                                        "`<target>·<part>`; formula-like text neutralised).",
                         "schema": {"type": "string", "enum": ["xlsx", "csv"],
                                    "default": "xlsx"}},
                        {"name": "lang", "in": "query", "required": False,
                         "description": "Header language: Chinese by default, `en` English.",
                         "schema": {"type": "string", "enum": ["zh", "en"]}},
                        if_none_match,
                    ],
                    "responses": {
                        "200": {
                            "description": "The table as a download (Content-Disposition: "
                                           "attachment).",
                            "headers": _SNAPSHOT_HEADERS,
                            "content": {
                                "application/vnd.openxmlformats-officedocument."
                                "spreadsheetml.sheet": {"schema": {"type": "string",
                                                                   "format": "binary"}},
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        "304": _NOT_MODIFIED,
                        **region_errors,
                        "400": _error("Malformed region code, or a format other than xlsx "
                                      "or csv."),
                    },
                },
            },
            "/api/v1/exchange/{kind}": {
                "post": {
                    "operationId": "exchangeImport",
                    "summary": "Import records of one KIND (SPEC section 2 columns); token "
                               "role `exchange`; records outside the token's region are "
                               "rejected.",
                    "security": [{"bearer": []}],
                    "parameters": [{
                        "name": "kind", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(KIND_NAMES)},
                    }],
                    "requestBody": {
                        "required": True,
                        "description": "A JSON array of records of the KIND in the path "
                                       "(its Exchange<Kind> schema; docs/exchange.md).",
                        "content": {"application/json": {"schema": {
                            "type": "array",
                            "items": {"anyOf": [_ref(schema_name(k)) for k in KIND_NAMES]},
                        }}},
                    },
                    "responses": {
                        "200": _json({
                            "type": "object", "required": ["imported", "rejected"],
                            "properties": {
                                "imported": {"type": "integer"},
                                "rejected": {"type": "array", "items": {
                                    "type": "object",
                                    "properties": {"index": {"type": "integer"},
                                                   "reason": {"type": "string"}}}},
                            }}, "Rows imported and rows rejected with their reason."),
                        "400": _error("The body is not a JSON array."),
                        **auth_errors,
                        "404": _error("Unknown KIND."),
                    },
                },
            },
            "/api/v1/exchange/vacancies": {
                "get": {
                    "operationId": "exchangeVacancyFeed",
                    "summary": "Vacancies created or changed (closed included) after the "
                               "cursor, oldest change first, in the SPEC section 2 format; "
                               "token role `exchange` (its region limits the records). Page "
                               "with `next` until `records` is empty (docs/exchange.md).",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "since", "in": "query", "required": False,
                         "description": "An opaque cursor: the `next` of a previous page; "
                                        "absent or empty starts from the first change.",
                         "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                    "default": 100}},
                    ],
                    "responses": {
                        "200": _json({
                            "type": "object", "required": ["records", "next"],
                            "properties": {
                                "records": {"type": "array",
                                            "items": _ref(schema_name("vacancies"))},
                                "next": {"type": "string"},
                            }}, "One page of changes and the cursor to ask with next."),
                        "400": _error("A cursor this server did not hand out, or a bad "
                                      "limit."),
                        **auth_errors,
                    },
                },
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenAPI",
                    "summary": "This document.",
                    "responses": {
                        "200": _json({"type": "object"}, "The OpenAPI document."),
                    },
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Freshness of the snapshot and the last refresh error.",
                    "responses": {
                        "200": _json(_ref("Health"), "A snapshot is being served; `stale` when "
                                     "it is older than twice the refresh interval."),
                        "503": _json(_ref("Health"), "No snapshot yet, or the database is "
                                     "unreachable."),
                    },
                },
            },
        },
        "components": {
            "schemas": {**_schemas(), **record_schemas()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from `python -m dashboard token issue`."},
                "query": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
        "security": [{}, {"bearer": []}, {"query": []}],
    }
    # The feed's path also takes the import of its KIND (the {kind} route serves it).
    paths = doc["paths"]
    post = dict(paths["/api/v1/exchange/{kind}"]["post"], operationId="exchangeImportVacancies",
                parameters=[])
    post["requestBody"] = {**post["requestBody"], "content": {"application/json": {
        "schema": {"type": "array", "items": _ref(schema_name("vacancies"))}}}}
    paths["/api/v1/exchange/vacancies"]["post"] = post
    return doc
