"""Screenshots of every panel at city, county and community level (1920×1080) and of the
overview on a 3840×1080 wall, saved as PNG under docs/screenshots/.

Usage: python tools/screenshots.py [--out DIR] [--base-url URL] [--scale 0.05]
Without --base-url it builds a temporary demo database, refreshes it and serves the app
on a free local port. Needs Chromium and chromedriver (Debian: chromium, chromium-driver).
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CITY = "340100000000"
COUNTY = "340104000000"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_database(directory: str, scale: float = 0.05) -> str:
    """A SQLite URL of a fresh demo database with one finished snapshot batch."""
    from queries.db import init_db, make_engine
    from queries.demo import load_demo
    from queries.refresh import refresh

    url = f"sqlite:///{Path(directory) / 'shots.db'}"
    engine = make_engine(url)
    init_db(engine)
    load_demo(engine, scale=scale, seed=7, tz="Asia/Shanghai")
    outcome = refresh(engine, tz="Asia/Shanghai")
    if outcome.status != "ok":
        raise SystemExit(f"refresh failed: {outcome.error}")
    engine.dispose()
    return url


def serve(url: str, port: int) -> Any:
    """Serve the app in a daemon thread (werkzeug) and return the server object."""
    from werkzeug.serving import make_server

    from dashboard.app import create_app

    app = create_app({"database_url": url})
    srv = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def browser(width: int = 1920, height: int = 1080) -> Any:
    """Headless Chromium with an exact viewport and browser logging on."""
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--hide-scrollbars", f"--window-size={width},{height}"):
        opts.add_argument(arg)
    opts.binary_location = "/usr/bin/chromium"
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=opts)
    set_viewport(driver, width, height)
    return driver


def set_viewport(driver: Any, width: int, height: int) -> None:
    """Force the CSS viewport to width×height at device scale 1."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def wait_panel(driver: Any, panel: str, region: str, timeout: float = 20.0) -> None:
    """Wait until the panel shows data of `region` (as-of filled) and charts settle."""
    deadline = time.monotonic() + timeout
    js = (
        "const p=document.querySelector('[data-panel=\"'+arguments[0]+'\"]');"
        "if(!p) return false; const a=p.querySelector('.as-of');"
        "return p.getAttribute('data-region')===arguments[1] && a && a.textContent.length>4;"
    )
    while time.monotonic() < deadline:
        if driver.execute_script(js, panel, region):
            time.sleep(1.2)  # plotly draws after the data arrives
            return
        time.sleep(0.2)
    raise TimeoutError(f"panel {panel} of {region} did not fill")


def pick_community(base: str) -> str:
    """A community under the county with nearby vacancies (the richest detail view)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/v1/regions/{COUNTY}") as r:
        county = json.load(r)
    township = county["children"][0]["code"]
    with urllib.request.urlopen(f"{base}/api/v1/regions/{township}") as r:
        town = json.load(r)
    return town["children"][0]["code"]


def main(argv: list[str] | None = None) -> int:
    """Take every screenshot; print the files written."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--base-url", default="")
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--only", default="", help="comma list of file-name prefixes to take")
    args = ap.parse_args(argv)

    from layouts import PANEL_IDS

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory()
    srv = None
    base = args.base_url.rstrip("/")
    if not base:
        port = free_port()
        srv = serve(demo_database(tmp.name, args.scale), port)
        base = f"http://127.0.0.1:{port}"
    community = pick_community(base)
    shots: list[tuple[str, str, str, str, int, int]] = []
    for level, code in (("city", CITY), ("county", COUNTY), ("community", community)):
        for pid in PANEL_IDS:
            shots.append((f"wall-{level}-{pid}", f"/wall/{code}?panels={pid}", pid, code,
                          1920, 1080))
    shots.append(("wall-city-overview-3840x1080",
                  f"/wall/{CITY}?panels=overview&w=3840&h=1080", "overview", CITY, 3840, 1080))
    shots.append(("wall-city-vacancies-3840x1080",
                  f"/wall/{CITY}?panels=vacancies&w=3840&h=1080", "vacancies", CITY, 3840, 1080))
    shots.append(("wall-city-overview-en", f"/wall/{CITY}?panels=overview&lang=en",
                  "overview", CITY, 1920, 1080))
    shots.append(("region-county-placements", f"/region/{COUNTY}?panel=placements",
                  "placements", COUNTY, 1440, 900))
    shots.append(("embed-city-overview-400x300", f"/embed/overview/{CITY}", "overview", CITY,
                  400, 300))
    shots.append(("embed-county-vacancies-light-1200x800",
                  f"/embed/vacancies/{COUNTY}?theme=light", "vacancies", COUNTY, 1200, 800))
    only = [p for p in args.only.split(",") if p]
    driver = browser()
    try:
        for name, path, pid, code, w, h in shots:
            if only and not any(name.startswith(p) for p in only):
                continue
            set_viewport(driver, w, h)
            sep = "&" if "?" in path else "?"
            driver.get(f"{base}{path}{sep}dwell=3600&reload_at=off")
            wait_panel(driver, pid, code)
            target = out / f"{name}.png"
            driver.save_screenshot(str(target))
            print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        for e in errors:
            print("console error:", e.get("message"), file=sys.stderr)
    finally:
        driver.quit()
        if srv is not None:
            srv.shutdown()
        tmp.cleanup()
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
