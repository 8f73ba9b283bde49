"""Benchmark: the longest main-thread task while the map panel shows, at province scale.

Province demo (16,374 communities) with open vacancies topped up to 80,000 worksites
(synthetic, within 6 km of a random community centre), refreshed once; built once under
bench/data/. Served in-process (werkzeug, threaded) and driven by headless Chromium with a
PerformanceObserver keeping every `longtask` entry (as bench/longtask.py does). Steps:

  load   /wall/<root>?panels=map → the map's traces are drawn, then quiet
  tour   `__wall.step(1)` on `tour=children`: the first child's map (province → city:
         hexagons; city → county: every community's ring and worksite)
  region /region/<root>?panel=map → drawn

Variants side by side: `hex` (this work: hexagons at province and city level) and
`rings` (every community with its 3-km ring and every worksite as its own point, the
alternative the hexagons avoid), both on the city map; the province map with hexagons.
CPU throttling ×1 and ×4 (small PCs behind LED walls).

    flock /tmp/bench.lock python -m bench.map_longtask [--throttle 1,4] [--append]

Before/after a change: `--checkouts now=.,before=/path/to/other/checkout` serves each
checkout's own code (gunicorn, as bench/longtask.py) on the same database and measures the
hexagon plan for each, alternating per repeat; the table's ratio is the first ÷ the second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.serve import DATA_DIR, TZ, free_port, machine

PROVINCE = "340000000000"
CITY = "340100000000"
LEVEL = {PROVINCE: "province", CITY: "city"}
TARGET_VACANCIES = 80_000
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")

OBSERVER = """
window.__long = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (e) { window.__long.push([e.startTime, e.duration]); });
}).observe({type: 'longtask', buffered: true});
"""
TRACES_JS = """
var g = document.querySelector('#map-g-map .main-svg');
if (!g) return 0;
var gd = document.querySelector('#map-g-map .js-plotly-plot');
return gd && gd.data ? gd.data.length : 0;
"""


def ensure_db() -> Path:
    """The province demo with 80,000 open worksites, refreshed (built once)."""
    path = DATA_DIR / "map-340000000000-80k.db"
    if path.exists():
        return path
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from demo.generator import load_demo
    from queries.db import init_db, make_engine
    from queries.models import Region, Vacancy
    from queries.refresh import refresh

    DATA_DIR.mkdir(exist_ok=True)
    tmp = path.with_suffix(".building.db")
    for p in DATA_DIR.glob(tmp.name + "*"):
        p.unlink()
    engine = make_engine(f"sqlite:///{tmp}")
    init_db(engine)
    # The whole tree at a small volume: the map's load is the communities and worksites.
    load_demo(engine, root=PROVINCE, scale=0.01, seed=1, tz=TZ)
    rng = random.Random(14)
    with Session(engine) as s:
        have = s.scalar(select(func.count()).select_from(Vacancy)) or 0
        centres = s.execute(select(Region.code, Region.lat, Region.lon).where(
            Region.level == "community")).all()
        today = dt.date.today()
        rows = []
        for i in range(max(0, TARGET_VACANCIES - have)):
            code, lat, lon = rng.choice(centres)
            rows.append(Vacancy(
                vacancy_id=f"MAPBENCH{i:06d}", community_code=code,
                lat=lat + rng.uniform(-0.05, 0.05), lon=lon + rng.uniform(-0.06, 0.06),
                title="普工", type="full_time", headcount=rng.randint(1, 30),
                posted_on=today - dt.timedelta(days=rng.randint(1, 60))))
        s.add_all(rows)
        s.commit()
    outcome = refresh(engine, tz=TZ)
    engine.dispose()
    if outcome.status != "ok":
        raise RuntimeError(f"refresh failed: {outcome.error}")
    os.replace(tmp, path)
    return path


def _driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1920,1080"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER})
    driver.set_script_timeout(300)
    driver.set_page_load_timeout(300)
    return driver


def _wait_drawn(driver: Any, before: int = -1, timeout: float = 180.0) -> float:
    """Seconds until the map has traces (and, with `before`, a different figure)."""
    from selenium.common.exceptions import TimeoutException

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            sig = driver.execute_script(
                "var gd=document.querySelector('#map-g-map .js-plotly-plot');"
                "return gd && gd.data && gd.data.length ? JSON.stringify(gd.layout.xaxis.range)"
                " : null;")
        except TimeoutException:
            continue  # the page's main thread is busy (that is what is measured)
        if sig and sig != before:
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise TimeoutError("map not drawn")


def _quiet_max(driver: Any, since: float, quiet: float = 2.0) -> tuple[float, float, int]:
    """Wait until no long task for `quiet` s; (longest, total, count) since `since` (ms)."""
    last = -1
    stable = time.perf_counter()
    while time.perf_counter() - stable < quiet:
        n = driver.execute_script("return window.__long.length")
        if n != last:
            last, stable = n, time.perf_counter()
        time.sleep(0.1)
    tasks = [d for s, d in driver.execute_script("return window.__long") if s >= since]
    return (max(tasks, default=0.0), sum(tasks), len(tasks))


def measure(base: str, throttle: int, root: str = PROVINCE, steps: tuple[str, ...] = (
        "load", "tour", "region")) -> dict[str, tuple[float, float, int, float]]:
    """{step: (longest ms, total ms, count, seconds to drawn)} for one variant and root."""
    driver = _driver()
    out = {}
    try:
        driver.get(base + "/_favicon.ico")
        driver.execute_cdp_cmd("Emulation.setCPUThrottlingRate", {"rate": throttle})
        driver.get(f"{base}/wall/{root}?panels=map&dwell=3600&poll=3600&tour=children")
        took = _wait_drawn(driver)
        out["load"] = (*_quiet_max(driver, 0.0), took)
        if "tour" in steps:
            sig = driver.execute_script(
                "return JSON.stringify(document.querySelector('#map-g-map .js-plotly-plot')"
                ".layout.xaxis.range)")
            since = driver.execute_script("return performance.now()")
            driver.execute_script("window.__wall && window.__wall.step(1)")
            took = _wait_drawn(driver, sig)
            out["tour"] = (*_quiet_max(driver, since), took)
        if "region" in steps:
            driver.get(f"{base}/region/{root}?panel=map")
            took = _wait_drawn(driver)
            out["region"] = (*_quiet_max(driver, 0.0), took)
    finally:
        driver.quit()
    return out


# (variant, root, steps): the hexagons everywhere; both variants on the city map (1,362
# communities: 1,362 rings and every worksite a point against 4 km hexagons). The rings
# variant is not driven at province scale: its 28 MB figure takes 38 s to build on the
# server alone (see the server-side table).
PLAN = (
    ("hex", PROVINCE, ("load", "tour", "region")),
    ("hex", CITY, ("load", "tour")),  # the tour step: the city's first county, rings
    ("rings", CITY, ("load",)),
)


def serve(variant: str, url: str) -> tuple[Any, str]:
    """The app on `url` in a thread, with the variant's drawing rule."""
    from werkzeug.serving import make_server

    from dashboard.app import create_app
    from queries import maplayer

    if variant == "rings":
        maplayer.HEX_LEVELS = ()
        maplayer.HEX_ABOVE = 10**9
    else:
        maplayer.HEX_LEVELS = ("province", "city")
        maplayer.HEX_ABOVE = 1500
    app = create_app({"database_url": url, "root_region": PROVINCE})
    port = free_port()
    srv = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{port}"


