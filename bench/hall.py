"""Benchmark: a hall full of walls (issue 9 goal 4) from a lean asyncio load generator.

200 walls and 20 leaders against `gunicorn -w 2 -k gthread`, with a real refresh (a new
snapshot batch, `python -m dashboard refresh` in another process) during the measured window.
One process, one event loop, plain HTTP/1.1 on new connections (no threads, no client
library), so the generator takes little of the two cores it shares with the server.

Walls behave as assets/wall.js does (mode `one`, the default):
- load: page, `/_dash-layout`, `/_dash-dependencies`, the route callback, the header
  callback, the shown panel, then (first time round) the next panel once the first answered;
- rotate with `--dwell`, random phase; each panel is asked for shortly before its turn
  (4 s lead + up to 2 s spread) unless already held for the current batch;
- poll `/_wall/state` every `--poll` s; on a new batch re-ask the shown panel after a random
  0..min(dwell, 10) s; the other panels when their turn comes.
Mode `all` is the old behaviour for comparison: all six panels and the header at load and
again, at once, on every batch change.

Leaders: `/region/<code>?panel=<p>` page, its route, search-jump, six panels and chrome
callbacks, `/api/v1/regions/<code>/metrics`, 1–3 s think time.

Printed per mode: p50/p95/p99 of wall requests (target p95 < 100 ms) and of leaders', errors
(target 0), when each wall first showed the new batch after it was published (target:
every wall within one dwell), requests per second, the generator's CPU time, load average.

    python -m bench.hall                       # both modes, 200 walls + 20 leaders, scale 1
    python -m bench.hall --modes one --walls 50 --duration 40
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import resource
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from bench.serve import (
    BATCH_RE,
    END_ID_RE,
    GET_HEADERS,
    JSON_HEADERS,
    PANELS,
    Callbacks,
    Gunicorn,
    decode,
    ensure_db,
    machine,
    panel_marker,
    panel_values,
    pct,
    region_codes,
    run_refresh,
    want_input,
)

WALL_KINDS = ("wall-state", "wall-panel", "wall-head")
LEAD, SPREAD = 4.0, 2.0  # wall.js planPrefetch: min(dwell/2, 4 s) ahead, + up to 2 s


class Hall:
    """Shared state of one run: the server, recorded requests, walls' batch switches."""

    def __init__(self, port: int, cb: Callbacks, rng: random.Random) -> None:
        self.port, self.cb, self.rng = port, cb, rng
        self.rows: list[tuple[str, float, bool, float]] = []  # kind, seconds, ok, start
        self.errors: Counter[str] = Counter()
        self.on_new: dict[int, float] = {}  # wall → when it first had a new-batch panel
        self.stop = asyncio.Event()
        self.published: float | None = None  # when the new batch became visible
        self.old_batch: str | None = None
        self.n_walls = 0

    async def request(self, kind: str, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> bytes | None:
        """One request on a new connection; recorded; the decoded body when 200/204."""
        t0 = time.perf_counter()
        try:
            data, status, hdrs = await asyncio.wait_for(
                http(self.port, method, path, body, headers or GET_HEADERS), 30)
        except Exception as err:  # noqa: BLE001 - counted as an error
            self.rows.append((kind, time.perf_counter() - t0, False, t0))
            self.errors[f"{kind}: {type(err).__name__}"] += 1
            return None
        elapsed = time.perf_counter() - t0
        ok = status in (200, 204)
        self.rows.append((kind, elapsed, ok, t0))
        if not ok:
            self.errors[f"{kind}: HTTP {status}"] += 1
            return None
        return decode(data, hdrs)

    async def callback(self, kind: str, marker: str, values: dict[str, Any], changed: list[str],
                       end_id: str) -> Any:
        """POST one Dash callback as the renderer would."""
        data = await self.request(kind, "POST", f"/_dash-update-component?endId={end_id}",
                                  self.cb.body(marker, values, changed), JSON_HEADERS)
        return json.loads(data) if data else None

    async def load_page(self, kind: str, path: str) -> str:
        """The page and Dash's layout and dependencies; the renderer's endId."""
        html = await self.request(kind, "GET", path)
        await self.request("dash-layout", "GET", "/_dash-layout")
        await self.request("dash-deps", "GET", "/_dash-dependencies")
        m = END_ID_RE.search((html or b"").decode())
        return m.group(1) if m else ""

    async def route(self, end_id: str, pathname: str, search: str) -> tuple[Any, Any, str]:
        """The route callback: view, target and the page's batch."""
        resp = await self.callback("cb-route", "page.children",
                                   {"url.pathname": pathname, "url.search": search},
                                   ["url.pathname", "url.search"], end_id)
        if not resp:
            return None, None, ""
        r = resp["response"]
        m = BATCH_RE.search(json.dumps(r["page"]["children"], ensure_ascii=False,
                                          separators=(",", ":")))
        return r["view"]["data"], r["target"]["data"], (m.group(1) if m else "")


async def http(port: int, method: str, path: str, body: bytes | None,
               headers: dict[str, str]) -> tuple[bytes, int, dict[str, str]]:
    """Minimal HTTP/1.1 client: one request, `Connection: close`, read to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    header_blob, _, payload = raw.partition(b"\r\n\r\n")
    lines = header_blob.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, v in
            (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
    if hdrs.get("transfer-encoding") == "chunked":
        payload = dechunk(payload)
    return payload, status, hdrs


def dechunk(data: bytes) -> bytes:
    """Undo chunked transfer encoding."""
    out, i = bytearray(), 0
    while True:
        j = data.index(b"\r\n", i)
        size = int(data[i:j].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[j + 2:j + 2 + size]
        i = j + 2 + size + 2


async def sleep_or_stop(hall: Hall, seconds: float) -> bool:
    """Sleep; True when the run was stopped meanwhile."""
    try:
        await asyncio.wait_for(hall.stop.wait(), max(0.0, seconds))
        return True
    except TimeoutError:
        return False


async def wall(hall: Hall, n: int, code: str, mode: str, dwell: float, poll: float,
               jitter: float, start_delay: float, loaded: asyncio.Event,
               ready: list[int]) -> None:
    """One wall: load, rotate, poll, fetch panels as `mode` says."""
    rng = random.Random(n)
    await asyncio.sleep(start_delay)
    search = f"?poll={poll:g}&dwell={dwell:g}"
    end_id = await hall.load_page("page-wall", f"/wall/{code}{search}")
    view, target, batch = await hall.route(end_id, f"/wall/{code}", search)
    held: dict[str, str] = {}  # panel → the batch it was last asked for
    pending: set[asyncio.Task] = set()

    async def ask(pid: str, b: str) -> None:
        resp = await hall.callback("wall-panel", panel_marker(pid),
                                   panel_values(pid, target, b, view), [want_input(pid)], end_id)
        if resp is not None and hall.old_batch is not None and b != hall.old_batch \
                and n not in hall.on_new:
            hall.on_new[n] = time.perf_counter()

    def start(pid: str) -> None:
        held[pid] = batch  # at once: the next tick must not ask again
        pending.add(asyncio.create_task(ask(pid, batch)))

    t_start = time.perf_counter() - rng.uniform(0, dwell * len(PANELS))  # random phase

    def step_at(now: float) -> int:
        return int((now - t_start) // dwell)

    await hall.callback("wall-head", "hdr-name.children",
                        {"target.data": target, "view.data": view}, ["target.data"], end_id)
    k = step_at(time.perf_counter())
    first = [PANELS[k % len(PANELS)], PANELS[(k + 1) % len(PANELS)]]
    for pid in (PANELS if mode == "all" else first):  # one, then the next once it answered
        held[pid] = batch
        await ask(pid, batch)
    ready.append(n)
    if len(ready) >= hall.n_walls:
        loaded.set()
    next_poll = time.perf_counter() + rng.uniform(0, poll)
    refetch_at: float | None = None
    last_k = k
    prefetch_at = t_start + (k + 1) * dwell - LEAD - rng.uniform(0, SPREAD)
    while not hall.stop.is_set():
        now = time.perf_counter()
        k = step_at(now)
        shown, nxt = PANELS[k % len(PANELS)], PANELS[(k + 1) % len(PANELS)]
        if mode == "one":
            if k != last_k:
                last_k = k
                prefetch_at = t_start + (k + 1) * dwell - LEAD - rng.uniform(0, SPREAD)
                if held.get(shown) != batch:  # its turn, and not fetched for this batch
                    start(shown)
            if refetch_at is not None and now >= refetch_at:
                refetch_at = None
                if held.get(shown) != batch:
                    start(shown)
            if now >= prefetch_at and held.get(nxt) != batch:
                start(nxt)
        if now >= next_poll:
            next_poll = now + poll + rng.uniform(0, 0.25)
            data = await hall.request("wall-state", "GET", "/_wall/state",
                                      headers={"Cache-Control": "no-store", **GET_HEADERS})
            js = json.loads(data) if data else {}
            if js.get("batch") is not None and str(js["batch"]) != batch:
                batch = str(js["batch"])
                if mode == "all":
                    for pid in PANELS:
                        start(pid)
                    pending.add(asyncio.create_task(hall.callback(
                        "wall-head", "hdr-name.children",
                        {"target.data": target, "view.data": view, "batch.data": batch},
                        ["batch.data"], end_id)))
                else:  # the shown panel after a random delay, the others at their turn
                    refetch_at = time.perf_counter() + rng.uniform(0, min(dwell, jitter))
        pending = {t for t in pending if not t.done()}
        if await sleep_or_stop(hall, 0.25):  # wall.js ticks every 250 ms
            break
    for t in pending:
        t.cancel()


async def leader(hall: Hall, codes: list[str], seed: int) -> None:
    """A leader drilling through random regions and panels (as bench/serve.py's leaders)."""
    rng = random.Random(10_000 + seed)
    while not hall.stop.is_set():
        code, panel = rng.choice(codes), rng.choice(PANELS)
        search = f"?panel={panel}"
        end_id = await hall.load_page("page-region", f"/region/{code}{search}")
        view, target, batch = await hall.route(end_id, f"/region/{code}", search)
        await hall.callback("cb-jump", "url.search", {"target.data": target, "view.data": view},
                            ["search.value"], end_id)
        await asyncio.gather(*(hall.callback(
            "lead-panel", panel_marker(pid), panel_values(pid, target, None, view),
            [want_input(pid)], end_id) for pid in PANELS))
        await hall.callback("cb-chrome", "crumbs.children",
                            {"target.data": target, "view.data": view}, ["target.data"], end_id)
        await hall.request("api-metrics", "GET", f"/api/v1/regions/{code}/metrics")
        if await sleep_or_stop(hall, rng.uniform(1.0, 3.0)):
            break


async def run(url: str, port: int, cb: Callbacks, mode: str, args: argparse.Namespace
              ) -> dict[str, Any]:
    """Load the walls, then measure `duration` s with leaders and one refresh."""
    rng = random.Random(7)
    hall = Hall(port, cb, rng)
    hall.n_walls = args.walls
    regions = region_codes(url)
    codes = [r["code"] for r in regions]
    wall_codes = [rng.choice(codes) for _ in range(args.walls)]
    loaded, ready = asyncio.Event(), []
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t_load = time.perf_counter()
    tasks = [asyncio.create_task(wall(hall, i, wall_codes[i], mode, args.dwell, args.poll,
                                      args.jitter, rng.uniform(0, 10), loaded, ready))
             for i in range(args.walls)]
    try:
        await asyncio.wait_for(loaded.wait(), 600)
    except TimeoutError:
        print(f"    (only {len(ready)} of {args.walls} walls loaded within 600 s)")
    load_secs = time.perf_counter() - t_load
    load_rows, load_errors = hall.rows, hall.errors
    hall.rows, hall.errors = [], Counter()
    await asyncio.sleep(3)  # let the first prefetches settle before measuring
    hall.rows, hall.errors = [], Counter()
    t0 = time.perf_counter()
    la0 = os.getloadavg()
    tasks += [asyncio.create_task(leader(hall, codes, i)) for i in range(args.leaders)]
    state = json.loads((await http(port, "GET", "/_wall/state", None, {}))[0])
    hall.old_batch = str(state["batch"])
    refresh: dict[str, Any] = {}

    def do_refresh() -> None:
        time.sleep(args.refresh_at)
        refresh["start"] = time.perf_counter() - t0
        try:
            refresh["secs"] = run_refresh(url)
        except Exception as err:  # noqa: BLE001 - reported
            refresh["error"] = str(err)
        refresh["end"] = time.perf_counter()

    th = threading.Thread(target=do_refresh, daemon=True)
    th.start()
    await asyncio.sleep(args.duration)
    hall.stop.set()
    window = time.perf_counter() - t0
    rows, errors = list(hall.rows), Counter(hall.errors)
    la1 = os.getloadavg()
    await asyncio.gather(*tasks, return_exceptions=True)
    th.join(900)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"rows": [r for r in rows if r[3] <= t0 + window], "errors": errors,
            "window": window, "load_rows": load_rows, "load_errors": load_errors,
            "load_secs": load_secs, "refresh": refresh, "on_new": dict(hall.on_new),
            "cpu": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
            "loadavg": (la0, la1), "regions": len(codes)}


def summary(res: dict[str, Any], walls: int, dwell: float) -> dict[str, Any]:
    """Figures of one mode."""
    rows = res["rows"]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, secs, ok, _ in rows:
        if ok:
            by_kind[kind].append(secs * 1000)
    wall_ms = [v for k in WALL_KINDS for v in by_kind.get(k, [])]
    lead_ms = [v for k, vs in by_kind.items() if k not in WALL_KINDS for v in vs]
    ref = res["refresh"]
    published = ref.get("end")
    lags = sorted(t - published for t in res["on_new"].values()) if published else []
    return {"wall": wall_ms, "lead": lead_ms, "by_kind": by_kind, "lags": lags,
            "errors": sum(res["errors"].values()), "walls": walls, "dwell": dwell,
            "rps": len(rows) / res["window"]}


def fmt(v: list[float], q: float) -> str:
    """A percentile in ms, or '—'."""
    return f"{pct(v, q):,.0f}" if v else "—"


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    """Side by side: the modes' figures, one row each."""
    modes = list(results)
    sums = {m: summary(results[m], args.walls, args.dwell) for m in modes}
    width = 26

    def row(label: str, cells: list[str]) -> None:
        print(f"  {label:44s}" + "".join(f"{c:>{width}s}" for c in cells))

    row("mode", [f"{m} ({'one panel, jitter' if m == 'one' else 'all panels at once'})"[:width]
                 for m in modes])
    row("wall requests in window", [f"{len(sums[m]['wall']):,}" for m in modes])
    row("wall requests p50 / p95 / p99 ms", [
        f"{fmt(sums[m]['wall'], 50)} / {fmt(sums[m]['wall'], 95)} / {fmt(sums[m]['wall'], 99)}"
        for m in modes])
    for kind in ("wall-state", "wall-panel", "wall-head"):
        row(f"  {kind}: n, p95 ms", [
            f"{len(sums[m]['by_kind'].get(kind, []))}, {fmt(sums[m]['by_kind'].get(kind, []), 95)}"
            for m in modes])
    row("leader requests: n, p50 / p95 ms", [
        f"{len(sums[m]['lead'])}, {fmt(sums[m]['lead'], 50)} / {fmt(sums[m]['lead'], 95)}"
        for m in modes])
    row("requests per second", [f"{sums[m]['rps']:.1f}" for m in modes])
    row("errors (target 0)", [str(sums[m]["errors"]) for m in modes])
    row("refresh: started at / took s", [
        f"{results[m]['refresh'].get('start', float('nan')):.1f} / "
        f"{results[m]['refresh'].get('secs', float('nan')):.1f}" for m in modes])
    row(f"walls on the new batch (of {args.walls})", [str(len(sums[m]["lags"])) for m in modes])
    row("  after publish: median / max s", [
        (f"{statistics.median(sums[m]['lags']):.1f} / {max(sums[m]['lags']):.1f}"
         if sums[m]["lags"] else "—") for m in modes])
    row(f"  within one dwell ({args.dwell:g} s)", [
        str(sum(1 for x in sums[m]["lags"] if x <= args.dwell)) for m in modes])
    row("walls loaded in s (requests, errors)", [
        f"{results[m]['load_secs']:.0f} ({len(results[m]['load_rows'])}, "
        f"{sum(results[m]['load_errors'].values())})" for m in modes])
    row("load generator CPU s (whole run)", [f"{results[m]['cpu']:.1f}" for m in modes])
    row("load average at start / end of window", [
        f"{results[m]['loadavg'][0][0]:.1f} / {results[m]['loadavg'][1][0]:.1f}"
        for m in modes])
    row("server log problems", [str(results[m]["problems"]) for m in modes])
    for m in modes:
        for why, n in results[m]["errors"].most_common(5):
            print(f"    {m}: error {why} ×{n}")
        for why, n in results[m]["load_errors"].most_common(5):
            print(f"    {m}: error while loading {why} ×{n}")


def main(argv: list[str] | None = None) -> int:
    """Run the modes one after another on fresh servers and print them side by side."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--walls", type=int, default=200)
    ap.add_argument("--leaders", type=int, default=20)
    ap.add_argument("--dwell", type=float, default=20.0)
    ap.add_argument("--poll", type=float, default=5.0)
    ap.add_argument("--jitter", type=float, default=10.0, help="wall.js jitter cap, s")
    ap.add_argument("--duration", type=float, default=60.0, help="measured window, s")
    ap.add_argument("--refresh-at", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=8, help="gunicorn gthread threads")
    ap.add_argument("--modes", default="one,all")
    args = ap.parse_args(argv)
    print(f"# bench/hall.py  {dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S} UTC  {machine()}")
    url = ensure_db(args.scale)
    print(f"  {url}; {args.walls} walls (dwell {args.dwell:g} s, poll {args.poll:g} s) + "
          f"{args.leaders} leaders; gunicorn -w 2 -k gthread --threads {args.threads}; "
          f"window {args.duration:g} s, refresh {args.refresh_at:g} s in", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for mode in args.modes.split(","):
        srv = Gunicorn(url, workers=2, extra=("-k", "gthread", "--threads", str(args.threads)))
        try:
            deps, status, hdrs = asyncio.run(http(srv.port, "GET", "/_dash-dependencies", None,
                                                  GET_HEADERS))
            cb = Callbacks(json.loads(decode(deps, hdrs)))
            results[mode] = asyncio.run(run(url, srv.port, cb, mode, args))
        finally:
            srv.stop()
        results[mode]["problems"] = len(srv.problems())
        print(f"  mode {mode} done", flush=True)
    report(results, args)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
