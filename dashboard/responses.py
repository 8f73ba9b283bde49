"""JSON responses of the service: one encoder, one error shape (`{"error": message}`)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

JSON_MIMETYPE = "application/json; charset=utf-8"


def encode_json(payload: Any) -> bytes:
    """UTF-8 JSON bytes with Chinese unescaped and keys in the order given."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def json_response(payload: Any, status: int = 200) -> Response:
    """A UTF-8 JSON response of the payload."""
    return Response(encode_json(payload), status=status, content_type=JSON_MIMETYPE)


def error_response(status: int, message: str) -> Response:
    """The JSON error body `{"error": message}`, never cached."""
    resp = json_response({"error": message}, status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


__all__ = ["encode_json", "json_response", "error_response", "JSON_MIMETYPE"]
