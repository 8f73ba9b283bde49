"""Benchmark: serving cost of the wall (issue 3).

One run prints three results:

(a) warm-cache latency of one panel-data callback (the exact POST /_dash-update-component
    body the browser sends for the city overview) against a bare Flask route of the same
    app instance that returns the same response bytes; interleaved, medians and their ratio
    (target ≤ 1.5);
(b) requests per second and p50/p95/p99 latency under gunicorn (2 workers) with simulated
    walls polling /_wall/state (and fetching the panel callbacks when the batch changes,
    as assets/wall.js does) and leaders drilling down (region page, its callbacks, the JSON
    API), with one refresh (a batch change) during the run; errors must be zero;
(c) bytes transferred for a cold load of /wall/<city> in headless Chromium (encodedDataLength
    of every resource, compressed as sent): total and the top five;
(d) with --flat CITY_URL PROVINCE_URL instead (issue 13 goal 6): the JSON API's metrics and
    every wall panel callback for the same city and one region per level below it, on a
    city-scale and a province-scale database (both refreshed), cold (caches cleared) and
    warm, interleaved; medians side by side and the ratio province ÷ city.

    python -m bench.serve                     # scale 1 demo data, 200 walls, 20 leaders, 30 s
    python -m bench.serve --walls 50 --duration 10 --skip c
    python -m bench.serve --flat sqlite:////tmp/hefei.db sqlite:////tmp/province.db
The demo database is built once and kept under bench/data/ (git-ignored). Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).with_name("data")
TZ = "Asia/Shanghai"
CITY = "340100000000"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
ACCEPT_ENCODING = "gzip, deflate, br, zstd"  # what Chromium sends
PANELS = ("overview", "placements", "vacancies", "key_groups", "zero_households", "circle")


# ---------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_db(scale: float, seed: int = 1) -> str:
    """SQLite URL of a demo database (load_demo + refresh), built once under bench/data/."""
    tag = str(scale).replace(".", "_")
    path = DATA_DIR / f"serve-s{tag}.db"
    if not path.exists():
        from demo.generator import load_demo
        from queries.db import init_db, make_engine
        from queries.refresh import refresh

        DATA_DIR.mkdir(exist_ok=True)
        tmp = path.with_suffix(".building.db")
        for p in DATA_DIR.glob(tmp.name + "*"):
            p.unlink()
        t0 = time.perf_counter()
        print(f"  building demo database scale {scale} → {path} …", flush=True)
        engine = make_engine(f"sqlite:///{tmp}")
        init_db(engine)
        load_demo(engine, scale=scale, seed=seed, tz=TZ)
        outcome = refresh(engine, tz=TZ)
        engine.dispose()
        if outcome.status != "ok":
            raise RuntimeError(f"refresh failed: {outcome.error}")
        os.replace(tmp, path)
        for p in DATA_DIR.glob(tmp.name + "*"):
            p.unlink()
        print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return f"sqlite:///{path}"


def run_refresh(url: str) -> float:
    """Run one refresh in a separate process (as the scheduler would); seconds taken."""
    t0 = time.perf_counter()
    env = {**os.environ, "DASHBOARD_DATABASE_URL": url}
    proc = subprocess.run([sys.executable, "-m", "dashboard", "refresh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"refresh failed: {proc.stdout} {proc.stderr}")
    return time.perf_counter() - t0


class Gunicorn:
    """`gunicorn -w N -b 127.0.0.1:<port> dashboard.wsgi:server` on a database URL."""

    def __init__(self, url: str, workers: int = 2, log_path: Path | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or DATA_DIR / f"gunicorn-{self.port}.log"
        env = {**os.environ, "DASHBOARD_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b",
             f"127.0.0.1:{self.port}", "--access-logfile", "-", *extra,
             "dashboard.wsgi:server"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, _ = request("GET", self.port, "/healthz", timeout=5)
                if status in (200, 503):
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {self.log_path}")
            time.sleep(0.3)

    def stop(self) -> None:
        """SIGTERM the arbiter (graceful) and wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def problems(self) -> list[str]:
        """Lines of the server log that report errors (tracebacks, worker timeouts)."""
        text = self.log_path.read_text(errors="replace")
        return [ln for ln in text.splitlines()
                if re.search(r"Traceback|\[ERROR\]|\[CRITICAL\]|WORKER TIMEOUT|Exception", ln)]


