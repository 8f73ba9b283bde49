"""Benchmark: several screens as one wall (issue 9 goal 7, SPEC 4.1 `sync=1`).

Two headless Chromium browsers show `/wall/<city>?sync=1&dwell=<d>` from one gunicorn. Each
records the moment its wall switched panels (`performance.timeOrigin + performance.now()`
right after the DOM switch, assets/wall.js `__wall.state.switches`); the tool reads them back
every minute. Browser B is reloaded halfway. Each switch of A is paired with B's nearest
switch; the skew is their difference. Printed: switches, pairs, skew median/p95/max, steps
shown differently, and how B came back after its reload, with the load average.

    python -m bench.sync                          # 30 minutes, dwell 5 s (about 360 switches)
    python -m bench.sync --minutes 2 --dwell 3    # a quick look
Both browsers and the server share this machine's clock; the walls estimate the server's
offset from /_wall/state as they would across machines (NTP-style, round trip / 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from typing import Any

from bench.serve import CITY, FILLED_JS, Gunicorn, chrome, ensure_db, machine, pct, wait_for

STATE = "var s = window.__wall && window.__wall.state; "
# Switches numbered from `n` on (the page keeps the last 200, each with its number).
SWITCHES_JS = STATE + ("var n = arguments[0]; "
                       "return s ? s.switches.filter(function (x) { return x.n >= n; }) : null;")
OFFSET_JS = STATE + "return s ? [s.offset, s.samples.length] : null;"


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


class Wall:
    """One browser on the synchronised wall, its switches collected across reloads."""

    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url
        self.driver = chrome()
        self.switches: list[dict[str, Any]] = []
        self.seen = 0  # switches read from the current document
        self.reloads: list[float] = []  # epoch ms of each reload (navigation start)
        self.open()

    def open(self) -> None:
        """Load the page and wait for the first panel's data."""
        self.driver.get(self.url)
        self.seen = 0
        wait_for(lambda: self.driver.execute_script(FILLED_JS, "overview", CITY)
                 or self.driver.execute_script(SWITCHES_JS, 0), 90, f"{self.name} loaded")

    def collect(self) -> None:
        """Read the switches recorded since the last read."""
        rows = self.driver.execute_script(SWITCHES_JS, self.seen) or []
        if rows:
            self.seen = rows[-1]["n"] + 1
        self.switches += [{**r, "doc": len(self.reloads)} for r in rows]

    def reload(self) -> None:
        """Reload the page (a wall PC restarted its browser)."""
        self.collect()
        self.reloads.append(time.time() * 1000)
        self.open()

    def quit(self) -> None:
        """Close the browser."""
        self.driver.quit()


def pair(a: list[dict[str, Any]], b: list[dict[str, Any]], window_ms: float
         ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each switch of `a` with the nearest switch of `b` within `window_ms`."""
    out = []
    bs = sorted(b, key=lambda r: r["at"])
    j = 0
    for r in sorted(a, key=lambda r: r["at"]):
        while j + 1 < len(bs) and bs[j + 1]["at"] <= r["at"]:
            j += 1
        near = [x for x in bs[max(0, j - 1):j + 2] if abs(x["at"] - r["at"]) <= window_ms]
        if near:
            out.append((r, min(near, key=lambda x: abs(x["at"] - r["at"]))))
    return out


def report(a: Wall, b: Wall, dwell: float, start_ms: float, minutes: float) -> dict[str, Any]:
    """Print and return the skew figures."""
    first_data = max(a.switches[0]["at"], b.switches[0]["at"]) if a.switches and b.switches else 0
    sa = [r for r in a.switches if r["at"] > first_data + 1]
    sb = [r for r in b.switches if r["at"] > first_data + 1]
    pairs = pair(sa, sb, dwell * 500)
    skews = [abs(x["at"] - y["at"]) for x, y in pairs]
    differ = sum(1 for x, y in pairs if x["idx"] != y["idx"])
    print(f"  switches: A {len(sa)}, B {len(sb)} (B over {len(b.reloads) + 1} documents); "
          f"paired within {dwell / 2:g} s: {len(pairs)}; showing different steps: {differ}")
    if skews:
        print(f"  skew |A − B| at each switch: median {statistics.median(skews):.1f} ms, p95 "
              f"{pct(skews, 95):.1f} ms, max {max(skews):.1f} ms "
              f"({sum(1 for s in skews if s >= 100)} of {len(skews)} ≥ 100 ms)")
    worst = sorted(pairs, key=lambda p: -abs(p[0]["at"] - p[1]["at"]))[:5]
    print("  largest skews (minutes in: ms): " + ", ".join(
        f"{(x['at'] - start_ms) / 60000:.2f}: {abs(x['at'] - y['at']):.0f} (lag A "
        f"{x.get('lag') or 0:.0f}, B {y.get('lag') or 0:.0f})" for x, y in worst))
    for k, at in enumerate(b.reloads, 1):
        after = [(x, y) for x, y in pairs if y["doc"] == k]
        if after:
            x, y = after[0]
            print(f"  after B's reload {k} ({(at - start_ms) / 60000:.1f} min in): first paired "
                  f"switch {(y['at'] - at) / 1000:.1f} s after the reload, skew "
                  f"{abs(x['at'] - y['at']):.1f} ms; pairs after it {len(after)}, max skew "
                  f"{max(abs(p['at'] - q['at']) for p, q in after):.1f} ms")
    offs = [w.driver.execute_script(OFFSET_JS) for w in (a, b)]
    print(f"  estimated server offsets at the end (ms, samples): A {offs[0]}, B {offs[1]}")
    return {"pairs": len(pairs), "skews": skews, "differ": differ}


def main(argv: list[str] | None = None) -> int:
    """Run two synchronised walls for `--minutes`, reload one halfway, print the skew."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--dwell", type=float, default=5.0)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--poll", type=float, default=10.0)
    args = ap.parse_args(argv)
    print(f"# bench/sync.py  {dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S} UTC  {machine()}")
    url = ensure_db(args.scale)
    srv = Gunicorn(url, workers=2, extra=("-k", "gthread", "--threads", "4"))
    path = f"{srv.base}/wall/{CITY}?sync=1&dwell={args.dwell:g}&poll={args.poll:g}"
    print(f"  {path}  (gunicorn -w 2 -k gthread --threads 4, SQLite scale {args.scale})")
    walls: list[Wall] = []
    try:
        walls = [Wall("A", path), Wall("B", path)]
        a, b = walls
        start = time.time() * 1000
        end = time.monotonic() + args.minutes * 60
        half = time.monotonic() + args.minutes * 30
        reloaded = False
        while time.monotonic() < end:
            time.sleep(min(60.0, max(0.0, end - time.monotonic())))
            for w in walls:
                w.collect()
            if not reloaded and time.monotonic() >= half:
                b.reload()
                reloaded = True
            mins = (time.time() * 1000 - start) / 60000
            print(f"  {mins:5.1f} min: switches A {len(a.switches)}, B {len(b.switches)}; "
                  f"load average {load()}", flush=True)
        for w in walls:
            w.collect()
        report(a, b, args.dwell, start, args.minutes)
        print(f"  load average at the end {load()}; server log problems: {len(srv.problems())}")
    finally:
        for w in walls:
            w.quit()
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
