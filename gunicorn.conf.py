"""Gunicorn settings picked up from the working directory (`gunicorn dashboard.wsgi:server`).

The access log uses the path without its query string, so a `?token=` never lands in logs;
every line (access and error) is one line with time, level and request id, scrubbed by
dashboard.logs. /metrics counts requests in every worker: PROMETHEUS_MULTIPROC_DIR (set by
deploy/systemd/dashboard-web@.service, else a folder under the system's temp directory,
one per bind address) holds the workers' counter files; it is emptied when the server
starts, and a dead worker's live gauges are dropped.
"""

import os
import shutil
import tempfile

bind = os.environ.get("DASHBOARD_BIND", "0.0.0.0:8050")
workers = int(os.environ.get("DASHBOARD_WORKERS", "4"))
# Threads keep the tiny /_wall/state polls from queueing behind a panel render.
worker_class = "gthread"
threads = 8
timeout = 60
# Behind nginx (deploy/nginx): let the proxy on this host set X-Forwarded-Proto.
forwarded_allow_ips = "127.0.0.1,::1"
# No control socket: its default path (~/.gunicorn/gunicorn.ctl) is shared by every server
# of one user on a host (deploy/ runs several), and nothing here uses gunicornc.
control_socket_disable = True
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss'

# Set before any worker imports prometheus_client (it picks its storage at import).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _tag = "".join(c if c.isalnum() else "_" for c in str(bind))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(
        tempfile.gettempdir(), f"dashboard-metrics-{os.getuid()}-{_tag}")

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub": {"()": "dashboard.logs.Scrub"}},
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(request_id)s %(name)s: "
                                      "%(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line",
                            "filters": ["scrub"], "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "alembic": {"level": "WARNING"},
        "werkzeug": {"level": "WARNING"},
    },
}


def on_starting(server):  # noqa: ANN001, ANN201
    """Start with an empty metrics folder: counters of an earlier run must not add up."""
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def child_exit(server, worker):  # noqa: ANN001, ANN201
    """A worker ended: drop its live gauges from the shared metrics files."""
    from dashboard.metrics import mark_worker_dead

    mark_worker_dead(worker.pid)
