"""Benchmark: main-thread long tasks of the wall and region pages (issue 9, goals 1, 2, 6).

Serves one demo database with one or more *variants* of the server (a Python interpreter
and a checkout, e.g. the same code on Dash 4.4.1 and on Dash 4.1.0) and drives headless
Chromium against each in turn, side by side in one run. A script installed before any page
script (CDP `Page.addScriptToEvaluateOnNewDocument`) keeps every `longtask` entry of a
PerformanceObserver, counts the page's in-flight fetches and the last DOM change inside the
panels. Each measured step starts a clock in the page, triggers the change, records when the
expected numbers are on screen (checked every animation frame) and waits until the page is
quiet (no fetch in flight, no DOM change in the panels, no long task for a while); the step's
figures are its longest task, the sum and count of its long tasks, the time to the numbers
and the time until the panels stopped changing.

Steps, on `/wall/<root>?tour=children&dwell=3600&poll=3600` (the timer never steps, polling
is triggered by the bench):
  load          navigation → first panel with data ("first data on screen")
  panel         `__wall.step(1)`: the next panel of the same region
  batch         a refresh publishes a new snapshot batch, then `__wall.poll()` sees it
  tour          `__wall.step(<panels>)`: the same panel of the next child region
and on `/region/<root>?panel=placements`:
  load          navigation → placements with data
  drill         click a child's name in the ranking → the child's numbers (twice: two levels)
  tab           click another panel's tab → that panel with the child's numbers
  back/forward  history.back() twice, history.forward() → the numbers of that URL

Every step is run with CPU throttling ×1 and ×4 (`Emulation.setCPUThrottlingRate`, as on the
small PCs behind LED walls) unless `--throttle` says otherwise.

    python -m bench.longtask                                   # this checkout, this Python
    python -m bench.longtask --variant dash441=/work/venv/bin/python \\
        --variant dash410=/tmp/venv-dash41/bin/python         # same code, two Dash releases
    python -m bench.longtask --variant new=/work/venv/bin/python \\
        --variant old=/work/venv/bin/python@/tmp/old-checkout  # two checkouts
    python -m bench.longtask --root 340000000000               # province scale

A variant is NAME=PYTHON[@CHECKOUT]; the server is `PYTHON -m gunicorn` (1 worker, gthread)
run in CHECKOUT (default: this one). The demo database is built once under bench/data/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.serve import CITY, DATA_DIR, ROOT, TZ, free_port, machine

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")

# Installed before any page script: long tasks, in-flight fetches, last DOM change in panels,
# and a per-frame watcher for "the expected numbers are on screen".
INIT_JS = r"""
(function () {
  var L = window.__lt = {tasks: [], inflight: 0, lastNet: 0, lastMut: 0, t0: 0, done: null,
                         first: null, gen: 0};
  try {
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (e) { L.tasks.push([e.startTime, e.duration]); });
    }).observe({type: 'longtask', buffered: true});
  } catch (e) { L.unsupported = String(e); }
  var origFetch = window.fetch;
  window.fetch = function () {
    L.inflight++; L.lastNet = performance.now();
    var p = origFetch.apply(this, arguments);
    var end = function () { L.inflight--; L.lastNet = performance.now(); };
    p.then(end, end);
    return p;
  };
  var WATCHED = '#deck, #crumbs, #tabs, .where';
  function onMut(records) {
    for (var i = 0; i < records.length; i++) {
      var t = records[i].target;
      if (t && t.nodeType !== 1) t = t.parentNode;
      if (t && t.closest && t.closest(WATCHED)) { L.lastMut = performance.now(); return; }
    }
  }
  function observe() {
    new MutationObserver(onMut).observe(document.documentElement,
      {childList: true, subtree: true, characterData: true, attributes: true});
  }
  if (document.documentElement) observe();
  else document.addEventListener('DOMContentLoaded', observe);
  L.filled = function (panel, region) {
    var p = document.querySelector('[data-panel="' + panel + '"]');
    return !!p && (!region || p.getAttribute('data-region') === region) &&
      ((p.querySelector('.as-of') || {}).textContent || '').length > 4;
  };
  L.anyFilled = function () {
    var els = document.querySelectorAll('[data-panel]');
    for (var i = 0; i < els.length; i++) {
      if (((els[i].querySelector('.as-of') || {}).textContent || '').length > 4) return true;
    }
    return false;
  };
  /* Start a measured step: clock at now, run trigger, watch cond every frame. */
  L.start = function (cond, trigger) {
    var gen = ++L.gen;
    L.t0 = performance.now(); L.done = null;
    function f() {
      if (gen !== L.gen) return;
      var ok = false;
      try { ok = cond(); } catch (e) { ok = false; }
      if (ok) { L.done = performance.now() - L.t0; return; }
      requestAnimationFrame(f);
    }
    if (trigger) trigger();
    requestAnimationFrame(f);
    return L.t0;
  };
  /* First data on screen, from navigation start. */
  (function first() {
    if (L.anyFilled()) { L.first = performance.now(); return; }
    requestAnimationFrame(first);
  })();
})();
"""

STATUS_JS = """
var L = window.__lt, now = performance.now();
if (!L) return null;
var from = arguments[0], tasks = L.tasks.filter(function (t) { return t[0] >= from; });
var lastTask = tasks.reduce(function (a, t) { return Math.max(a, t[0] + t[1]); }, 0);
return {now: now, inflight: L.inflight, lastNet: L.lastNet, lastMut: L.lastMut,
        lastTask: lastTask, done: L.done, first: L.first,
        max: tasks.reduce(function (a, t) { return Math.max(a, t[1]); }, 0),
        sum: tasks.reduce(function (a, t) { return a + t[1]; }, 0), n: tasks.length,
        unsupported: L.unsupported || null};
