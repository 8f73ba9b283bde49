"""Framing rules in real Chromium: an allowed origin may frame an embed, another may not."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.browser.conftest import CITY, free_port, wait_for
from tests.httpserver import Served

SECRET = "frame-test-secret"


class _Host:
    """A page on another origin (its own loopback address) that frames a URL."""

    def __init__(self, host: str, src: str, port: int | None = None) -> None:
        page = (f'<!doctype html><html><body style="margin:0"><iframe id="f" src="{src}" '
                f'width="800" height="450" style="border:0"></iframe></body></html>').encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.srv = ThreadingHTTPServer((host, port or free_port()), Handler)
        self.url = f"http://{host}:{self.srv.server_address[1]}/"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture(scope="module")
def framed_site(demo_url: str) -> Iterator[dict[str, Any]]:
    """The app with auth on, allowing only http://127.0.0.2:<port> to frame embeds."""
    from dashboard.app import create_app
    from dashboard.tokens import issue
    from queries.db import make_engine

    allowed_port = free_port()
    allowed_origin = f"http://127.0.0.2:{allowed_port}"
    app = create_app({"database_url": demo_url, "auth": True, "secret_key": SECRET,
                      "frame_ancestors": allowed_origin})
    served = Served(app.server)
    token = issue(make_engine(demo_url), SECRET, CITY, "embed", ["overview"], 1)[1]
    src = f"{served.base}/embed/overview/{CITY}?token={token}"
    yield {"served": served, "src": src, "allowed_port": allowed_port}
    served.stop()


def _frame_panel(browser: Any) -> Any:
    browser.switch_to.default_content()
    browser.switch_to.frame("f")
    try:
        return browser.execute_script(
            "var p=document.querySelector('[data-panel=\"overview\"]');"
            "return p && (p.querySelector('.as-of')||{}).textContent.length>4"
            " ? p.getAttribute('data-region') : null;")
    finally:
        browser.switch_to.default_content()


def test_allowed_origin_renders_the_embed(browser: Any, framed_site: dict) -> None:
    host = _Host("127.0.0.2", framed_site["src"], framed_site["allowed_port"])
    try:
        browser.get(host.url)
        assert wait_for(lambda: _frame_panel(browser), timeout=60,
                        what="embed inside the allowed frame") == CITY
    finally:
        host.stop()


def test_disallowed_origin_is_refused_by_the_browser(browser: Any, framed_site: dict) -> None:
    host = _Host("127.0.0.3", framed_site["src"])
    try:
        browser.get(host.url)
        wait_for(lambda: any("frame-ancestors" in e.get("message", "")
                             for e in browser.get_log("browser")),
                 timeout=30, what="the browser's frame-ancestors refusal")
        assert _frame_panel(browser) is None
    finally:
        host.stop()
