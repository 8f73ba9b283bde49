"""Access control over real HTTP: tokens, roles, scope, panels, suppression, headers, audit."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from dashboard import cache as dash_cache
from dashboard.app import create_app
from dashboard.tokens import issue
from demo.generator import load_demo
from queries import tokens_store
from queries.db import init_db, make_engine
from queries.refresh import refresh
from queries.snapshots import latest_batch, region_with_children
from tests.httpserver import Served, callback_body

TZ = "Asia/Shanghai"
SECRET = "test-secret-key-for-access"
CITY = "340100000000"
SHUSHAN = "340104000000"  # 蜀山区
YAOHAI = "340102000000"  # 瑶海区 (a sibling of 蜀山区)
TODAY = dt.date(2026, 4, 30)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A small demo database with one snapshot, served with DASHBOARD_AUTH=on."""
    url = f"sqlite:///{tmp_path_factory.mktemp('access') / 'a.db'}"
    engine = make_engine(url)
    init_db(engine)
    load_demo(engine, scale=0.03, seed=5, today=TODAY, tz=TZ)
    assert refresh(engine, as_of=dt.datetime(2026, 4, 30, 20, tzinfo=ZoneInfo(TZ)),
                   tz=TZ).status == "ok"
    app = create_app({"database_url": url, "auth": True, "secret_key": SECRET,
                      "small_cell": 3, "frame_ancestors": "https://portal.example.gov.cn"})
    served = Served(app.server)
    deps = requests.get(f"{served.base}/_dash-dependencies", timeout=30).json()
    yield {"url": url, "engine": engine, "base": served.base, "deps": deps, "app": app}
    served.stop()
    engine.dispose()


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dash_cache, "BATCH_TTL_SECONDS", 0.0)


def tok(site: dict, region: str, role: str, panels: list[str] | None = None,
        days: float | None = 30) -> str:
    """A fresh signed token."""
    return issue(site["engine"], SECRET, region, role, panels, days)[1]


