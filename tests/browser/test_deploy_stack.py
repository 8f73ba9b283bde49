"""The whole stack from deploy/ (issue 15): nginx (Debian's, configuration checked with
`nginx -t`), two gunicorn servers and a scheduler started with the systemd units' command
lines, and the wall loaded through nginx in headless Chromium.

Also through nginx: bundles cached (second fetch a HIT) and compressed, request-size limits
(32 MB only on the exchange endpoint), /metrics decided by the forwarded client address,
and a web server killed while nginx keeps answering from the other.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CITY, _unavailable, filled, severe_logs, wait_for
from tests.test_multihost import stack_module

SECRET = "deploy-stack-secret"
SHOTS = Path(os.environ.get("DEPLOY_SCREENSHOTS", tempfile.gettempdir()))


def nginx_binary() -> str:
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(path).exists():
        _unavailable("nginx is not installed (apt-get install nginx; tools/test.sh does)")
    return path


def request(url: str, method: str = "GET", data: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def test_nginx_configuration_passes_nginx_t(tmp_path: Path) -> None:
    nginx_binary()
    st = stack_module()
    stack = st.Stack(tmp_path, {}, [st.free_port(), st.free_port()], nginx_port=st.free_port())
    out = stack.nginx_check()
    assert out.returncode == 0, out.stderr
    assert "syntax is ok" in out.stderr and "test is successful" in out.stderr


@pytest.fixture
def stack(demo_url: str, tmp_path: Path) -> Iterator[Any]:
    nginx_binary()
    # A copy of the session's demo database: this stack's scheduler writes to it.
    db = tmp_path / "dashboard.db"
    shutil.copy(demo_url.split("///", 1)[1], db)
    st = stack_module()
    s = st.Stack(tmp_path / "stack", {
        "DASHBOARD_DATABASE_URL": f"sqlite:///{db}", "DASHBOARD_CACHE_URL": "",
        "DASHBOARD_SECRET_KEY": SECRET, "DASHBOARD_AUTH": "on", "DASHBOARD_PROXIES": "1",
        # Not loopback: through nginx every client is refused without a leader token.
        "DASHBOARD_METRICS_ALLOW": "10.9.9.9",
        "DASHBOARD_REFRESH_SECONDS": "300",
    }, [st.free_port(), st.free_port()], schedulers=1, nginx_port=st.free_port(), workers=1)
    try:
        s.start(timeout=90)
        yield s
    finally:
        s.stop()


@pytest.fixture
def driver() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and shutil.which("chromedriver")):
        _unavailable("Chromium or chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1920,1080"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    yield drv
    drv.quit()


def test_wall_through_nginx_two_servers_and_a_scheduler(stack: Any, driver: Any) -> None:
    from dashboard.tokens import issue
    from queries.db import make_engine

    engine = make_engine(stack.settings["DASHBOARD_DATABASE_URL"])
    _wid, wall = issue(engine, SECRET, CITY, "wall")
    _lid, leader = issue(engine, SECRET, CITY, "leader")
    engine.dispose()
    base = f"http://127.0.0.1:{stack.nginx_port}"

    driver.get(f"{base}/wall/{CITY}?token={wall}")
    wait_for(lambda: filled(driver, "overview", CITY), 60, "the overview panel with data")
    assert "token=" not in driver.current_url  # moved into the HttpOnly cookie
    shot = SHOTS / "deploy-wall-through-nginx.png"
    driver.save_screenshot(str(shot))
    assert severe_logs(driver) == []

    # Bundles: immutable, compressed, and cached by nginx (second fetch is a HIT).
    scripts = driver.execute_script(
        "return Array.from(document.scripts).map(function(s){return s.src})"
        ".filter(function(u){return u.indexOf('/_vendor/')>=0})")
    assert scripts, "the vendored plotly bundle is loaded"
    path = scripts[0].split(str(stack.nginx_port), 1)[1]
    enc = {"Accept-Encoding": "gzip"}
    s1, h1, _ = request(base + path, headers=enc)
    s2, h2, body = request(base + path, headers=enc)
    assert (s1, s2) == (200, 200)
    assert h2.get("x-cache-status") == "HIT", h2
    assert "immutable" in h2.get("cache-control", "")
    assert h2.get("content-encoding") == "gzip" and body[:2] == b"\x1f\x8b"

    # Request bodies: 32 MB on the exchange endpoint only.
    big = b"[" + b" " * (2 * 1024 * 1024) + b"]"
    status, _h, _b = request(f"{base}/_dash-update-component", "POST", big,
                             {"Content-Type": "application/json"})
    assert status == 413
    status, _h, _b = request(f"{base}/api/v1/exchange/persons", "POST", big,
                             {"Content-Type": "application/json"})
    assert status == 401  # reached the app (no token), not stopped by nginx
    huge = b" " * (33 * 1024 * 1024)
    status, _h, _b = request(f"{base}/api/v1/exchange/persons", "POST", huge,
                             {"Content-Type": "application/json"})
    assert status == 413

    # /metrics: the forwarded client address decides; a forged X-Forwarded-For does not help.
    assert request(f"{base}/metrics")[0] == 403
    assert request(f"{base}/metrics", headers={"X-Forwarded-For": "10.9.9.9"})[0] == 403
    status, _h, text = request(f"{base}/metrics",
                               headers={"Authorization": f"Bearer {leader}"})
    assert status == 200 and b"dashboard_snapshot_rows" in text
    # The request id nginx made is the one the app answered with.
    status, headers, _b = request(f"{base}/healthz")
    assert status == 200 and len(headers.get("x-request-id", "")) == 32

    # One web server gone: nginx answers from the other, the wall keeps its data.
    stack.kill(f"web-{stack.web_ports[0]}")
    for _ in range(6):
        assert request(f"{base}/healthz")[0] == 200
    driver.refresh()
    wait_for(lambda: filled(driver, "overview", CITY), 60, "the wall after a server died")
    logs = stack.log_text()
    assert wall not in logs and leader not in logs
    assert "token=" not in (stack.run_dir / "logs" / "dashboard-access.log").read_text()