"""


@dataclass
class Variant:
    """One server build to compare: a name, its Python interpreter and its checkout."""

    name: str
    python: str
    cwd: Path
    proc: Any = None
    port: int = 0
    log: Any = None
    version: str = ""

    @property
    def base(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Step:
    """Figures of one measured step (ms)."""

    longest: float
    total: float
    count: int
    done: float | None
    settled: float
    cpu: float = 0.0


@dataclass
class Results:
    """Steps per (variant, throttle, step name), over rounds."""

    rows: dict[tuple[str, int, str], list[Step]] = field(default_factory=dict)
    busy: list[tuple[str, int, float, float]] = field(default_factory=list)

    def add(self, variant: str, rate: int, name: str, step: Step) -> None:
        """Keep one step's figures."""
        self.rows.setdefault((variant, rate, name), []).append(step)


def parse_variant(spec: str) -> Variant:
    """NAME=PYTHON[@CHECKOUT]."""
    name, _, rest = spec.partition("=")
    python, _, cwd = rest.partition("@")
    if not name or not python:
        raise SystemExit(f"--variant NAME=PYTHON[@CHECKOUT], got {spec!r}")
    return Variant(name=name, python=python, cwd=Path(cwd or ROOT).resolve())


def ensure_db(root: str, scale: float, seed: int = 1) -> Path:
    """A demo database (load_demo + refresh) for `root`, built once under bench/data/."""
    path = DATA_DIR / f"longtask-{root}-s{str(scale).replace('.', '_')}.db"
    if path.exists():
        return path
    from demo.generator import load_demo
    from queries.db import init_db, make_engine
    from queries.refresh import refresh

    DATA_DIR.mkdir(exist_ok=True)
    tmp = path.with_suffix(".building.db")
    tmp.unlink(missing_ok=True)
    print(f"  building demo database {root} scale {scale} → {path} …", flush=True)
    t0 = time.perf_counter()
    engine = make_engine(f"sqlite:///{tmp}")
    init_db(engine)
    load_demo(engine, root=root, scale=scale, seed=seed, tz=TZ)
    outcome = refresh(engine, tz=TZ)
    engine.dispose()
    if outcome.status != "ok":
        raise RuntimeError(f"refresh failed: {outcome.error}")
    os.replace(tmp, path)
    print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def start_server(v: Variant, url: str, root: str) -> None:
    """`PYTHON -m gunicorn` (1 worker, 8 threads) in the variant's checkout."""
    v.port = free_port()
    env = {**os.environ, "DASHBOARD_DATABASE_URL": url, "DASHBOARD_ROOT_REGION": root,
           "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(v.cwd)}
    v.log = open(DATA_DIR / f"longtask-{v.name}.log", "w")  # noqa: SIM115 - closed in stop
    v.proc = subprocess.Popen(
        [v.python, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "8",
         "-b", f"127.0.0.1:{v.port}", "--timeout", "120", "dashboard.wsgi:server"],
        cwd=v.cwd, env=env, stdout=v.log, stderr=subprocess.STDOUT)
    v.version = subprocess.run(
        [v.python, "-c", "import dash, plotly; print(dash.__version__, plotly.__version__)"],
        cwd=v.cwd, env=env, capture_output=True, text=True).stdout.strip()
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{v.base}/_wall/state", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if v.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server {v.name} did not start; see {v.log.name}")
        time.sleep(0.3)