def request(method: str, port: int, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60
            ) -> tuple[int, bytes, dict[str, str]]:
    """One HTTP/1.1 request on a new connection to 127.0.0.1:port (status, raw body, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def decode(data: bytes, headers: dict[str, str]) -> bytes:
    """Undo Content-Encoding (zstd, br, gzip, deflate)."""
    enc = headers.get("content-encoding", "")
    if enc == "zstd":
        from backports import zstd  # installed with Flask-Compress

        return zstd.decompress(data)
    if enc == "br":
        return brotli.decompress(data)
    if enc == "gzip":
        return gzip.decompress(data)
    if enc == "deflate":
        return zlib.decompress(data)
    return data


def chrome(extra_args: tuple[str, ...] = (), perf_log: bool = False) -> Any:
    """Headless Chromium at 1920×1080 with a fresh profile (cold cache)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and shutil.which("chromedriver")):
        raise SystemExit("Chromium or chromedriver not installed")
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1920,1080", *extra_args):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    prefs: dict[str, str] = {"browser": "ALL"}
    if perf_log:
        prefs["performance"] = "ALL"
    opts.set_capability("goog:loggingPrefs", prefs)
    # The system chromedriver, named explicitly: without it Selenium Manager looks for a
    # driver online and sends usage statistics (both requests leave the machine).
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_script_timeout(600)  # a busy main thread (see the soak) must not fail a read
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    return driver


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `cond` until truthy; raise on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as err:  # noqa: BLE001 - stale elements while React re-renders
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.15)
    raise TimeoutError(f"timed out waiting for {what} (last: {last!r})")


FILLED_JS = ("var p=document.querySelector('[data-panel=\"'+arguments[0]+'\"]');"
             "return !!p && p.getAttribute('data-region')===arguments[1] &&"
             " (p.querySelector('.as-of')||{}).textContent.length>4;")


def machine() -> str:
    """One line about the machine."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * len(v) + 0.5) - 1))]


# ---------------------------------------------------------------------------- callbacks

END_ID_RE = re.compile(r'"end_id":"([^"]+)"')
BATCH_RE = re.compile(r'"data-batch":"([^"]*)"')


class Callbacks:
    """Builds POST /_dash-update-component bodies exactly as dash-renderer does, from the
    app's /_dash-dependencies: output/outputs, inputs and state with their values (a value
    that is undefined in the browser is left out), changedPropIds and parsedChangedPropsIds."""

    def __init__(self, deps: list[dict[str, Any]]) -> None:
        self.deps = deps

    def find(self, marker: str) -> dict[str, Any]:
        """The dependency whose output string contains `marker` (e.g. 'page.children')."""
        hits = [d for d in self.deps if marker in d["output"]]
        if len(hits) != 1:
            raise KeyError(f"{len(hits)} callbacks output {marker}")
        return hits[0]

    @staticmethod
    def _outputs(spec: str) -> Any:
        def one(s: str) -> dict[str, str]:
            cid, prop = s.rsplit(".", 1)
            return {"id": cid, "property": prop}

        if spec.startswith("..") and spec.endswith(".."):
            return [one(s) for s in spec[2:-2].split("...")]
        return one(spec)

    def body(self, marker: str, values: dict[str, Any], changed: list[str]) -> bytes:
        """JSON body for the callback of `marker`; values keyed 'id.property'."""
        dep = self.find(marker)

        def arg(d: dict[str, Any]) -> dict[str, Any]:
            out = {"id": d["id"], "property": d["property"]}
            value = values.get(f"{d['id']}.{d['property']}")
            if value is not None:
                out["value"] = value
            return out

        payload = {
            "output": dep["output"],
            "outputs": self._outputs(dep["output"]),
            "inputs": [arg(d) for d in dep["inputs"]],
            "changedPropIds": changed,
            "parsedChangedPropsIds": changed,
            "state": [arg(d) for d in dep["state"]],
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def panel_marker(pid: str) -> str:
    """The output that identifies the callback of a panel."""
    return f"panel-{pid}.data-region"


def want_input(pid: str) -> str:
    """The input of a panel's callback: its want store (dashboard.pages.want_id)."""
    return f"want-{pid}.data"


def panel_values(pid: str, target: Any, batch: Any, view: Any) -> dict[str, Any]:
    """Callback values of a panel: its want store ({region, panel, batch}) and the view."""
    return {want_input(pid): {**(target or {}), "batch": batch}, "view.data": view}


JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING}
GET_HEADERS = {"Accept-Encoding": ACCEPT_ENCODING}


# ---------------------------------------------------------------------------- (c) cold load


