"""GET /metrics (SPEC 9): Prometheus text format, multiprocess-safe under gunicorn.

Request count and latency are counted per process by a WSGI wrapper, labelled by the route
*template* (``/wall/<code>``, ``/api/v1/regions/<code>``), never the raw path, so the number
of series stays bounded whatever clients ask for. Under gunicorn set
``PROMETHEUS_MULTIPROC_DIR`` (deploy/ and gunicorn.conf.py do): every worker then writes its
counters to files there and a scrape of any worker adds them all up. Refresh, snapshot and
outbox figures are read from the shared database at scrape time (queries.ops), so every host
reports the same values whichever scheduler refreshed. Who may scrape is decided in
dashboard/access.py (addresses in DASHBOARD_METRICS_ALLOW, else a leader token).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from dashboard.routes import match_page
from dashboard.runtime import get_runtime
from queries import ops

PATH = "/metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger(__name__)

REQUESTS = Counter(
    "dashboard_http_requests", "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "dashboard_http_request_duration_seconds",
    "Time to produce a response, by route template",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
_PAGE_TEMPLATES = {"wall": "/wall/<code>", "region": "/region/<code>",
                   "embed": "/embed/<panel>/<code>", "report": "/report/<code>"}
_CATCH_ALL = ("/<path:path>", "/")


def multiprocess() -> bool:
    """Whether counters are shared between processes through PROMETHEUS_MULTIPROC_DIR."""
    return bool(os.environ.get(MULTIPROC_ENV))


def route_template(url_map: Map, path: str, method: str) -> str:
    """The route template a path is answered by; "other" when only Dash's catch-all is."""
    kind, _code, _panel = match_page(path)
    if kind != "unknown":
        return _PAGE_TEMPLATES[kind]
    try:
        rule, _args = url_map.bind("localhost").match(path, method=method, return_rule=True)
    except HTTPException:
        return "unmatched"
    except Exception:  # noqa: BLE001 - e.g. a redirect for a missing slash
        return "unmatched"
    text = rule.rule
    return "other" if text in _CATCH_ALL else text


class _Timed:
    """WSGI wrapper counting every response (also those refused before any view ran)."""

    def __init__(self, app: Callable, url_map: Map) -> None:
        self.app, self.url_map = app, url_map

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        status: list[str] = ["500"]

        def _start(code: str, headers: list, exc_info: Any = None) -> Callable:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info) if exc_info else \
                start_response(code, headers)

        try:
            return self.app(environ, _start)
        finally:
            method = environ.get("REQUEST_METHOD", "GET")
            route = route_template(self.url_map, environ.get("PATH_INFO", "/"), method)
            REQUESTS.labels(route, method if method in _METHODS else "other", status[0]).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)


_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


class _Forward:
    """The process's own metrics (single-process mode) inside a scrape's registry."""

    def collect(self) -> Iterator[Metric]:  # noqa: D102
        yield from REGISTRY.collect()


class _OpsCollector:
    """Refresh, snapshot and outbox gauges read from the database at scrape time."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:  # noqa: D102
        up = GaugeMetricFamily("dashboard_database_up",
                               "1 when the database answered this scrape")
        try:
            fig = ops.figures(self.engine)
        except Exception as err:  # noqa: BLE001 - a scrape must answer while the database is away
            log.warning("metrics: database unavailable: %s", type(err).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        gauges = (
            ("dashboard_snapshot_batch_id", "Id of the newest published snapshot batch",
             fig.batch_id),
            ("dashboard_snapshot_age_seconds",
             "Seconds since the newest snapshot batch was published", fig.batch_age_seconds),
            ("dashboard_snapshot_rows", "Regions (rows) in the newest snapshot batch",
             fig.batch_rows),
            ("dashboard_refresh_duration_seconds",
             "How long the refresh that made the newest batch took", fig.refresh_seconds),
            ("dashboard_refresh_last_failed", "1 when the last finished refresh failed",
             int(fig.last_run_failed)),
            ("dashboard_refresh_failed_runs", "Failed refreshes among the kept run records",
             fig.failed_runs),
            ("dashboard_outbox_pending", "Outbound events not yet delivered (SPEC 7)",
             fig.outbox_pending),
            ("dashboard_outbox_dead", "Outbound events parked as dead (SPEC 7)",
             fig.outbox_dead),
        )
        for name, doc, value in gauges:
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=float(value))


def scrape() -> bytes:
    """The exposition text: this process's (or all workers') counters and the DB gauges."""
    reg = CollectorRegistry(auto_describe=False)
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.MultiProcessCollector(reg)
    else:
        reg.register(_Forward())  # type: ignore[arg-type]
    reg.register(_OpsCollector(get_runtime().engine))  # type: ignore[arg-type]
    return generate_latest(reg)


def address_allowed(addr: str | None, allow: str) -> bool:
    """Whether a client address lies in the comma-separated list of addresses/networks."""
    if not addr:
        return False
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return False
    for item in (a.strip() for a in allow.split(",")):
        if not item:
            continue
        try:
            if ip in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            log.warning("DASHBOARD_METRICS_ALLOW: not an address or network: %r", item)
    return False


def register(server: Flask) -> None:
    """Add the /metrics route and count every request of this app."""

    def metrics_view() -> Response:
        resp = Response(scrape(), content_type=CONTENT_TYPE_LATEST)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    server.add_url_rule(PATH, endpoint="metrics", view_func=metrics_view, methods=["GET"])
    server.wsgi_app = _Timed(server.wsgi_app, server.url_map)  # type: ignore[method-assign]


def mark_worker_dead(pid: int) -> None:
    """Gunicorn child_exit hook: drop a dead worker's live gauges (multiprocess mode)."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(pid)


__all__ = ["PATH", "address_allowed", "mark_worker_dead", "register", "route_template",
           "scrape"]
