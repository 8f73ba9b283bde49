"""Several hosts (SPEC 9, issue 15 item 1): two gunicorn servers and two schedulers started
from deploy/ (the systemd units' own command lines), sharing one PostgreSQL and one Redis.

- exactly one refresh per interval, whichever scheduler ticks first;
- both servers switch to each new batch together (the newest batch id is read at most every
  BATCH_TTL_SECONDS; snapshot entries are shared Redis keys, written once);
- a token revoked through one host is refused by both at once;
- a scheduler killed with SIGKILL: the other carries on within one interval;
- /metrics adds up the counters of every worker of a server (multiprocess mode);
- the servers' and schedulers' log output carries no token and no personal data.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from dashboard.cache import BATCH_TTL_SECONDS
from dashboard.tokens import issue
from queries.clock import utcnow
from queries.db import init_db, make_engine
from queries.models import RefreshRun
from tests import pii
from tests.test_metrics_handmade import load

ROOT = Path(__file__).resolve().parents[1]
INTERVAL = 4.0
SLACK = 2.5
SECRET = "multi-host-test-secret"
REGION = "340100000000"


def stack_module() -> Any:
    """deploy/stack.py, loaded by path (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location("deploy_stack", ROOT / "deploy" / "stack.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["deploy_stack"] = mod
    spec.loader.exec_module(mod)
    return mod


def get(url: str, token: str | None = None, headers: dict | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET; HTTP errors are answers too."""
    req = urllib.request.Request(url, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def served_batch(port: int, token: str) -> int | None:
    """The batch id a server answers the API from (its ETag is b<batch>-...)."""
    status, headers, _ = get(f"http://127.0.0.1:{port}/api/v1/regions/{REGION}/metrics", token)
    m = re.search(r"b(\d+)-", headers.get("ETag", ""))
    return int(m.group(1)) if status == 200 and m else None


def ok_runs(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(RefreshRun).where(RefreshRun.status == "ok")
                            .order_by(RefreshRun.id)).all()


def holder_pid(run: Any) -> int:
    return int(run.holder.split(":")[2])


def counter(text: str, name: str, **labels: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_two_servers_two_schedulers_one_database(pg_url: str, redis_url: str,
                                                  tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    init_db(engine)  # the release's migration step, before the services start
    load(engine)
    _lid, leader = issue(engine, SECRET, REGION, "leader")
    revoked_id, doomed = issue(engine, SECRET, REGION, "leader")
    st_mod = stack_module()
    ports = [st_mod.free_port(), st_mod.free_port()]
    stack = st_mod.Stack(
        tmp_path / "stack",
        {"DASHBOARD_DATABASE_URL": pg_url, "DASHBOARD_CACHE_URL": redis_url,
         "DASHBOARD_SECRET_KEY": SECRET, "DASHBOARD_AUTH": "on",
         "DASHBOARD_REFRESH_SECONDS": str(int(INTERVAL)), "DASHBOARD_PROXIES": "0"},
        ports, schedulers=2, nginx_port=None, workers=2)
    try:
        stack.start(timeout=90)
        _run(stack, engine, ports, leader, doomed, revoked_id)
    finally:
        stack.stop()
        engine.dispose()
    logs = stack.log_text()
    assert "Traceback" not in logs, logs[-3000:]
    for secret in (leader, doomed, SECRET):
        assert secret not in logs
    assert pii.scan_log_text(logs) == []
    # The request's id (given by nginx in production) is on the server's access line.
    assert re.search(r"^\S+ \S+ INFO multihost-probe-0001 gunicorn\.access: .*/healthz",
                     logs, re.M), logs[-2000:]


def _run(stack: Any, engine: Any, ports: list[int], leader: str, doomed: str,
         revoked_id: str) -> None:
    # ---- one refresh per interval, both servers on the same batch
    first_seen: dict[int, dict[int, float]] = {p: {} for p in ports}
    t_end = time.monotonic() + 4 * INTERVAL
    while time.monotonic() < t_end:
        for p in ports:
            b = served_batch(p, leader)
            if b is not None:
                first_seen[p].setdefault(b, time.monotonic())
        time.sleep(0.2)
    runs = ok_runs(engine)
    with engine.connect() as conn:
        failed = conn.execute(select(RefreshRun).where(RefreshRun.status == "failed")).all()
    assert failed == []
    assert len(runs) >= 4, [(r.id, r.started_at) for r in runs]
    starts = [r.started_at for r in runs]
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    # Two schedulers, yet one refresh per interval: never two within 80 % of an interval.
    # (The upper slack is for a loaded machine, where a tick can come a second or two late.)
    assert all(0.8 * INTERVAL - 0.3 <= g <= INTERVAL + SLACK for g in gaps), gaps
    common = set(first_seen[ports[0]]) & set(first_seen[ports[1]])
    assert len(common) >= 3, first_seen
    for b in common:
        lag = abs(first_seen[ports[0]][b] - first_seen[ports[1]][b])
        assert lag <= BATCH_TTL_SECONDS + 1.0, (b, lag)

    # ---- /metrics: the counters of both workers add up; the figures come from the database
    url = f"http://127.0.0.1:{ports[0]}/metrics"
    before = get(url)[2].decode()
    for _ in range(12):
        status, _h, _b = get(f"http://127.0.0.1:{ports[0]}/healthz",
                             headers={"X-Request-ID": "multihost-probe-0001"})
        assert status == 200
    after = get(url)[2].decode()
    name = "dashboard_http_requests_total"
    assert counter(after, name, route="/healthz", status="200") - counter(
        before, name, route="/healthz", status="200") == 12
    assert counter(after, "dashboard_snapshot_rows") == 9

    # ---- a token revoked through one host is refused by both at once
    assert [served_batch(p, doomed) is not None for p in ports] == [True, True]
    env = dict(st_env(stack))
    out = subprocess.run([sys.executable, "-m", "dashboard", "token", "revoke", revoked_id],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for p in ports:
        status, _h, _b = get(f"http://127.0.0.1:{p}/api/v1/regions/{REGION}/metrics", doomed)
        assert status == 401
        assert served_batch(p, leader) is not None  # the other token still works

    # ---- kill the scheduler that refreshes: the other one carries on within one interval
    pids = {stack.procs[n].pid: n for n in stack.procs if n.startswith("scheduler-")}
    last = ok_runs(engine)[-1]
    victim = pids[holder_pid(last)]
    killed_at = utcnow()
    stack.kill(victim)
    survivor_pid = next(pid for pid, n in pids.items() if n != victim)
    deadline = time.monotonic() + INTERVAL + 6
    taken: Any = None
    while time.monotonic() < deadline and taken is None:
        time.sleep(0.3)
        taken = next((r for r in ok_runs(engine) if r.started_at > killed_at), None)
    assert taken is not None, "no refresh after the kill"
    assert holder_pid(taken) == survivor_pid
    # Within one interval of the kill (plus a late tick's slack).
    assert (taken.started_at - killed_at).total_seconds() <= INTERVAL + SLACK

    # ---- quiet: stop the survivor, then the cache is shared between the servers
    stack.kill(next(n for n in pids.values() if n != victim))
    # A refresh may have published just before the kill, and each server keeps its view of
    # the newest batch for BATCH_TTL_SECONDS: wait until both see the same last batch, or
    # the second server would rightly write entries for a batch the first had not seen.
    time.sleep(BATCH_TTL_SECONDS + 0.5)
    import redis

    r = redis.Redis.from_url(env["DASHBOARD_CACHE_URL"])
    child = "340102000000"
    n0 = len(r.keys("dashboard:*"))
    assert get(f"http://127.0.0.1:{ports[0]}/api/v1/regions/{child}/metrics", leader)[0] == 200
    n1 = len(r.keys("dashboard:*"))
    assert get(f"http://127.0.0.1:{ports[1]}/api/v1/regions/{child}/metrics", leader)[0] == 200
    n2 = len(r.keys("dashboard:*"))
    assert n1 > n0 and n2 == n1, (n0, n1, n2)  # the second server found the first's entry
    batches = [counter(get(f"http://127.0.0.1:{p}/metrics")[2].decode(),
                       "dashboard_snapshot_batch_id") for p in ports]
    assert batches[0] == batches[1] == ok_runs(engine)[-1].id


def st_env(stack: Any) -> dict[str, str]:
    """The environment an operator's shell on one host has (the env file's values)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHBOARD_")}
    env.update(stack_module().read_env_file(stack.run_dir / "etc" / "dashboard.env"))
    return env