def cold_load(base: str, region: str = CITY) -> dict[str, Any]:
    """Bytes Chromium transfers for a cold load of /wall/<region> (fresh profile)."""
    driver = chrome(perf_log=True)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.get(f"{base}/wall/{region}")
        wait_for(lambda: driver.execute_script(FILLED_JS, "overview", region), 300,
                 "overview filled")
        time.sleep(3.0)  # lazy chunks (async-graph, plotly) and the other panels' callbacks
        timing_total = driver.execute_script(
            "return performance.getEntriesByType('navigation').concat("
            "performance.getEntriesByType('resource')).reduce((a, e) => a + e.transferSize, 0)")
        reqs: dict[str, dict[str, Any]] = {}
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            method, prm = msg["method"], msg["params"]
            if method == "Network.requestWillBeSent":
                r = reqs.setdefault(prm["requestId"], {"decoded": 0})
                r.update(url=prm["request"]["url"], method=prm["request"]["method"],
                         post=prm["request"].get("postData"))
            elif method == "Network.responseReceived":
                r = reqs.setdefault(prm["requestId"], {"decoded": 0})
                hdrs = {k.lower(): v for k, v in prm["response"]["headers"].items()}
                r.update(status=prm["response"]["status"],
                         encoding=hdrs.get("content-encoding", "identity"))
            elif method == "Network.dataReceived":
                reqs.setdefault(prm["requestId"], {"decoded": 0})["decoded"] += prm["dataLength"]
            elif method == "Network.loadingFinished":
                reqs.setdefault(prm["requestId"], {"decoded": 0})["bytes"] = \
                    prm["encodedDataLength"]
        done = [r for r in reqs.values() if "bytes" in r and "url" in r]
        bodies = [r["post"] for r in done if r.get("post") and
                  panel_marker("overview") in r["post"]]
        return {"resources": done, "timing_total": timing_total,
                "overview_body": bodies[0].encode() if bodies else None}
    finally:
        driver.quit()


def report_cold(res: dict[str, Any]) -> None:
    """Print total KB and the five largest resources of a cold load."""
    done = res["resources"]
    total = sum(r["bytes"] for r in done)
    decoded = sum(r["decoded"] for r in done)
    print(f"(c) cold load of /wall/{CITY}: {len(done)} requests, {total / 1024:.1f} KB "
          f"transferred (Network.loadingFinished encodedDataLength, headers included; "
          f"Resource Timing transferSize sum {res['timing_total'] / 1024:.1f} KB); "
          f"{decoded / 1024:.1f} KB decoded")
    for r in sorted(done, key=lambda r: -r["bytes"])[:5]:
        path = r["url"].split("//", 1)[-1].split("/", 1)[-1]
        print(f"    {r['bytes'] / 1024:8.1f} KB  {r.get('encoding', '?'):8s} "
              f"(decoded {r['decoded'] / 1024:7.1f} KB)  {r['method']} /{path[:90]}")


# ---------------------------------------------------------------------------- (a) latency


def _serve_bench_app(url: str, port: int, body: bytes, ready: Any) -> None:
    """Child process: the bench's own app instance with a bare route, under gunicorn (1 sync
    worker). The callback response is recorded first (this also warms the cache, which the
    forked worker inherits) and the bare route returns exactly those bytes."""
    from flask import Response
    from gunicorn.app.base import BaseApplication

    from dashboard.app import create_app

    app = create_app({"database_url": url})
    server = app.server
    recorded: dict[str, Any] = {}
    server.add_url_rule(
        "/_bench/bare", "bench_bare",
        lambda: Response(recorded["data"], status=200, mimetype=recorded["mimetype"]),
        methods=["GET", "POST"])
    client = server.test_client()
    resp = client.post("/_dash-update-component", data=body, content_type="application/json")
    if resp.status_code != 200:
        raise RuntimeError(f"callback answered {resp.status_code}: {resp.get_data()[:300]!r}")
    recorded.update(data=resp.get_data(), mimetype=resp.mimetype)

    class App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{port}")
            self.cfg.set("workers", 1)
            self.cfg.set("loglevel", "warning")

        def load(self) -> Any:
            return server

    ready.set()
    App().run()


