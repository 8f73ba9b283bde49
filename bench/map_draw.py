"""Benchmark: the wall's main-thread CPU per map change, by what the figure draws.

On bench/map_longtask.py's province database, served in-process: the wall's map page in
headless Chromium, then `Plotly.react` on the page's own map with the figures of a tour
(province → 4 cities; `--tour county`: city → 4 counties; `--tour township`: the city's
first county → its townships; `--tour community`: that county's first township → its
communities; `--children N` children instead of 4), built here by
layouts.map.figure with parts left out, alternating variants per round. Reported per
variant: main-thread CPU time per change (CDP Performance ThreadTime, which other
processes' load does not inflate as it does wall-clock long tasks) and the longest task.
What a part costs is `current` minus the variant without it. `--before DIR` adds the
`current` figures of another checkout (its own layouts/queries code, this database), drawn
in the same browser in the same rounds: a before/after ratio side by side.

    flock /tmp/bench.lock python -m bench.map_draw [--tour county|township|community]
        [--rounds 3] [--throttle 1]
        [--children 4] [--before /path/to/old/checkout] [--only current,before]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.longtask import thread_ms
from bench.map_longtask import CITY, PROVINCE, _driver, _wait_drawn, ensure_db, serve
from bench.serve import machine

REACT_JS = """
var fig = arguments[0], done = arguments[arguments.length - 1];
var gd = document.querySelector('#map-g-map .js-plotly-plot');
var cfg = {displayModeBar: false, responsive: true, staticPlot: true};
var since = performance.now();
Promise.resolve(Plotly.react(gd, fig.data, fig.layout, cfg)).then(function () {
  setTimeout(function () {
    var lt = window.__long.filter(function (e) { return e[0] >= since - 1; })
      .map(function (e) { return e[1]; });
    done(Math.max.apply(null, [0].concat(lt)));
  }, 600);
});
"""


def _drop(*names: str) -> Callable[[dict], None]:
    def cut(fig: dict) -> None:
        fig["data"] = [t for t in fig["data"] if t.get("name") not in names]
    return cut


def _no_names(fig: dict) -> None:
    fig["layout"]["annotations"] = [a for a in fig["layout"]["annotations"]
                                    if a.get("yref") == "paper"]
    _drop("names", "plates", "leaders")(fig)  # the wall draws its names as traces


VARIANTS: dict[str, Callable[[dict], None]] = {
    "current": lambda fig: None,
    "no worksite dots": _drop("vacancies"),
    "no rings": _drop("rings"),
    "no community centres": _drop("communities"),
    "no hexagons": _drop("hex"),
    "no names": _no_names,
}


def figures(url: str, tour: str, children: int = 4) -> dict[str, list[dict]]:
    """Each variant's figures of the tour, as the browser receives them (JSON)."""
    import plotly

    from layouts import map as map_panel
    from queries import maplayer
    from queries.db import make_engine
    from queries.snapshots import latest_batch, region_with_children

    engine = make_engine(url)
    batch = latest_batch(engine)
    base = maplayer.load_map_base(engine, batch.id, dt.date.today())
    # The tour's parent: the province, the city, then down the city's first children.
    chain = [(PROVINCE, "province")]
    for lv in ("city", "county", "township", "community"):
        if lv == "city":
            chain.append((CITY, lv))
        else:
            chain.append((region_with_children(engine, batch.id, chain[-1][0])[1][0]["code"],
                          lv))
    levels = [lv for _, lv in chain]
    top, level = chain[levels.index(tour) - 1]
    child = tour
    kids = region_with_children(engine, batch.id, top)[1][:children]
    steps = [(top, level)] + [(k["code"], child) for k in kids]
    out: dict[str, list[dict]] = {k: [] for k in VARIANTS}
    for code, lv in steps:
        names = {c["code"]: c["name"] for c in region_with_children(engine, batch.id, code)[1]}
        view = maplayer.map_view(base, code, lv, maplayer.DEFAULT_METRIC)
        fig = map_panel.figure(view, names, {"mode": "wall", "lang": "zh", "theme": "dark",
                                             "region": code, "panel": "map"})
        text = json.dumps(fig, cls=plotly.utils.PlotlyJSONEncoder)
        for name, cut in VARIANTS.items():
            f = json.loads(text)
            cut(f)
            out[name].append(f)
    engine.dispose()
    return out