def get(site: dict, path: str, token: str | None = None, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(site["base"] + path, headers=headers, timeout=60,
                        allow_redirects=False, **kw)


def post_callback(site: dict, marker: str, region: str, panel: str, kind: str,
                  token: str | None = None, cookies: dict | None = None,
                  view_extra: dict | None = None) -> requests.Response:
    batch = latest_batch(site["engine"])
    view = {"kind": kind, "lang": "zh", "theme": "dark", **(view_extra or {})}
    body = callback_body(site["deps"], marker,
                         {"target": {"region": region, "panel": panel}, "batch": batch.id},
                         {"view": view})
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(site["base"] + "/_dash-update-component", json=body, headers=headers,
                         cookies=cookies, timeout=60)


# ------------------------------------------------------------------ 401: bad tokens
def test_missing_forged_expired_revoked_tokens_are_401(site: dict) -> None:
    good = tok(site, CITY, "leader")
    path = f"/api/v1/regions/{CITY}/metrics"
    assert get(site, path, good).status_code == 200
    assert get(site, path).status_code == 401
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    r = get(site, path, forged)
    assert r.status_code == 401 and "error" in r.json()
    # A token signed with another secret, carrying a real id, is forged too.
    from itsdangerous import URLSafeSerializer
    payload = URLSafeSerializer(SECRET, salt="dashboard-access-token-v1").loads(good)
    other = URLSafeSerializer("another-secret", salt="dashboard-access-token-v1").dumps(payload)
    assert get(site, path, other).status_code == 401
    expired = tok(site, CITY, "leader", days=-1)
    r = get(site, path, expired)
    assert r.status_code == 401 and "expired" in r.json()["error"]
    tid, revoked = issue(site["engine"], SECRET, CITY, "leader", None, 30)
    assert get(site, path, revoked).status_code == 200
    tokens_store.revoke_token(site["engine"], tid)
    r = get(site, path, revoked)
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    for page in (f"/wall/{CITY}", f"/region/{CITY}", f"/embed/overview/{CITY}"):
        r = get(site, page)
        assert r.status_code == 401 and r.headers["Content-Type"].startswith("application/json")


# ------------------------------------------------------------------ 403: role, scope, panel
def test_roles_allow_only_their_routes(site: dict) -> None:
    wall, embed = tok(site, CITY, "wall"), tok(site, CITY, "embed")
    leader, exchange = tok(site, CITY, "leader"), tok(site, CITY, "exchange")
    assert get(site, f"/wall/{CITY}", wall).status_code == 200
    assert get(site, f"/wall/{CITY}", leader).status_code == 200
    assert get(site, f"/wall/{CITY}", embed).status_code == 403
    assert get(site, f"/region/{CITY}", wall).status_code == 403
    assert get(site, f"/region/{CITY}", leader).status_code == 200
    assert get(site, f"/embed/overview/{CITY}", embed).status_code == 200
    assert get(site, f"/embed/overview/{CITY}", wall).status_code == 403
    assert get(site, f"/api/v1/regions/{CITY}", wall).status_code == 403
    assert get(site, f"/api/v1/regions/{CITY}", exchange).status_code == 200
    assert post_callback(site, "overview-c-kpis", CITY, "overview", "wall",
                         token=exchange).status_code == 403


def test_region_outside_scope_is_403_on_pages_api_and_callbacks(site: dict) -> None:
    leader = tok(site, SHUSHAN, "leader")
    assert get(site, f"/region/{SHUSHAN}", leader).status_code == 200
    assert get(site, f"/region/{YAOHAI}", leader).status_code == 403  # sideways
    assert get(site, f"/region/{CITY}", leader).status_code == 403  # up
    assert get(site, f"/api/v1/regions/{SHUSHAN}/metrics", leader).status_code == 200
    r = get(site, f"/api/v1/regions/{CITY}/metrics", leader)
    assert r.status_code == 403 and r.json()["error"]
    # Drill down inside the district works.
    region, children = region_with_children(site["engine"], latest_batch(site["engine"]).id,
                                            SHUSHAN)
    inside = children[0]["code"]
    assert get(site, f"/region/{inside}", leader).status_code == 200
    # A hand-made callback POST asking for a region outside the scope.
    ok = post_callback(site, "overview-c-kpis", SHUSHAN, "overview", "region", token=leader)
    assert ok.status_code == 200
    bad = post_callback(site, "overview-c-kpis", CITY, "overview", "region", token=leader)
    assert bad.status_code == 403 and "error" in bad.json()
    # The search callback cannot jump outside either.
    body = callback_body(site["deps"], "url.pathname", {"search": YAOHAI},
                         {"target": {"region": SHUSHAN, "panel": "overview"},
                          "view": {"kind": "region", "lang": "zh"}})
    r = requests.post(site["base"] + "/_dash-update-component", json=body,
                      headers={"Authorization": f"Bearer {leader}"}, timeout=60)
    assert r.status_code == 403
    # Search results only list regions in scope.
    found = get(site, "/api/v1/regions?q=街道&limit=200", leader).json()["results"]
    assert found and all(x["code"].startswith("340104") for x in found)


def test_panel_outside_token_list_is_403(site: dict) -> None:
    embed = tok(site, CITY, "embed", panels=["overview"])
    assert get(site, f"/embed/overview/{CITY}", embed).status_code == 200
    assert get(site, f"/embed/vacancies/{CITY}", embed).status_code == 403
    assert post_callback(site, "overview-c-kpis", CITY, "overview", "embed",
                         token=embed).status_code == 200
    assert post_callback(site, "vacancies-c-kpis", CITY, "vacancies", "embed",
                         token=embed).status_code == 403


# ------------------------------------------------------------------ suppression
def decoded(resp: requests.Response) -> str:
    """The response JSON re-encoded without escapes."""
    return json.dumps(resp.json(), ensure_ascii=False)


def _small_community(site: dict) -> tuple[str, dict[str, Any]]:
    """A community with several key-group counts of 1 or 2 (expected: shown as <3)."""
    engine = site["engine"]
    batch = latest_batch(engine).id
    best = None
    for county in region_with_children(engine, batch, CITY)[1]:
        for town in region_with_children(engine, batch, county["code"])[1]:
            for comm in region_with_children(engine, batch, town["code"])[1]:
                m = comm["metrics"]
                small = [k for k, v in m.items() if k.startswith("key_groups.")
                         and k.endswith(".registered") and v in (1, 2)]
                if len(small) >= 2:
                    return comm["code"], m
                best = best or (comm["code"], m) if small else best
    assert best is not None, "demo data has no small counts"
    return best


def test_small_counts_are_suppressed_in_callback_responses(site: dict) -> None:
    code, metrics = _small_community(site)
    wall = tok(site, CITY, "wall")
    leader = tok(site, CITY, "leader")
    public = post_callback(site, "key_groups-c-table", code, "key_groups", "wall", token=wall)
    exact = post_callback(site, "key_groups-c-table", code, "key_groups", "wall", token=leader)
    assert public.status_code == exact.status_code == 200
    # Decode first: the JSON encoder may escape "<" as \u003c.
    assert "<3" in decoded(public)
    assert "<3" not in decoded(exact)
    # The exact small values are in the leader's response and nowhere in the public one:
    # every registered count of 1 or 2 appears as a table cell for the leader only.
    pub = json.loads(public.text)
    ex = json.loads(exact.text)
    pub_cells = json.dumps(pub["response"]["key_groups-c-table"], ensure_ascii=False)
    ex_cells = json.dumps(ex["response"]["key_groups-c-table"], ensure_ascii=False)
    assert pub_cells.count("<3") >= sum(
        1 for k, v in metrics.items() if k.endswith(".registered") and v in (1, 2))
    assert pub_cells != ex_cells
    # With auth on, the view kind a client claims cannot lift suppression for a wall token.
    claimed = post_callback(site, "key_groups-c-table", code, "key_groups", "region",
                            token=wall)
    assert claimed.status_code == 200 and "<3" in decoded(claimed)
    # The API shows exact values.
    api = get(site, f"/api/v1/regions/{code}/metrics", leader).json()["metrics"]
    assert api == {k: api[k] for k in metrics} and all(
        api[k] == v for k, v in metrics.items())


# ------------------------------------------------------------------ cookie, headers, logs
def test_wall_token_becomes_httponly_cookie_and_survives_restart(site: dict, caplog) -> None:  # noqa: ANN001
    wall = tok(site, CITY, "wall")
    caplog.set_level(logging.INFO, logger="werkzeug")
    r = requests.get(f"{site['base']}/wall/{CITY}?dwell=5&token={wall}", timeout=60,
                     allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].endswith(f"/wall/{CITY}?dwell=5")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    jar = {"dashboard_token": r.cookies["dashboard_token"]}
    assert requests.get(f"{site['base']}/wall/{CITY}?dwell=5", cookies=jar,
                        timeout=60).status_code == 200
    assert post_callback(site, "overview-c-kpis", CITY, "overview", "wall",
                         cookies=jar).status_code == 200
    # A restarted server with the same secret and database accepts the same cookie.
    app2 = create_app({"database_url": site["url"], "auth": True, "secret_key": SECRET})
    second = Served(app2.server)
    try:
        assert requests.get(f"{second.base}/wall/{CITY}", cookies=jar,
                            timeout=60).status_code == 200
    finally:
        second.stop()
    assert wall not in caplog.text  # the request line is logged with token=***


def test_security_headers(site: dict) -> None:
    leader = tok(site, CITY, "leader")
    embed = tok(site, CITY, "embed")
    e = get(site, f"/embed/overview/{CITY}", embed)
    assert e.headers["Content-Security-Policy"] == \
        "frame-ancestors https://portal.example.gov.cn"
    assert "X-Frame-Options" not in e.headers
    for path in (f"/region/{CITY}", f"/api/v1/regions/{CITY}", "/healthz"):
        r = get(site, path, leader)
        assert r.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"


def test_audit_records_last_use(site: dict) -> None:
    tid, leader = issue(site["engine"], SECRET, SHUSHAN, "leader", None, 30)
    assert get(site, f"/api/v1/regions/{SHUSHAN}/metrics", leader).status_code == 200
    row = tokens_store.get_token(site["engine"], tid)
    assert row.last_used_at is not None and row.uses == 1
    assert row.last_route == f"/api/v1/regions/{SHUSHAN}/metrics"
    assert row.last_region == SHUSHAN


def test_token_cli_issue_list_revoke(site: dict) -> None:
    env = {**os.environ, "DASHBOARD_DATABASE_URL": site["url"], "DASHBOARD_SECRET_KEY": SECRET,
           "DASHBOARD_AUTH": "on"}
    run = [sys.executable, "-m", "dashboard", "token"]
    out = subprocess.run(run + ["issue", "--region", SHUSHAN, "--role", "wall", "--panels",
                                "overview,circle", "--expires", "7"],
                         env=env, capture_output=True, text=True, check=True).stdout
    token = out.strip().splitlines()[-1]
    assert get(site, f"/wall/{SHUSHAN}", token).status_code == 200
    tid = out.split("id=")[1].split()[0]
    listed = subprocess.run(run + ["list"], env=env, capture_output=True, text=True,
                            check=True).stdout
    assert tid in listed and "overview,circle" in listed
    subprocess.run(run + ["revoke", tid], env=env, check=True, capture_output=True)
    assert get(site, f"/wall/{SHUSHAN}", token).status_code == 401


# ------------------------------------------------------------------ malformed input
MALFORMED_PATHS = [
    "/wall/340100000000'%20OR%201=1--", "/region/..%2F..%2Fetc%2Fpasswd", "/wall/" + "9" * 5000,
    "/embed/../../etc/passwd/340100000000", "/api/v1/regions/340100000000;DROP%20TABLE%20x",
    "/api/v1/regions/%FF%FE/metrics", "/api/v1/regions?q=%FF%FE", "/api/v1/regions?limit=-1",
    "/api/v1/regions?limit=abc", "/embed/overview/340100000000?theme=%00%FF&lang=%FF",
]


@pytest.mark.parametrize("path", MALFORMED_PATHS)
def test_malformed_paths_are_4xx_not_500(site: dict, path: str) -> None:
    leader = tok(site, CITY, "leader")
    r = requests.get(site["base"] + path, headers={"Authorization": f"Bearer {leader}"},
                     timeout=60, allow_redirects=False)
    assert r.status_code < 500
    assert "Traceback" not in r.text


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe\x00", b"[]", b'{"output": 5}', b'{"inputs": "x"}',
    json.dumps({"output": "..a.b..", "inputs": [{"id": "target", "property": "data",
                                                  "value": "340100000000"}]}).encode(),
    json.dumps({"output": "..a.b..", "inputs": [{"id": "target", "property": "data",
                                                  "value": {"region": 5}}]}).encode(),
    json.dumps({"output": "..a.b..", "inputs": [{"id": "batch", "property": "data",
                                                  "value": [1, 2]}]}).encode(),
])
def test_malformed_callback_bodies_are_400(site: dict, body: bytes) -> None:
    leader = tok(site, CITY, "leader")
    r = requests.post(site["base"] + "/_dash-update-component", data=body, timeout=60,
                      headers={"Authorization": f"Bearer {leader}",
                               "Content-Type": "application/json"})
    assert r.status_code == 400, r.text[:200]
    assert "error" in r.json()


