"""Logging (SPEC 9): one line per event with time, level and request id; no secrets.

Every record passes through :class:`Scrub` before it is written: token values (``token=…``,
``Bearer …``, anything shaped like a signed token) and identity- or mobile-shaped numbers
are replaced, and a traceback is folded into the same line, so a log line can be shipped,
grepped and kept without carrying a credential or a personal field. The request id comes
from nginx (``X-Request-ID``, when it is well formed) or is made here, is echoed in the
response header and written on every line logged while the request is handled.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Mapping

from flask import Flask, Response, g, has_request_context, request

FORMAT = "%(asctime)s %(levelname)s %(request_id)s %(name)s: %(message)s"
HEADER = "X-Request-ID"
_GOOD_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_SECRETS = (
    # ?token=…, token: …, "token": "…"
    (re.compile(r"(token[\"']?\s*[=:]\s*[\"']?)[^&\s\"',;]+", re.I), r"\1***"),
    (re.compile(r"(bearer\s+)[^\s\"',;]+", re.I), r"\1***"),
    # Signed tokens (itsdangerous, JWT): base64url JSON ("eyJ") or zlib (".eJ") payload,
    # "." and a base64url signature.
    (re.compile(r"\.?e[yJ][A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}(?:\.[A-Za-z0-9_-]+)?"), "***"),
    # 18-character resident identity numbers, mainland mobile numbers (standing alone: a
    # digit run inside a hex id is left as it is)
    (re.compile(r"(?<![0-9A-Za-z.])\d{17}[\dXx](?![0-9A-Za-z])"), "[id]"),
    (re.compile(r"(?<![0-9A-Za-z.])1[3-9]\d{9}(?![0-9A-Za-z])"), "[mobile]"),
)


def scrub(text: str) -> str:
    """The text with token values and identity- or mobile-shaped numbers replaced."""
    for pattern, repl in _SECRETS:
        text = pattern.sub(repl, text)
    return text


def request_id() -> str:
    """This request's id ("-" outside a request)."""
    if not has_request_context():
        return "-"
    rid = getattr(g, "request_id", None)
    if rid is None:
        incoming = request.headers.get(HEADER, "")
        rid = incoming if _GOOD_ID.match(incoming) else uuid.uuid4().hex
        g.request_id = rid
    return rid


class Scrub(logging.Filter):
    """Adds `request_id`; renders the message, scrubs it, folds tracebacks into one line."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        record.request_id = request_id()
        if isinstance(record.args, Mapping):
            # gunicorn's access line: its atoms carry the response's X-Request-ID.
            try:
                rid = record.args["{x-request-id}o"]
            except (KeyError, TypeError):
                rid = "-"
            record.request_id = rid if isinstance(rid, str) and _GOOD_ID.match(rid) else "-"
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the event
            message = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            message += " | " + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.stack_info:
            message += " | " + record.stack_info
            record.stack_info = None
        record.exc_text = None
        # One event, one line: newlines inside a message become a visible " | ".
        record.msg = scrub(message).replace("\r", "").replace("\n", " | ")
        record.args = None
        return True


def handler(stream=None) -> logging.Handler:  # noqa: ANN001
    """A stream handler writing the one-line format through the Scrub filter."""
    h = logging.StreamHandler(stream or sys.stderr)
    h.setFormatter(logging.Formatter(FORMAT))
    h.addFilter(Scrub())
    return h


def configure(level: int = logging.INFO, force: bool = False) -> None:
    """Send every logger's records to stderr in the one-line format.

    Like logging.basicConfig, nothing changes when the root logger already has handlers
    (a host application's or a test runner's) unless `force`.
    """
    root = logging.getLogger()
    if root.handlers and not force and not any(
            getattr(h, "_dashboard", False) for h in root.handlers):
        return
    for h in list(root.handlers):
        if getattr(h, "_dashboard", False):
            root.removeHandler(h)
    h = handler()
    h._dashboard = True  # type: ignore[attr-defined]
    root.addHandler(h)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The server's own request line is gunicorn's access log (query strings left out).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def register(server: Flask) -> None:
    """Give every request an id, echoed in the X-Request-ID response header."""

    @server.before_request
    def _request_id() -> None:
        request_id()

    @server.after_request
    def _echo(resp: Response) -> Response:
        resp.headers[HEADER] = request_id()
        return resp


__all__ = ["FORMAT", "HEADER", "Scrub", "configure", "handler", "register", "request_id",
           "scrub"]