def figures_of(checkout: str, url: str, tour: str) -> list[dict]:
    """The `current` figures of the tour as another checkout's code draws them."""
    code = ("import json, sys; from bench.map_draw import figures; "
            "json.dump(figures(sys.argv[1], sys.argv[2])['current'], sys.stdout)")
    out = subprocess.run([sys.executable, "-c", code, url, tour], cwd=checkout, check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": checkout})
    return json.loads(out.stdout)


def main() -> None:
    """Draw each variant's tour on the wall page; print CPU and longest task per change."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tour", choices=("city", "county", "township", "community"),
                    default="city", help="the level toured to (from its parent: the "
                    "province, the city, its first county, that county's first township)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--throttle", type=int, default=1)
    ap.add_argument("--children", type=int, default=4, help="how many children the tour "
                    "visits (4: a city's urban districts; 9: all of its counties)")
    ap.add_argument("--per-step", action="store_true",
                    help="also each child's median (1 = the first child, in code order)")
    ap.add_argument("--before", default="", help="another checkout whose figures to add "
                    "(its tour visits 4 children)")
    ap.add_argument("--only", default="", help="comma-separated figures to draw (e.g. "
                    "current,before); all by default")
    args = ap.parse_args()
    url = f"sqlite:///{ensure_db()}"
    figs = figures(url, args.tour, args.children)
    if args.before:
        figs["before"] = figures_of(args.before, url, args.tour)
    if args.only:
        figs = {k: v for k, v in figs.items() if k in args.only.split(",")}
    srv, base = serve("hex", url)
    driver: Any = _driver()
    load = os.getloadavg()[0]
    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in figs}
    by_step: dict[tuple[str, int], list[tuple[float, float]]] = {}
    try:
        driver.get(f"{base}/wall/{PROVINCE}?panels=map&dwell=3600&poll=3600")
        _wait_drawn(driver)
        time.sleep(2)
        driver.execute_cdp_cmd("Emulation.setCPUThrottlingRate", {"rate": args.throttle})
        driver.execute_cdp_cmd("Performance.enable", {})
        for _ in range(args.rounds):
            for name, tour in figs.items():
                for i, fig in enumerate(tour):
                    t0 = thread_ms(driver)
                    longest = driver.execute_async_script(REACT_JS, fig)
                    if i:  # the first change comes from whatever was drawn before
                        rows[name].append((thread_ms(driver) - t0, longest))
                        by_step.setdefault((name, i), []).append(rows[name][-1])
    finally:
        driver.quit()
        srv.shutdown()
    print(f"{dt.date.today().isoformat()} · map changes on the wall, tour to {args.tour} "
          f"maps · CPU ×{args.throttle} · {machine()} · load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")
    print("| figure | main-thread CPU per change, median (min) ms | longest task, median ms "
          "| CPU ÷ current |\n|---|---|---|---|")
    ref = statistics.median(c for c, _ in rows["current"])
    for name, got in rows.items():
        cpu = statistics.median(c for c, _ in got)
        print(f"| {name} | {cpu:.0f} ({min(c for c, _ in got):.0f}) | "
              f"{statistics.median(t for _, t in got):.0f} | {cpu / ref:.2f} |")
    if args.per_step:
        print("\n| figure | child | CPU median ms | longest median ms |\n|---|---|---|---|")
        for (name, i), got in by_step.items():
            print(f"| {name} | {i} | {statistics.median(c for c, _ in got):.0f} | "
                  f"{statistics.median(t for _, t in got):.0f} |")


if __name__ == "__main__":
    main()
