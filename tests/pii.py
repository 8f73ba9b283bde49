"""Scan of every HTTP response the test suite produces for personal data.

Installed by tests/conftest.py around Flask's response processing, so every response of
every app built in the suite (test clients, threaded servers for browser tests) is read,
decompressed if needed, and searched for anything shaped like an 18-character resident
identity number or a mainland mobile number. Findings fail the session.
"""

from __future__ import annotations

import gzip
import re
import zlib
from typing import Any

ID_NUMBER = re.compile(r"(?<![\d.])\d{17}[\dXx](?![\dA-Za-z])")
MOBILE = re.compile(r"(?<![\d.])1[3-9]\d{9}(?!\d)")
FINDINGS: list[str] = []
SCANNED = {"responses": 0}


def _decode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli

        return brotli.decompress(body)
    if encoding == "zstd":
        from backports import zstd

        return zstd.decompress(body)
    return body


def scan_text(text: str) -> list[str]:
    """Identity-number- and mobile-shaped strings in a text."""
    return ID_NUMBER.findall(text) + MOBILE.findall(text)


def scan_response(path: str, response: Any) -> None:
    """Record personal-data-shaped strings found in one Flask response."""
    if response.direct_passthrough or response.is_streamed:
        return
    ctype = response.headers.get("Content-Type", "")
    if not any(t in ctype for t in ("json", "html", "text", "javascript", "csv")):
        return
    try:
        body = _decode(response.get_data(), response.headers.get("Content-Encoding", ""))
    except Exception:  # noqa: BLE001 - not decodable: nothing to read
        return
    SCANNED["responses"] += 1
    if path.startswith(("/_dash-component-suites/", "/assets/")):
        return  # static library code, not data
    hits = scan_text(body.decode("utf-8", "replace"))
    if hits:
        FINDINGS.append(f"{path}: {sorted(set(hits))[:5]}")


def install() -> None:
    """Wrap Flask.process_response so every response is scanned."""
    import flask

    if getattr(flask.Flask.process_response, "_pii_scan", False):
        return
    original = flask.Flask.process_response

    def process_response(self, response):  # noqa: ANN001, ANN202
        response = original(self, response)
        try:
            scan_response(flask.request.path, response)
        except Exception:  # noqa: BLE001 - the scan must never break a test request
            pass
        return response

    process_response._pii_scan = True  # type: ignore[attr-defined]
    flask.Flask.process_response = process_response  # type: ignore[method-assign]