def stop_server(v: Variant) -> None:
    """SIGTERM gunicorn and wait."""
    if v.proc is not None and v.proc.poll() is None:
        v.proc.send_signal(signal.SIGTERM)
        try:
            v.proc.wait(20)
        except subprocess.TimeoutExpired:
            v.proc.kill()
            v.proc.wait()
    if v.log:
        v.log.close()


def chrome(trace: bool = False) -> Any:
    """Headless Chromium at 1920×1080, the system chromedriver, the bench's init script.

    With trace, chromedriver records devtools.timeline trace events into its performance
    log (bench/profile_step.py reads them)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and shutil.which("chromedriver")):
        raise SystemExit("Chromium or chromedriver not installed")
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1920,1080", "--enable-precise-memory-info"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs",
                        {"browser": "ALL", **({"performance": "ALL"} if trace else {})})
    if trace:
        opts.add_experimental_option("perfLoggingPrefs", {
            "enableNetwork": False, "enablePage": False,
            "traceCategories": "devtools.timeline,disabled-by-default-devtools.timeline,"
                               "blink.user_timing"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_script_timeout(600)
    driver.set_page_load_timeout(600)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": INIT_JS})
    driver.execute_cdp_cmd("Performance.enable", {"timeDomain": "threadTicks"})
    return driver


BUSY_JS = ("var t = performance.now(), x = 0; for (var i = 0; i < 2e7; i++) x += i % 7;"
           " return performance.now() - t;")


def throttle(driver: Any, base: str, rate: int) -> float:
    """CPU throttling for the next pages; returns the busy loop's time (ms) under it.

    Chromium drops the rate on a cross-site navigation (about:blank → the server), so the
    server's origin is opened first and the rate set there; later same-origin navigations
    keep it. The busy loop's time is printed per session as a check.
    """
    driver.get(f"{base}/_wall/state")
    driver.execute_cdp_cmd("Emulation.setCPUThrottlingRate", {"rate": rate})
    return driver.execute_script(BUSY_JS)


def thread_ms(driver: Any) -> float:
    """CPU time of the page's main thread so far (CDP Performance ThreadTime), ms.

    Long-task durations are wall-clock and grow when other processes take the CPU; this
    does not, so variants compared on a shared machine are also compared by it.
    """
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return 1000 * next((m["value"] for m in metrics if m["name"] == "ThreadTime"), 0.0)


def settle(driver: Any, t0: float, quiet_ms: float, timeout: float, what: str,
           first: bool = False, cpu0: float | None = None) -> Step:
    """Wait until the step's condition held and the page has been quiet for `quiet_ms`.

    With `first`, the condition is "first data on screen" since navigation start.
    """
    deadline = time.monotonic() + timeout
    st: dict[str, Any] = {}
    while time.monotonic() < deadline:
        st = driver.execute_script(STATUS_JS, t0) or {}
        if st.get("unsupported"):
            raise RuntimeError(f"longtask observer unsupported: {st['unsupported']}")
        last = max(st["lastNet"], st["lastMut"], st["lastTask"], t0)
        done = st["first"] if first else st["done"]
        if (done is not None and st["inflight"] == 0
                and st["now"] - last >= quiet_ms):
            settled = max(st["lastMut"], t0) - t0
            cpu = thread_ms(driver)
            if cpu0 is not None:
                cpu = cpu - cpu0 if cpu >= cpu0 else cpu  # counters restart per document
            return Step(longest=st["max"], total=st["sum"], count=st["n"], done=done,
                        settled=settled, cpu=cpu)
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not settled in {timeout:.0f} s (last status {st})")


def step(driver: Any, cond_js: str, trigger_js: str, quiet_ms: float, timeout: float,
         what: str, args: tuple[Any, ...] = ()) -> Step:
    """Run one measured step: cond and trigger are JS function bodies (arguments given)."""
    cpu0 = thread_ms(driver)
    t0 = driver.execute_script(
        "var a = arguments; var L = window.__lt;"
        f"return L.start(function () {{ {cond_js} }}, function () {{ {trigger_js} }});", *args)
    return settle(driver, t0, quiet_ms, timeout, what, cpu0=cpu0)


def wall_batch(base: str) -> Any:
    """The batch id /_wall/state reports."""
    with urllib.request.urlopen(f"{base}/_wall/state", timeout=30) as r:
        return json.load(r).get("batch")


def run_refresh(url: str) -> None:
    """One refresh in a separate process (the scheduler's job): a new snapshot batch."""
    env = {**os.environ, "DASHBOARD_DATABASE_URL": url}
    proc = subprocess.run([sys.executable, "-m", "dashboard", "refresh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"refresh failed: {proc.stdout} {proc.stderr}")


def wall_session(v: Variant, rate: int, root: str, url: str, res: Results, quiet: float,
                 tours: int) -> None:
    """Load, panel changes, a batch change and region changes of a touring wall."""
    driver = chrome()
    timeout = 120 * rate
    try:
        busy = throttle(driver, v.base, rate)
        cpu0 = thread_ms(driver)
        # jitter=0: on the batch step the wall re-asks its shown panel at once, not after a
        # random delay of up to 10 s (assets/wall.js), so the step measures that refetch.
        driver.get(f"{v.base}/wall/{root}?tour=children&dwell=3600&poll=3600&jitter=0")
        s = settle(driver, 0.0, quiet, timeout, "wall load", first=True, cpu0=cpu0)
        res.add(v.name, rate, "wall load → first data", s)
        n_panels = driver.execute_script(
            "return document.querySelectorAll('#deck > [data-panel]').length")
        for _ in range(2):
            s = step(driver, "var p = document.querySelector('#deck > [data-panel].is-active');"
                     " return p && window.__lt.filled(p.getAttribute('data-panel'));",
                     "window.__wall.step(1);", quiet, timeout, "wall panel change")
            res.add(v.name, rate, "wall panel change", s)
        old = wall_batch(v.base)
        run_refresh(url)
        deadline = time.monotonic() + 30
        while (new := wall_batch(v.base)) == old and time.monotonic() < deadline:
            time.sleep(0.3)
        if new == old:
            raise RuntimeError("the refresh did not change the batch")
        s = step(driver, "return String(window.__wall.state.batch) === String(a[0]);",
                 "window.__wall.poll();", quiet, timeout, "wall batch change", (new,))
        res.add(v.name, rate, "wall batch change", s)
        for _ in range(tours):
            s = step(driver,
                     "var st = window.__wall.state, p = st.seq[st.idx];"
                     " return st.region === p.region && window.__lt.filled(p.panel, p.region);",
                     f"window.__wall.step({n_panels});", quiet, timeout, "wall tour change")
            res.add(v.name, rate, "wall tour region change", s)
        res.busy.append((v.name, rate, busy, driver.execute_script(BUSY_JS)))
    finally:
        driver.quit()


DRILL_JS = """
var el = document.querySelector('[data-panel="' + a[0] + '"] [data-code] a.drill');
window.__lt.target = el ? el.parentNode.getAttribute('data-code') : null;
if (el) el.click();
"""


def region_session(v: Variant, rate: int, root: str, res: Results, quiet: float) -> None:
    """Load, two drill-downs, a tab change, back, back, forward on the leaders' page."""
    driver = chrome()
    timeout = 120 * rate
    panel, other = "placements", "vacancies"
    try:
        busy = throttle(driver, v.base, rate)
        cpu0 = thread_ms(driver)
        driver.get(f"{v.base}/region/{root}?panel={panel}")
        s = settle(driver, 0.0, quiet, timeout, "region load", first=True, cpu0=cpu0)
        res.add(v.name, rate, "region load → first data", s)
        path = [root]
        for _ in range(2):
            s = step(driver, "var L = window.__lt; return !!L.target && L.filled(a[0], L.target);",
                     DRILL_JS, quiet, timeout, "drill-down", (panel,))
            path.append(driver.execute_script("return window.__lt.target"))
            res.add(v.name, rate, "region drill-down click → numbers", s)
        child = path[-1]
        s = step(driver, "return document.getElementById('deck').getAttribute('data-active')"
                 " === a[0] && window.__lt.filled(a[0], a[1]);",
                 f"document.querySelector('[data-tab={other}] a').click();", quiet, timeout,
                 "tab change", (other, child))
        res.add(v.name, rate, "region tab (panel) change", s)
        shown = "return document.getElementById('deck').getAttribute('data-active') === a[0]" \
                " && window.__lt.filled(a[0], a[1]);"
        for name, trigger, expect in (("back", "history.back();", (panel, child)),
                                      ("back", "history.back();", (panel, path[-2])),
                                      ("forward", "history.forward();", (panel, child))):
            s = step(driver, shown, trigger, quiet, timeout, name, expect)
            res.add(v.name, rate, f"region {name}", s)
        res.busy.append((v.name, rate, busy, driver.execute_script(BUSY_JS)))
    finally:
        driver.quit()


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fmt_ms(x: float | None) -> str:
    """Milliseconds as text."""
    return "—" if x is None else f"{x:,.0f}"


def report(res: Results, variants: list[Variant], rates: list[int]) -> None:
    """Median figures per step, variants side by side, and their ratios to the first."""
    names = list(dict.fromkeys(k[2] for k in res.rows))
    cols = [(v.name, r) for r in rates for v in variants]
    print("\nmedians over rounds (ms): longest long task / sum of long tasks / "
          "time to numbers / time until the panels stopped changing / main-thread CPU")
    head = f"{'step':36s}" + "".join(f" | {f'{n} ×{r}':>37s}" for n, r in cols)
    print(head)
    print("-" * len(head))
    for name in names:
        line = f"{name:36s}"
        for n, r in cols:
            steps = res.rows.get((n, r, name), [])
            if not steps:
                line += f" | {'':>37s}"
                continue
            dones = [s.done for s in steps if s.done is not None]
            done = statistics.median(dones) if dones else None
            cell = (f"{fmt_ms(statistics.median(s.longest for s in steps))}/"
                    f"{fmt_ms(statistics.median(s.total for s in steps))}/"
                    f"{fmt_ms(done)}/{fmt_ms(statistics.median(s.settled for s in steps))}/"
                    f"{fmt_ms(statistics.median(s.cpu for s in steps))}")
            line += f" | {cell:>37s}"
        print(line)
    if len(variants) < 2:
        return
    print(f"\nratios of longest task, time to numbers and main-thread CPU, each variant ÷ "
          f"{variants[0].name}")
    for name in names:
        line = f"{name:36s}"
        for r in rates:
            base = res.rows.get((variants[0].name, r, name), [])
            for v in variants[1:]:
                other = res.rows.get((v.name, r, name), [])
                if not base or not other:
                    continue
                lb = statistics.median(s.longest for s in base)
                lo = statistics.median(s.longest for s in other)
                db = [s.done for s in base if s.done is not None]
                do = [s.done for s in other if s.done is not None]
                ratio_l = lo / lb if lb else float("nan")
                cb = statistics.median(s.cpu for s in base)
                ratio_c = statistics.median(s.cpu for s in other) / cb if cb else float("nan")
                ratio_d = (statistics.median(do) / statistics.median(db)
                           if db and do and statistics.median(db) else float("nan"))
                line += (f" | {v.name} ×{r}: longest {ratio_l:5.2f}, numbers {ratio_d:5.2f}, "
                         f"CPU {ratio_c:5.2f}")
        print(line)


def main(argv: list[str] | None = None) -> int:
    """Run the sessions for every variant and throttle rate, interleaved, and report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", action="append", default=[],
                   help="NAME=PYTHON[@CHECKOUT]; repeat to compare (default: this one)")
    p.add_argument("--root", default=CITY, help="root region (340000000000: province)")
    p.add_argument("--scale", type=float, default=0.05, help="demo scale")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--throttle", default="1,4", help="CPU throttling rates, comma list")
    p.add_argument("--tours", type=int, default=3, help="region changes per wall session")
    p.add_argument("--quiet", type=float, default=1500, help="quiet period, ms")
    p.add_argument("--only", default="wall,region", help="sessions to run")
    p.add_argument("--json", default=None, help="also write every step's figures here")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    variants = [parse_variant(s) for s in args.variant] or [
        Variant(name="this", python=sys.executable, cwd=ROOT)]
    rates = [int(x) for x in args.throttle.split(",") if x.strip()]
    only = set(args.only.split(","))
    db = ensure_db(args.root, args.scale)
    url = f"sqlite:///{db}"
    print(f"# bench/longtask.py  {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}  "
          f"{machine()}\n  root {args.root}, demo scale {args.scale}, rounds {args.rounds}, "
          f"throttle {rates}, load average {loadavg()}", flush=True)
    res = Results()
    try:
        for v in variants:
            start_server(v, url, args.root)
            print(f"  variant {v.name}: {v.python} in {v.cwd} (dash, plotly {v.version}) "
                  f"at {v.base}", flush=True)
        for rnd in range(args.rounds):
            order = variants if rnd % 2 == 0 else variants[::-1]
            for rate in rates:
                for v in order:
                    t0 = time.monotonic()
                    if "wall" in only:
                        wall_session(v, rate, args.root, url, res, args.quiet, args.tours)
                    if "region" in only:
                        region_session(v, rate, args.root, res, args.quiet)
                    print(f"  round {rnd + 1} ×{rate} {v.name}: {time.monotonic() - t0:.0f} s, "
                          f"load average {loadavg()}", flush=True)
    finally:
        for v in variants:
            stop_server(v)
    report(res, variants, rates)
    print("\nthrottling check: a fixed busy loop (ms) at the start and end of each session, "
          "median per rate:")
    for rate in rates:
        runs = [b for b in res.busy if b[1] == rate]
        if runs:
            print(f"  ×{rate}: start {statistics.median(b[2] for b in runs):.0f}, "
                  f"end {statistics.median(b[3] for b in runs):.0f} ms ({len(runs)} sessions)")
    print(f"\nload average at the end {loadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"variant": k[0], "rate": k[1], "step": k[2], **s.__dict__}
             for k, steps in res.rows.items() for s in steps], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
