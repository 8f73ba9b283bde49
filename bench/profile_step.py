"""One-off CPU profile of one page step (drill-down on the region page by default).

Starts this checkout's server on bench/longtask.py's demo database, opens the page in
headless Chromium, records a CDP CPU profile (100 µs sampling) around the step, and prints
self time per script and the hottest functions, plus every long task of the step. Use it
to see what a step's longest task is made of before changing code:

    python -m bench.profile_step                       # city region page, one drill-down
    python -m bench.profile_step --step tour           # the wall's tour region change
    python -m bench.profile_step --step map            # the wall's map, next child region
    python -m bench.profile_step --step map --root 340000000000 \
        --db bench/data/map-340000000000-80k.db        # province → first city, 80k worksites
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.longtask import (
    DRILL_JS,
    Variant,
    chrome,
    ensure_db,
    settle,
    start_server,
    stop_server,
)
from bench.serve import CITY


def summarise(profile: dict[str, Any], top: int) -> None:
    """Self time per script URL and per function (ms)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    dt = profile["timeDeltas"]
    self_us: collections.Counter[int] = collections.Counter()
    for sid, d in zip(profile["samples"], dt, strict=True):
        self_us[sid] += d
    by_url: collections.Counter[str] = collections.Counter()
    by_fn: collections.Counter[str] = collections.Counter()
    for nid, us in self_us.items():
        cf = nodes[nid]["callFrame"]
        url = cf.get("url", "").rsplit("/", 1)[-1].split("?")[0] or cf["functionName"] or "?"
        by_url[url] += us
        by_fn[f"{cf['functionName'] or '(anon)'} {url}:{cf.get('lineNumber', 0)}"] += us
    print("self time per script (ms):")
    for url, us in by_url.most_common(top):
        print(f"  {us / 1000:8.1f}  {url}")
    print("hottest functions (self, ms):")
    for fn, us in by_fn.most_common(top):
        print(f"  {us / 1000:8.1f}  {fn}")


def trace_tasks(driver: Any, min_ms: float) -> None:
    """From chromedriver's performance log (trace events): each main-thread task of at
    least min_ms, with the time of its direct children by kind (script by URL and function,
    layout, style, paint...)."""
    events = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Tracing.dataCollected":
            events.append(msg["params"])
    print(f"{len(events)} trace events; names: "
          f"{collections.Counter(e.get('name') for e in events).most_common(8)}")
    # The renderer's main thread: where the FunctionCall events are.
    calls = collections.Counter((e["pid"], e["tid"]) for e in events
                                if e.get("name") == "FunctionCall")
    main_tid = {calls.most_common(1)[0][0]} if calls else set()
    xs = [e for e in events if e.get("ph") == "X" and (e["pid"], e["tid"]) in main_tid
          and "dur" in e]
    xs.sort(key=lambda e: (e["ts"], -e["dur"]))
    for t in xs:
        if t["name"] != "RunTask" or t["dur"] < min_ms * 1000:
            continue
        end = t["ts"] + t["dur"]
        kids: collections.Counter[str] = collections.Counter()
        inner = [e for e in xs if e is not t and t["ts"] <= e["ts"] < end]
        # Direct children only: skip events nested inside an earlier child.
        cur_end = -1
        for e in inner:
            if e["ts"] < cur_end:
                continue
            cur_end = e["ts"] + e["dur"]
            d = e.get("args", {}).get("data", {}) or {}
            label = e["name"]
            if e["name"] in ("FunctionCall", "EvaluateScript", "TimerFire", "EventDispatch",
                             "FireAnimationFrame", "v8.callFunction"):
                url = str(d.get("url", "")).rsplit("/", 1)[-1][:40]
                label += f" {url}:{d.get('functionName', '')}"
                label += f" {d.get('type', '')}"
            kids[label] += e["dur"]
        print(f"task {t['dur'] / 1000:.0f} ms:")
        for label, us in kids.most_common(12):
            print(f"    {us / 1000:7.1f}  {label}")
        # At any depth: layout and style work (forced by script or not), by count and time.
        deep: collections.Counter[str] = collections.Counter()
        n: collections.Counter[str] = collections.Counter()
        for e in inner:
            if e["name"] in ("Layout", "UpdateLayoutTree", "Paint", "ParseHTML",
                             "HitTest", "ScheduleStyleRecalculation"):
                deep[e["name"]] += e["dur"]
                n[e["name"]] += 1
        for name, us in deep.most_common():
            print(f"      (inside: {name} ×{n[name]}, {us / 1000:.1f} ms)")


def main(argv: list[str] | None = None) -> int:
    """Profile one step and print where the main thread went."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=CITY)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--step", choices=("drill", "tour", "map"), default="drill")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--db", default="", help="a database file to serve instead of the demo "
                    "(e.g. bench/data/map-340000000000-80k.db with --root 340000000000)")
    a = ap.parse_args(argv)
    db = Path(a.db).resolve() if a.db else ensure_db(a.root, a.scale)
    v = Variant("this", sys.executable, Path.cwd())
    start_server(v, f"sqlite:///{db}", a.root)
    driver = chrome(trace=True)
    try:
        if a.step == "drill":
            driver.get(f"{v.base}/region/{a.root}?panel=placements")
            settle(driver, 0.0, 1500, 120, "load", first=True)
            trigger = DRILL_JS
            args: tuple[Any, ...] = ("placements",)
        elif a.step == "map":  # the map panel of the next child region, page already up
            driver.get(f"{v.base}/wall/{a.root}?panels=map&tour=children&dwell=3600&poll=3600")
            settle(driver, 0.0, 1500, 120, "load", first=True)
            trigger = "window.__wall.step(1);"
            args = ()
        else:
            driver.get(f"{v.base}/wall/{a.root}?tour=children&dwell=3600&poll=3600")
            settle(driver, 0.0, 1500, 120, "load", first=True)
            trigger = ("window.__wall.step("
                       "document.querySelectorAll('#deck > [data-panel]').length);")
            args = ()
        driver.execute_cdp_cmd("Profiler.enable", {})
        driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 100})
        driver.execute_cdp_cmd("Profiler.start", {})
        t0 = driver.execute_script(
            "var a = arguments; var L = window.__lt;"
            f"return L.start(function () {{ return true; }}, function () {{ {trigger} }});",
            *args)
        time.sleep(0.2)
        s = settle(driver, t0, 1500, 120, a.step)
        prof = driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
        tasks = driver.execute_script(
            "var t0 = arguments[0];"
            "return (window.__lt.tasks || []).filter(function (t) { return t[0] >= t0; });", t0)
        print(f"step {a.step}: longest {s.longest:.0f} ms, sum {s.total:.0f} ms "
              f"({s.count} long tasks), settled {s.settled:.0f} ms; tasks {tasks}")
        summarise(prof, a.top)
        trace_tasks(driver, 40)
    finally:
        driver.quit()
        stop_server(v)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