def compare_checkouts(spec: str, url: str, throttles: list[int], repeat: int,
                      results: dict) -> list[str]:
    """Measure the hexagon plan on each `name=dir` checkout, alternating per repeat."""
    import sys

    from bench.longtask import Variant, start_server, stop_server

    variants = [Variant(n, sys.executable, Path(d).resolve())
                for n, d in (part.split("=", 1) for part in spec.split(","))]
    for v in variants:
        start_server(v, url, PROVINCE)
    try:
        for _ in range(repeat):
            for throttle in throttles:
                for v in variants:
                    for name, root, steps in PLAN:
                        if name != "hex":
                            continue
                        try:
                            rows = measure(v.base, throttle, root, steps)
                        except TimeoutError:
                            rows = {"load": (math.inf, math.inf, 0, math.inf)}
                        for step, row in rows.items():
                            key = (v.name, throttle, f"{step} {LEVEL[root]}")
                            results.setdefault(key, []).append(row)
    finally:
        for v in variants:
            stop_server(v)
    return [v.name for v in variants]


def main() -> None:
    """Build the data if needed, measure both variants, print and optionally append."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--throttle", default="1,4")
    ap.add_argument("--variants", default="hex,rings")
    ap.add_argument("--checkouts", default="", help="name=dir,name=dir: compare checkouts")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    args = ap.parse_args()
    path = ensure_db()
    url = f"sqlite:///{path}"
    results: dict[tuple[str, int, str], list[tuple[float, float, int, float]]] = {}
    load_before = os.getloadavg()
    if args.checkouts:
        names = compare_checkouts(args.checkouts, url,
                                  [int(x) for x in args.throttle.split(",")], args.repeat,
                                  results)
        lines = _table(results, names)
        print(f"{dt.date.today().isoformat()} · map panel, checkouts {args.checkouts} · "
              f"{machine()} · load average before {load_before[0]:.2f}, after "
              f"{os.getloadavg()[0]:.2f}")
        print("\n".join(lines))
        return
    for variant in args.variants.split(","):
        srv, base = serve(variant, url)
        try:
            for throttle in [int(x) for x in args.throttle.split(",")]:
                for name, root, steps in PLAN:
                    if name != variant:
                        continue
                    for _ in range(args.repeat):
                        try:
                            rows = measure(base, throttle, root, steps)
                        except TimeoutError:
                            # Not drawn within the limit: recorded as such, never dropped.
                            rows = {"load": (math.inf, math.inf, 0, math.inf)}
                        for step, row in rows.items():
                            key = (variant, throttle, f"{step} {LEVEL[root]}")
                            results.setdefault(key, []).append(row)
        finally:
            srv.shutdown()
    load_after = os.getloadavg()
    lines = _table(results, args.variants.split(","))
    head = (f"{dt.date.today().isoformat()} · map panel at province scale (16,374 communities, "
            f"{TARGET_VACANCIES:,} open worksites) · {machine()} · load average before "
            f"{load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(head)
    print("\n".join(lines))
    if args.append:
        with open(Path(__file__).with_name("RESULTS.md"), "a", encoding="utf-8") as f:
            f.write(f"\n## Map panel: longest main-thread task (issue 14)\n\n{head}\n\n"
                    "`python -m bench.map_longtask` — median of runs; longest / total long-task"
                    " ms, count, seconds until drawn\n\n")
            f.write("\n".join(lines) + "\n")


def _table(results: dict, variants: list[str]) -> list[str]:
    def med(rows: list, i: int) -> float:
        return statistics.median(r[i] for r in rows)

    first, second = (variants + [""])[:2]
    lines = ["| step | CPU | " + " | ".join(f"{v}: longest / total ms (n), s" for v in variants)
             + f" | longest ratio {first} ÷ {second} |",
             "|---|---|" + "---|" * (len(variants) + 1)]
    keys = sorted({(t, s) for (_, t, s) in results}, key=lambda k: (k[0], k[1]))
    for throttle, step in keys:
        cells = []
        for v in variants:
            rows = results.get((v, throttle, step), [])
            cells.append(f"{med(rows, 0):.0f} / {med(rows, 1):.0f} ({med(rows, 2):.0f}), "
                         f"{med(rows, 3):.1f}" if rows else "—")
        a_rows = results.get((first, throttle, step))
        b_rows = results.get((second, throttle, step))
        ratio = (f"{med(a_rows, 0) / max(med(b_rows, 0), 1):.2f}×"
                 if a_rows and b_rows else "—")
        lines.append(f"| {step} | ×{throttle} | " + " | ".join(cells) + f" | {ratio} |")
    return lines


if __name__ == "__main__":
    main()


__all__ = ["ensure_db", "measure", "json"]
