"""Scan of every HTTP response and every log line the test suite produces for personal data.

Installed by tests/conftest.py around Flask's response processing, so every response of
every app built in the suite (test clients, threaded servers for browser tests) is read,
decompressed if needed, and searched for anything shaped like an 18-character resident
identity number or a mainland mobile number. Every log record of the suite is also
written the way production writes it (dashboard.logs: one line, scrubbed) and that line is
searched for the same shapes and for any access token issued during the session (each
`dashboard.tokens.issue` is recorded). Findings fail the session.
"""

from __future__ import annotations

import copy
import gzip
import logging
import re
import zlib
from typing import Any

ID_NUMBER = re.compile(r"(?<![\d.])\d{17}[\dXx](?![\dA-Za-z])")
MOBILE = re.compile(r"(?<![\d.])1[3-9]\d{9}(?!\d)")
FINDINGS: list[str] = []
SCANNED = {"responses": 0, "log_lines": 0}
# Secrets handed out during the session (access tokens): never to appear in a log line.
ISSUED: set[str] = set()


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


# In log lines, hex ids (request ids, lock holders) hold digit runs: a number counts only
# when no letter or digit touches it.
LOG_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z.])\d{17}[\dXx](?![0-9A-Za-z])")
LOG_MOBILE = re.compile(r"(?<![0-9A-Za-z.])1[3-9]\d{9}(?![0-9A-Za-z])")


def scan_log_text(text: str) -> list[str]:
    """Identity-number- and mobile-shaped numbers standing alone in log text."""
    return LOG_ID_NUMBER.findall(text) + LOG_MOBILE.findall(text)


def scan_log_line(line: str) -> list[str]:
    """Personal-data shapes and issued tokens in one written log line."""
    hits = scan_log_text(line)
    hits += [f"token {t[:6]}…" for t in ISSUED if t in line]
    return hits


class LogScan(logging.Handler):
    """Formats each record as production does and scans the line (on a copy of the record)."""

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102
        try:
            from dashboard.logs import FORMAT, Scrub

            rec = copy.copy(record)
            Scrub().filter(rec)
            line = logging.Formatter(FORMAT).format(rec)
        except Exception:  # noqa: BLE001 - the scan must never break the code that logs
            return
        SCANNED["log_lines"] += 1
        if "\n" in line:
            FINDINGS.append(f"log line of {record.name} spans several lines")
        hits = scan_log_line(line)
        if hits:
            FINDINGS.append(f"log {record.name}: {sorted(set(hits))[:5]}")


def install_log_scan() -> None:
    """Scan every INFO-or-worse log record; remember every token issued."""
    root = logging.getLogger()
    if not any(isinstance(h, LogScan) for h in root.handlers):
        root.addHandler(LogScan(logging.INFO))
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
    from dashboard import tokens

    if getattr(tokens.issue, "_pii_scan", False):
        return
    original = tokens.issue

    def issue(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        token_id, token = original(*args, **kwargs)
        ISSUED.add(token)
        return token_id, token

    issue._pii_scan = True  # type: ignore[attr-defined]
    tokens.issue = issue  # type: ignore[assignment]
