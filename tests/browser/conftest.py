"""Real headless Chromium against the app served from a thread on a demo database.

Run with `python -m pytest tests/browser`. Without Chromium the tests skip locally; under
CI=true they fail instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CITY = "340100000000"
COUNTY = "340104000000"


def _unavailable(msg: str) -> None:
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_url() -> Iterator[str]:
    """A SQLite demo database (small scale) with one finished snapshot batch."""
    from demo.generator import load_demo
    from queries.db import init_db, make_engine
    from queries.refresh import refresh

    tmp = tempfile.mkdtemp(prefix="wall-browser-")
    url = f"sqlite:///{Path(tmp) / 'wall.db'}"
    engine = make_engine(url)
    init_db(engine)
    load_demo(engine, scale=0.02, seed=3, tz="Asia/Shanghai")
    outcome = refresh(engine, tz="Asia/Shanghai")
    assert outcome.status == "ok", outcome.error
    engine.dispose()
    yield url
    shutil.rmtree(tmp, ignore_errors=True)


class ServerThread:
    """The app served by werkzeug in a thread on a fixed port; stop() and start() again."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self._srv: Any = None

    def start(self) -> None:
        """Serve (again) on the same port."""
        from werkzeug.serving import make_server

        deadline = time.monotonic() + 15
        while True:
            try:
                self._srv = make_server("127.0.0.1", self.port, self.app.server, threaded=True)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving and close the socket (the port refuses connections)."""
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None


@pytest.fixture(scope="session")
def app(demo_url: str) -> Any:
    """The Dash app on the demo database, plus a same-origin iframe host page for embeds."""
    from flask import request

    from dashboard.app import create_app

    # The session's one batch must not turn stale by age (2 × refresh_seconds) while a
    # long run is still going: the stale-mark test would see it before any outage.
    dash_app = create_app({"database_url": demo_url, "refresh_seconds": 3600})

    @dash_app.server.route("/_test/iframe")
    def _iframe_host() -> str:
        src = request.args["src"]
        w, h = request.args.get("w", "400"), request.args.get("h", "300")
        return (f'<!doctype html><html><body style="margin:0;background:#888">'
                f'<iframe id="f" src="{src}" width="{w}" height="{h}" '
                f'style="border:0;display:block"></iframe></body></html>')

    return dash_app


@pytest.fixture(scope="session")
def server(app: Any) -> Iterator[ServerThread]:
    """The app served on a fixed local port for the whole session."""
    srv = ServerThread(app, free_port())
    srv.start()
    yield srv
    srv.stop()


def chrome_driver(base: str, width: int = 1920, height: int = 1080) -> Any:
    """A headless Chromium window of width×height with browser and performance logs."""
    if not (Path(CHROMIUM).exists() and shutil.which("chromedriver")):
        _unavailable("Chromium or chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--enable-precise-memory-info"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # The system chromedriver, named explicitly: Selenium Manager would otherwise try to
    # download a driver matching the browser (no network here).
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    driver.base = base  # type: ignore[attr-defined]
    return driver


@pytest.fixture
def browser(server: ServerThread) -> Iterator[Any]:
    """Headless Chromium at 1920×1080 with browser and performance logs."""
    driver = chrome_driver(server.base)
    yield driver
    driver.quit()


def wait_for(cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition",
             debug: Callable[[], Any] | None = None) -> Any:
    """Poll `cond` until it returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as err:  # noqa: BLE001 - stale elements while React re-renders
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.15)
    extra = f"; state: {debug()!r}" if debug else ""
    raise AssertionError(f"timed out waiting for {what} (last: {last!r}){extra}")


VISIBLE_PANELS_JS = """
return Array.from(document.querySelectorAll('[data-panel]')).filter(function (el) {
  var s = getComputedStyle(el); var r = el.getBoundingClientRect();
  return s.visibility === 'visible' && s.display !== 'none' && r.width > 0 && r.height > 0
    && parseFloat(s.opacity) > 0;
}).map(function (el) {
  return [el.getAttribute('data-panel'), el.getAttribute('data-region'),
          (el.querySelector('.as-of') || {}).textContent || ''];
});
"""


def visible_panels(driver: Any) -> list[list[str]]:
    """[panel, region, as-of text] of every panel currently visible."""
    return driver.execute_script(VISIBLE_PANELS_JS)


def filled(driver: Any, panel: str, region: str) -> bool:
    """Whether the panel shows data of the region (as-of time present)."""
    return bool(driver.execute_script(
        "var p=document.querySelector('[data-panel=\"'+arguments[0]+'\"]');"
        "return !!p && p.getAttribute('data-region')===arguments[1] &&"
        " (p.querySelector('.as-of')||{}).textContent.length>4;", panel, region))


def severe_logs(driver: Any) -> list[dict[str, Any]]:
    """Console errors (SEVERE entries of the browser log) since the last call."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def show_tab(driver: Any, panel: str, region: str, timeout: float = 45.0) -> None:
    """Region page: open a panel's tab and wait for its data (the page asks for a panel
    only when its tab shows it)."""
    wait_for(lambda: driver.execute_script(
        "var a = document.querySelector('[data-tab=\"' + arguments[0] + '\"] a');"
        "if (a) a.click(); return !!a;", panel), timeout, f"tab {panel}")
    wait_for(lambda: filled(driver, panel, region), timeout, f"{panel} of {region}")
