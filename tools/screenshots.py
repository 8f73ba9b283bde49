"""Screenshots of every panel at province, city and community level, on a 1920×1080 and a
3840×1080 wall, plus the leaders' page, English and embeds, saved as PNG in docs/screenshots/.

Usage: python tools/screenshots.py [--out DIR] [--base-url URL | --database-url URL]
                                   [--root CODE] [--scale 1.0] [--only PREFIX,...]
Without --base-url or --database-url it builds a temporary demo database of the province
(`--root`, scale 1: realistic province totals, about two minutes), refreshes it and serves
the app on a free local port. Needs Chromium and chromedriver (Debian: chromium,
chromium-driver). After a run, open the PNGs and look: numbers readable, nothing clipped,
overlapping or empty.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROVINCE = "340000000000"
CITY = "340100000000"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_database(directory: str, scale: float = 1.0, root: str = PROVINCE) -> str:
    """A SQLite URL of a fresh demo database with one finished snapshot batch."""
    from demo.generator import load_demo
    from queries.db import init_db, make_engine
    from queries.refresh import refresh

    url = f"sqlite:///{Path(directory) / 'shots.db'}"
    engine = make_engine(url)
    init_db(engine)
    load_demo(engine, root=root, scale=scale, seed=7, tz="Asia/Shanghai")
    outcome = refresh(engine, tz="Asia/Shanghai")
    if outcome.status != "ok":
        raise SystemExit(f"refresh failed: {outcome.error}")
    engine.dispose()
    return url


def serve(url: str, port: int, root: str = PROVINCE) -> Any:
    """Serve the app in a daemon thread (werkzeug) and return the server object."""
    import logging

    from werkzeug.serving import make_server

    from dashboard.app import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app({"database_url": url, "root_region": root})
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
    # The system chromedriver, named explicitly: Selenium Manager would try to download one.
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    set_viewport(driver, width, height)
    return driver


def set_viewport(driver: Any, width: int, height: int) -> None:
    """Force the CSS viewport to width×height at device scale 1."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def wait_panel(driver: Any, panel: str, region: str, timeout: float = 30.0) -> None:
    """Wait until the panel shows data of `region`, fonts are in and numbers are fitted."""
    deadline = time.monotonic() + timeout
    js = (
        "const p=document.querySelector('[data-panel=\"'+arguments[0]+'\"]');"
        "if(!p) return false; const a=p.querySelector('.as-of');"
        "return p.getAttribute('data-region')===arguments[1] && a && a.textContent.length>4"
        " && document.fonts.status==='loaded'"
        " && !(window.__wall && window.__wall.state.fitQueued);"
    )
    while time.monotonic() < deadline:
        if driver.execute_script(js, panel, region):
            time.sleep(1.5)  # plotly draws after the data arrives; the panel fades in
            return
        time.sleep(0.2)
    raise TimeoutError(f"panel {panel} of {region} did not fill")


def first_child(base: str, code: str) -> str:
    """The first child region of `code` (the county shown on the county map)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/v1/regions/{code}") as r:
        return json.load(r)["children"][0]["code"]


def busiest_community(base: str, city: str) -> str:
    """The community with most placements this year in the city's first township."""
    import json
    import urllib.request

    code = city
    for _ in range(2):
        with urllib.request.urlopen(f"{base}/api/v1/regions/{code}") as r:
            code = json.load(r)["children"][0]["code"]
    with urllib.request.urlopen(f"{base}/api/v1/regions/{code}/metrics") as r:
        kids = json.load(r)["children"]
    return max(kids, key=lambda c: c["metrics"].get("placements.year") or 0)["code"]


def plan(levels: dict[str, str], panels: tuple[str, ...]) -> list[tuple[str, str, str, str,
                                                                        int, int]]:
    """(file name, path, panel, region, width, height) of every screenshot."""
    shots = []
    for width in (1920, 3840):
        suffix = "" if width == 1920 else f"-{width}x1080"
        for level, code in levels.items():
            if level == "county":
                continue
            for pid in panels:
                shots.append((f"wall-{level}-{pid}{suffix}",
                              f"/wall/{code}?panels={pid}&w={width}&h=1080", pid, code,
                              width, 1080))
    # The map also at county level (rings true to scale between the city's hexagons and
    # one community's ring).
    if levels.get("county") and "map" in panels:
        for width in (1920, 3840):
            suffix = "" if width == 1920 else f"-{width}x1080"
            shots.append((f"wall-county-map{suffix}",
                          f"/wall/{levels['county']}?panels=map&w={width}&h=1080", "map",
                          levels["county"], width, 1080))
    city = levels["city"]
    shots += [
        ("wall-city-overview-en", f"/wall/{city}?panels=overview&lang=en", "overview", city,
         1920, 1080),
        # A portrait kiosk (立式一体机), the other common screen in a service hall.
        ("wall-city-overview-1080x1920", f"/wall/{city}?w=1080&h=1920", "overview", city,
         1080, 1920),
        ("region-city-placements", f"/region/{city}?panel=placements", "placements", city,
         1440, 900),
        ("region-province-overview", f"/region/{levels['province']}?panel=overview",
         "overview", levels["province"], 1440, 900),
        ("embed-city-overview-400x300", f"/embed/overview/{city}", "overview", city, 400, 300),
        ("embed-city-vacancies-light-1200x800", f"/embed/vacancies/{city}?theme=light",
         "vacancies", city, 1200, 800),
    ]
    return shots


def main(argv: list[str] | None = None) -> int:
    """Take every screenshot; print the files written."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--base-url", default="")
    ap.add_argument("--database-url", default="", help="serve this database (no demo build)")
    ap.add_argument("--root", default=PROVINCE, help="province (root) region of the demo")
    ap.add_argument("--city", default=CITY, help="the city level shown")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", default="", help="comma list of file-name prefixes to take")
    args = ap.parse_args(argv)

    from layouts import PANEL_IDS

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory()
    srv = None
    errors: list[dict[str, Any]] = []
    base = args.base_url.rstrip("/")
    if not base:
        port = free_port()
        url = args.database_url or demo_database(tmp.name, args.scale, args.root)
        srv = serve(url, port, args.root)
        base = f"http://127.0.0.1:{port}"
    levels = {"province": args.root, "city": args.city,
              "community": busiest_community(base, args.city),
              "county": first_child(base, args.city)}
    only = [p for p in args.only.split(",") if p]
    driver = browser()
    try:
        for name, path, pid, code, w, h in plan(levels, PANEL_IDS):
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