# ------------------------------------------------------------------ exchange endpoint
def test_exchange_post_imports_in_scope_and_rejects_the_rest(site: dict) -> None:
    exchange = tok(site, SHUSHAN, "exchange")
    leader = tok(site, SHUSHAN, "leader")
    batch = latest_batch(site["engine"]).id
    town = region_with_children(site["engine"], batch, SHUSHAN)[1][0]["code"]
    community = region_with_children(site["engine"], batch, town)[1][0]["code"]
    outside = region_with_children(site["engine"], batch, YAOHAI)[1][0]["code"]
    outside_comm = region_with_children(site["engine"], batch, outside)[1][0]["code"]
    records = [
        {"household_id": "X-H-1", "community_code": community},
        {"household_id": "X-H-2", "community_code": outside_comm},  # outside the scope
        {"household_id": "X-H-3", "community_code": community,
         "zero_cleared_on": "2026-01-01"},  # cleared without being identified
        {"household_id": "X-H-4", "community_code": community,
         "zero_identified_on": "2026-04-01"},
    ]
    url = f"{site['base']}/api/v1/exchange/households"
    r = requests.post(url, json=records, headers={"Authorization": f"Bearer {exchange}"},
                      timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["imported"] == 2
    assert [x["index"] for x in body["rejected"]] == [1, 2]
    assert "scope" in body["rejected"][0]["reason"]
    assert "zero_cleared_on" in body["rejected"][1]["reason"]
    # Wrong role, no token, bad body, unknown kind.
    assert requests.post(url, json=records, timeout=60,
                         headers={"Authorization": f"Bearer {leader}"}).status_code == 403
    assert requests.post(url, json=records, timeout=60).status_code == 401
    assert requests.post(url, data=b"{]", timeout=60,
                         headers={"Authorization": f"Bearer {exchange}"}).status_code == 400
    assert requests.post(f"{site['base']}/api/v1/exchange/nope", json=[], timeout=60,
                         headers={"Authorization": f"Bearer {exchange}"}).status_code == 404