def callback_vs_bare(url: str, body: bytes, pairs: int) -> dict[str, Any]:
    """Interleaved timings of the panel callback and the bare route on one server."""
    import multiprocessing as mp

    port = free_port()
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_serve_bench_app, args=(url, port, body, ready), daemon=True)
    proc.start()
    try:
        ready.wait(120)
        deadline = time.monotonic() + 60
        while True:
            try:
                request("GET", port, "/_wall/state", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        status, html, _ = request("GET", port, f"/wall/{CITY}", headers={})
        m = END_ID_RE.search(html.decode())
        cb_path = "/_dash-update-component" + (f"?endId={m.group(1)}" if m else "")
        targets = {"callback": cb_path, "bare": "/_bench/bare"}
        raw: dict[str, bytes] = {}
        for name, path in targets.items():
            status, data, hdrs = request("POST", port, path, body, JSON_HEADERS)
            if status != 200:
                raise RuntimeError(f"{name}: HTTP {status}")
            raw[name] = decode(data, hdrs)
            raw[name + "_wire"] = data
            raw[name + "_enc"] = hdrs.get("content-encoding", "identity").encode()
        times: dict[str, list[float]] = {"callback": [], "bare": []}
        for i in range(20 + pairs):  # 20 warm-up pairs, not counted
            order = ["callback", "bare"] if random.random() < 0.5 else ["bare", "callback"]
            for name in order:
                t0 = time.perf_counter()
                status, _, _ = request("POST", port, targets[name], body, JSON_HEADERS)
                elapsed = time.perf_counter() - t0
                if status != 200:
                    raise RuntimeError(f"{name}: HTTP {status}")
                if i >= 20:
                    times[name].append(elapsed)
        return {"times": times, "raw": raw}
    finally:
        proc.terminate()
        proc.join(20)


def report_latency(res: dict[str, Any], pairs: int) -> None:
    """Print medians, p90 and the ratio."""
    t, raw = res["times"], res["raw"]
    mc, mb = statistics.median(t["callback"]) * 1000, statistics.median(t["bare"]) * 1000
    ratio = mc / mb
    same = raw["callback"] == raw["bare"]
    print(f"(a) city overview panel callback vs bare Flask route, warm cache, {pairs} interleaved "
          f"pairs, gunicorn 1 sync worker, new connection per request:")
    print(f"    callback median {mc:.2f} ms (p90 {pct(t['callback'], 90) * 1000:.2f}), "
          f"bare route median {mb:.2f} ms (p90 {pct(t['bare'], 90) * 1000:.2f}), "
          f"ratio {ratio:.2f} (target ≤ 1.5) {'OK' if ratio <= 1.5 else 'OVER TARGET'}")
    print(f"    response {len(raw['callback'])} B JSON, {len(raw['callback_wire'])} B on the wire "
          f"({raw['callback_enc'].decode()}); bare route same bytes: {'yes' if same else 'NO'}")


def panel_medians(url: str, cb: Callbacks, view: dict[str, Any], n: int = 25) -> str:
    """In-process median of each panel callback for the city (Flask test client, warm)."""
    from dashboard.app import create_app

    app = create_app({"database_url": url})
    client = app.server.test_client()
    out = []
    for pid in PANELS:
        body = cb.body(panel_marker(pid), panel_values(pid, {"region": CITY, "panel": None},
                                                       None, view), [want_input(pid)])
        ts = []
        for i in range(n + 3):
            t0 = time.perf_counter()
            r = client.post("/_dash-update-component", data=body,
                            content_type="application/json")
            if i >= 3:
                ts.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.status_code
        out.append(f"{pid} {statistics.median(ts) * 1000:.1f}")
    return ", ".join(out)


# ---------------------------------------------------------------------------- (d) flat


def _flat_app(url: str) -> dict[str, Any]:
    """An app on one database (in process), its callbacks and region codes by level."""
    from dashboard.app import create_app
    from queries.db import make_engine
    from queries.snapshots import latest_batch, region_index

    app = create_app({"database_url": url, "timezone": TZ})
    client = app.server.test_client()
    cb = Callbacks(client.get("/_dash-dependencies").get_json())
    engine = make_engine(url)
    index = region_index(engine, latest_batch(engine).id)
    engine.dispose()
    kids: dict[str, list[str]] = defaultdict(list)
    for r in index:
        kids[r["parent_code"] or ""].append(r["code"])
    # The city, then the first child by code at each level below it.
    codes, code = {}, CITY
    for level in ("city", "county", "township", "community"):
        codes[level] = code
        code = min(kids.get(code) or [""])
        if not code:
            break
    return {"app": app, "client": client, "cb": cb, "codes": codes,
            "children": {lv: len(kids.get(c, [])) for lv, c in codes.items()},
            "regions": len(index)}


def _flat_requests(a: dict[str, Any], panels: tuple[str, ...]) -> dict[tuple[str, str], Any]:
    """(level, what) -> a function making that request once (asserting HTTP 200)."""
    client, cb = a["client"], a["cb"]
    out: dict[tuple[str, str], Any] = {}
    for level, code in a["codes"].items():
        route = cb.body("page.children", {"url.pathname": f"/wall/{code}", "url.search": ""},
                        ["url.pathname", "url.search"])
        view = client.post("/_dash-update-component", data=route,
                           content_type="application/json").get_json()
        view = view["response"]["view"]["data"]

        def api(code: str = code) -> None:
            r = client.get(f"/api/v1/regions/{code}/metrics")
            assert r.status_code == 200, r.status_code

        out[(level, "api metrics")] = api
        for pid in panels:
            body = cb.body(panel_marker(pid), panel_values(
                pid, {"region": code, "panel": None}, None, view), [want_input(pid)])

            def panel(body: bytes = body) -> None:
                r = client.post("/_dash-update-component", data=body,
                                content_type="application/json")
                assert r.status_code == 200, r.status_code

            out[(level, pid)] = panel
    return out


def flat(city_url: str, prov_url: str, repeat: int) -> None:
    """(d) the same requests on a city-scale and a province-scale database, interleaved."""
    from dashboard import cache as snapshot_cache
    from dashboard import callback_cache
    from layouts import PANEL_IDS

    apps = {"city": _flat_app(city_url), "province": _flat_app(prov_url)}
    panels = tuple(PANEL_IDS)
    reqs = {name: _flat_requests(a, panels) for name, a in apps.items()}
    print(f"(d) serving at city vs province scale: in-process test client, {repeat} rounds, "
          f"interleaved; cold = both caches cleared before the request (the first request "
          f"of a batch), warm = cached per batch")
    for name, a in apps.items():
        print(f"    {name}: {a['regions']:,} regions; " + ", ".join(
            f"{lv} {c} ({a['children'][lv]} children)" for lv, c in a["codes"].items()))

    def clear(a: dict[str, Any]) -> None:
        with a["app"].server.app_context():
            snapshot_cache.cache.clear()
            callback_cache.responses.clear()

    times: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    keys = [k for k in reqs["city"] if k in reqs["province"]]
    for name in apps:  # warm-up: imports, first queries
        for k in keys:
            reqs[name][k]()
    for _ in range(repeat):
        for k in keys:
            for name in random.sample(list(apps), 2):
                clear(apps[name])
                t0 = time.perf_counter()
                reqs[name][k]()
                times[(name, *k, "cold")].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                reqs[name][k]()
                times[(name, *k, "warm")].append(time.perf_counter() - t0)
    print(f"    {'level':10} {'request':16} {'cold city':>10} {'province':>10} {'ratio':>6}"
          f"   {'warm city':>10} {'province':>10} {'ratio':>6}   (median ms)")
    worst = {"cold": 0.0, "warm": 0.0}
    sums = {(name, mode): 0.0 for name in apps for mode in ("cold", "warm")}
    logs = {"cold": 0.0, "warm": 0.0}
    for level, what in keys:
        row = []
        for mode in ("cold", "warm"):
            c = statistics.median(times[("city", level, what, mode)]) * 1000
            p = statistics.median(times[("province", level, what, mode)]) * 1000
            worst[mode] = max(worst[mode], p / c)
            sums[("city", mode)] += c
            sums[("province", mode)] += p
            logs[mode] += math.log(p / c)
            row.append(f"{c:10.2f} {p:10.2f} {p / c:6.2f}")
        print(f"    {level:10} {what:16} {row[0]}   {row[1]}")
    for mode in ("cold", "warm"):
        c, p = sums[("city", mode)], sums[("province", mode)]
        print(f"    {mode}: all {len(keys)} requests {c:.0f} ms at city scale, {p:.0f} ms at "
              f"province scale, ratio {p / c:.3f}; geometric mean of the ratios "
              f"{math.exp(logs[mode] / len(keys)):.3f}; largest {worst[mode]:.2f}")
    print(f"    (goal: within 1.10); load average {os.getloadavg()[0]:.1f}")


# ---------------------------------------------------------------------------- (b) load


class Stats:
    """Thread-safe latency records: (kind, seconds, ok, start time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, float, bool, float]] = []
        self.errors: Counter[str] = Counter()
        self.recording = False
        self.switched: list[float] = []  # when a wall finished re-fetching for a new batch

    def add(self, kind: str, elapsed: float, ok: bool, t0: float, why: str = "") -> None:
        if not self.recording:
            return
        with self.lock:
            self.rows.append((kind, elapsed, ok, t0))
            if not ok:
                self.errors[f"{kind}: {why}"] += 1


class Client:
    """One simulated browser: requests on new connections (gunicorn sync closes them)."""

    def __init__(self, port: int, stats: Stats, cb: Callbacks, stop: threading.Event) -> None:
        self.port, self.stats, self.cb, self.stop = port, stats, cb, stop

    def call(self, kind: str, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None, ok_status: tuple[int, ...] = (200,)
             ) -> bytes | None:
        t0 = time.perf_counter()
        try:
            status, data, hdrs = request(method, self.port, path, body,
                                         headers or GET_HEADERS, timeout=30)
        except Exception as err:  # noqa: BLE001 - counted as an error
            self.stats.add(kind, time.perf_counter() - t0, False, t0, type(err).__name__)
            return None
        elapsed = time.perf_counter() - t0
        ok = status in ok_status
        self.stats.add(kind, elapsed, ok, t0, f"HTTP {status}")
        return decode(data, hdrs) if ok else None

    def callback(self, kind: str, marker: str, values: dict[str, Any], changed: list[str],
                 end_id: str) -> Any:
        data = self.call(kind, "POST", f"/_dash-update-component?endId={end_id}",
                         self.cb.body(marker, values, changed), JSON_HEADERS, (200, 204))
        return json.loads(data) if data else None

    def load_page(self, kind: str, path: str) -> str:
        html = self.call(kind, "GET", path)
        self.call("dash-layout", "GET", "/_dash-layout")
        self.call("dash-deps", "GET", "/_dash-dependencies")
        m = END_ID_RE.search((html or b"").decode())
        return m.group(1) if m else ""

    def route(self, end_id: str, pathname: str, search: str) -> tuple[Any, Any, str]:
        resp = self.callback("cb-route", "page.children",
                             {"url.pathname": pathname, "url.search": search},
                             ["url.pathname", "url.search"], end_id)
        if not resp:
            return None, None, ""
        r = resp["response"]
        m = BATCH_RE.search(json.dumps(r["page"]["children"], ensure_ascii=False,
                                          separators=(",", ":")))
        return r["view"]["data"], r["target"]["data"], (m.group(1) if m else "")


def wall_client(c: Client, code: str, poll: float, loaded: threading.Barrier | None,
                start_delay: float) -> None:
    """A wall: load /wall/<code> like the browser, then poll /_wall/state every `poll`
    seconds and fetch the 6 panel callbacks + header when the batch id changes (wall.js)."""
    time.sleep(start_delay)
    search = f"?poll={poll:g}"
    end_id = c.load_page("page-wall", f"/wall/{code}{search}")
    view, target, batch = c.route(end_id, f"/wall/{code}", search)
    values = {"target.data": target, "view.data": view}
    for pid in PANELS:
        c.callback("cb-panel", panel_marker(pid), panel_values(pid, target, batch, view),
                   [want_input(pid)], end_id)
    c.callback("cb-head", "hdr-name.children", values, ["target.data"], end_id)
    if loaded is not None:
        try:
            loaded.wait()
        except threading.BrokenBarrierError:
            pass
    last_poll = time.monotonic() - random.uniform(0, poll)
    while not c.stop.is_set():
        wait = last_poll + poll - time.monotonic()
        if wait > 0 and c.stop.wait(wait + random.uniform(0, 0.25)):  # wall.js ticks 250 ms
            break
        data = c.call("state", "GET", "/_wall/state", headers={"Cache-Control": "no-store",
                                                                **GET_HEADERS})
        last_poll = time.monotonic()
        if data:
            js = json.loads(data)
            if js.get("batch") is not None and str(js["batch"]) != batch:
                batch = str(js["batch"])
                vals = {**values, "batch.data": js["batch"]}
                for pid in PANELS:
                    c.callback("cb-panel", panel_marker(pid),
                               panel_values(pid, target, batch, view), [want_input(pid)], end_id)
                c.callback("cb-head", "hdr-name.children", vals, ["batch.data"], end_id)
                with c.stats.lock:
                    c.stats.switched.append(time.perf_counter())


def leader_client(c: Client, codes: list[str], think: tuple[float, float]) -> None:
    """A leader: open /region/<code>?panel=<p> for random regions (page, the callbacks the
    browser sends for it, then the JSON metrics), pausing `think` seconds between views."""
    while not c.stop.is_set():
        code, panel = random.choice(codes), random.choice(PANELS)
        search = f"?panel={panel}"
        end_id = c.load_page("page-region", f"/region/{code}{search}")
        view, target, batch = c.route(end_id, f"/region/{code}", search)
        c.callback("cb-jump", "url.search", {"target.data": target, "view.data": view},
                   ["search.value"], end_id)
        values = {"target.data": target, "view.data": view}
        for pid in PANELS:
            c.callback("cb-panel", panel_marker(pid), panel_values(pid, target, batch, view),
                       [want_input(pid)], end_id)
        c.callback("cb-chrome", "crumbs.children", values, ["target.data"], end_id)
        c.call("api-metrics", "GET", f"/api/v1/regions/{code}/metrics")
        c.stop.wait(random.uniform(*think))


def region_codes(url: str) -> list[dict[str, Any]]:
    """Every region of the newest batch."""
    from queries import snapshots
    from queries.db import make_engine

    engine = make_engine(url)
    try:
        batch = snapshots.latest_batch(engine)
        assert batch is not None
        return snapshots.region_index(engine, batch.id)
    finally:
        engine.dispose()


def load_test(url: str, srv: Gunicorn, cb: Callbacks, walls: int, leaders: int,
              duration: float, poll: float, refresh_at: float) -> dict[str, Any]:
    """Walls load (not measured), then `duration` seconds measured with walls polling,
    leaders drilling down, and one refresh (batch change) `refresh_at` seconds in."""
    regions = region_codes(url)
    codes = [r["code"] for r in regions]
    stats = Stats()
    stop = threading.Event()
    loaded = threading.Barrier(walls + 1)
    threads = []
    rng = random.Random(7)
    wall_codes = [rng.choice(codes) for _ in range(walls)]
    t_load = time.perf_counter()
    stats.recording = True  # page loads are recorded under their own kinds, reported apart
    for i in range(walls):
        c = Client(srv.port, stats, cb, stop)
        th = threading.Thread(target=wall_client, daemon=True,
                              args=(c, wall_codes[i], poll, loaded, rng.uniform(0, 5)))
        th.start()
        threads.append(th)
    try:
        loaded.wait(timeout=600)
    except threading.BrokenBarrierError:
        print("    (not every wall finished loading within 600 s)")
    load_secs = time.perf_counter() - t_load
    with stats.lock:
        load_rows, stats.rows = stats.rows, []
        load_errors, stats.errors = stats.errors, Counter()
    t0 = time.perf_counter()
    for _ in range(leaders):
        c = Client(srv.port, stats, cb, stop)
        th = threading.Thread(target=leader_client, daemon=True, args=(c, codes, (1.0, 3.0)))
        th.start()
        threads.append(th)
    refresh_info: dict[str, Any] = {}

    def do_refresh() -> None:
        time.sleep(refresh_at)
        refresh_info["start"] = time.perf_counter() - t0
        try:
            refresh_info["secs"] = run_refresh(url)
        except Exception as err:  # noqa: BLE001 - reported
            refresh_info["error"] = str(err)

    rt = threading.Thread(target=do_refresh, daemon=True)
    rt.start()
    time.sleep(duration)
    stats.recording = False
    stop.set()
    window = time.perf_counter() - t0
    with stats.lock:
        rows, errors = list(stats.rows), Counter(stats.errors)
    for th in threads:
        th.join(35)
    rt.join(600)
    switched = [t for t in stats.switched if t <= t0 + window]
    return {"rows": rows, "errors": errors, "window": window, "switched": switched,
            "load_rows": load_rows, "load_errors": load_errors, "load_secs": load_secs,
            "refresh": refresh_info, "regions": len(codes), "t0": t0}


def report_load(res: dict[str, Any], walls: int, leaders: int, poll: float,
                problems: list[str]) -> None:
    """Print RPS, p50/p95/p99 overall and per kind, and errors."""
    rows, window = res["rows"], res["window"]
    lat = [r[1] for r in rows if r[2]]
    n_err = sum(res["errors"].values())
    ref = res["refresh"]
    nan = float("nan")
    print(f"(b) gunicorn -w 2, {walls} walls (poll {poll:g} s) + {leaders} leaders, "
          f"{res['regions']} regions, measured {window:.1f} s; a refresh (batch change) started "
          f"at {ref.get('start', nan):.1f} s and took {ref.get('secs', nan):.1f} s"
          + (f" (ERROR {ref['error']})" if "error" in ref else ""))
    print(f"    {len(rows)} requests, {len(rows) / window:.1f} req/s; latency p50 "
          f"{pct(lat, 50) * 1000:.0f} ms, p95 {pct(lat, 95) * 1000:.0f} ms, p99 "
          f"{pct(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms; errors {n_err}"
          f"{' (must be 0)' if n_err else ''}")
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, elapsed, ok, _ in rows:
        if ok:
            by_kind[kind].append(elapsed)
    for kind in sorted(by_kind, key=lambda k: -len(by_kind[k])):
        v = by_kind[kind]
        print(f"      {kind:12s} {len(v):6d}  p50 {pct(v, 50) * 1000:7.0f} ms  p95 "
              f"{pct(v, 95) * 1000:7.0f} ms  p99 {pct(v, 99) * 1000:7.0f} ms")
    for why, n in res["errors"].most_common(8):
        print(f"      error: {why} ×{n}")
    # Before / after the batch change became visible to walls.
    if "start" in ref and "secs" in ref:
        t_vis = res["t0"] + ref["start"] + ref["secs"]
        state = [r[1] for r in rows if r[0] == "state" and r[2]]
        before = [r[1] for r in rows if r[0] == "state" and r[2] and r[3] < res["t0"] +
                  ref["start"]]
        sw = res["switched"]
        last = f", the last {max(sw) - t_vis:.1f} s after the refresh finished" if sw else ""
        print(f"    /_wall/state p95 before the refresh {pct(before, 95) * 1000:.0f} ms, over "
              f"the run {pct(state, 95) * 1000:.0f} ms; walls that re-fetched their panels for "
              f"the new batch within the window: {len(sw)} of {walls}{last}")
    lr = res["load_rows"]
    ll = [r[1] for r in lr if r[2]]
    print(f"    (before the window: {walls} walls loaded in {res['load_secs']:.1f} s, "
          f"{len(lr)} requests, p50 {pct(ll, 50) * 1000:.0f} ms, p95 {pct(ll, 95) * 1000:.0f} ms, "
          f"errors {sum(res['load_errors'].values())})")
    print(f"    server log problems: {len(problems)}")
    for ln in problems[:5]:
        print(f"      {ln[:240]}")


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """Run (c), (b) and (a) against a demo database and print the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0, help="demo scale (1 ≈ 50,000 persons)")
    p.add_argument("--walls", type=int, default=200)
    p.add_argument("--leaders", type=int, default=20)
    p.add_argument("--poll", type=float, default=5.0, help="walls' poll interval, seconds")
    p.add_argument("--duration", type=float, default=40.0, help="measured load window, s")
    p.add_argument("--refresh-at", type=float, default=2.0, help="batch change, s into window")
    p.add_argument("--pairs", type=int, default=400, help="interleaved pairs for (a)")
    p.add_argument("--skip", default="", help="parts to skip, e.g. 'c' or 'bc'")
    p.add_argument("--flat", nargs=2, metavar=("CITY_URL", "PROVINCE_URL"),
                   help="run only (d): the same requests at city and province scale")
    p.add_argument("--repeat", type=int, default=15, help="rounds for (d)")
    args = p.parse_args(argv)
    if args.flat:
        print(f"# bench/serve.py  {dt.datetime.now().isoformat(timespec='seconds')}  "
              f"{machine()}")
        flat(*args.flat, args.repeat)
        return 0

    print(f"# bench/serve.py  {dt.datetime.now().isoformat(timespec='seconds')}  {machine()}")
    url = ensure_db(args.scale)
    print(f"  database {url} (scale {args.scale:g})", flush=True)
    srv = Gunicorn(url, workers=2)
    try:
        _, deps_raw, hdrs = request("GET", srv.port, "/_dash-dependencies", headers=GET_HEADERS)
        cb = Callbacks(json.loads(decode(deps_raw, hdrs)))
        # The view store of a city wall, as the route callback returns it.
        _, html, _ = request("GET", srv.port, f"/wall/{CITY}")
        m = END_ID_RE.search(html.decode())
        end_id = m.group(1) if m else ""
        route_body = cb.body("page.children", {"url.pathname": f"/wall/{CITY}",
                                               "url.search": ""}, ["url.pathname", "url.search"])
        _, data, hdrs = request("POST", srv.port, f"/_dash-update-component?endId={end_id}",
                                route_body, JSON_HEADERS)
        view = json.loads(decode(data, hdrs))["response"]["view"]["data"]
        built = cb.body(panel_marker("overview"),
                        panel_values("overview", {"region": CITY, "panel": None}, None, view),
                        [want_input("overview")])
        body = built
        if "c" not in args.skip:
            cold = cold_load(srv.base)
            report_cold(cold)
            captured = cold["overview_body"]
            if captured is None:
                print("    (no overview callback body in the browser's log; using the built one)")
            else:
                same = json.loads(captured) == json.loads(built)
                print(f"    overview callback body captured from Chromium; equal to the body "
                      f"built from /_dash-dependencies: {'yes' if same else 'NO'}")
                body = captured
            sys.stdout.flush()
        if "b" not in args.skip:
            res = load_test(url, srv, cb, args.walls, args.leaders, args.duration, args.poll,
                            args.refresh_at)
            report_load(res, args.walls, args.leaders, args.poll, srv.problems())
            sys.stdout.flush()
    finally:
        srv.stop()
    if "a" not in args.skip:
        res_a = callback_vs_bare(url, body, args.pairs)
        report_latency(res_a, args.pairs)
        print(f"    per panel, city, in-process test client (median ms): "
              f"{panel_medians(url, cb, view)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
