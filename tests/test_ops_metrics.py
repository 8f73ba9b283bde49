"""GET /metrics (SPEC 9): scraped and parsed with prometheus_client's own text parser.

Expected values are known from the hand-made data set (9 regions, so 9 rows per batch) and
from the requests the test itself makes; who may scrape is checked from allowed and other
addresses, with and without tokens, and through a trusted proxy.
"""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert

from dashboard.app import create_app
from dashboard.metrics import address_allowed
from dashboard.tokens import issue
from queries.models import OutboxEvent, RefreshRun
from queries.refresh import refresh
from tests.test_metrics_handmade import AS_OF, TZ, load

SECRET = "metrics-test-secret"
OUTSIDE = {"REMOTE_ADDR": "10.20.30.40"}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of an exposition text."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def scrape(client, **kw) -> dict[tuple[str, tuple], float]:  # noqa: ANN001
    resp = client.get("/metrics", **kw)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.content_type.startswith("text/plain")
    return samples(resp.get_data(as_text=True))


def requests_of(s: dict, route: str, status: str = "200") -> float:
    return s.get(("dashboard_http_requests_total",
                  (("method", "GET"), ("route", route), ("status", status))), 0.0)


def test_scrape_changes_after_a_refresh_and_a_request(db_url: str, engine: Engine) -> None:
    client = create_app({"database_url": db_url}).server.test_client()
    before = scrape(client)
    assert before[("dashboard_database_up", ())] == 1
    assert ("dashboard_snapshot_rows", ()) not in before  # no batch yet: no made-up zero

    load(engine)
    out = refresh(engine, as_of=AS_OF, tz=TZ)
    assert out.status == "ok"
    client.get("/healthz")
    client.get("/wall/340100000000")
    client.get("/api/v1/regions/340102000000/metrics")
    after = scrape(client)
    assert after[("dashboard_snapshot_rows", ())] == 9  # the data set's 9 regions
    assert after[("dashboard_snapshot_batch_id", ())] == out.batch_id
    expected_secs = (out.finished_at - out.started_at).total_seconds()
    assert after[("dashboard_refresh_duration_seconds", ())] == pytest.approx(
        expected_secs, abs=1.0)
    assert 0 <= after[("dashboard_snapshot_age_seconds", ())] < 600
    assert after[("dashboard_refresh_last_failed", ())] == 0
    # Counted by route template, never by raw path (bounded label values).
    assert requests_of(after, "/healthz") == requests_of(before, "/healthz") + 1
    assert requests_of(after, "/wall/<code>") == requests_of(before, "/wall/<code>") + 1
    api = "/api/v1/regions/<code>/metrics"
    assert requests_of(after, api) == requests_of(before, api) + 1
    hist = ("dashboard_http_request_duration_seconds_count", (("route", "/healthz"),))
    assert after[hist] == before.get(hist, 0) + 1
    assert not any("340100000000" in str(labels) for _n, labels in after)
    # The scrapes themselves are counted too.
    assert requests_of(after, "/metrics") >= 1


def test_failed_run_shows(sqlite_url: str) -> None:
    app = create_app({"database_url": sqlite_url})
    client = app.server.test_client()
    from queries.db import init_db, make_engine

    eng = make_engine(sqlite_url)
    init_db(eng)
    now = dt.datetime(2026, 1, 1)
    with eng.begin() as conn:
        conn.execute(insert(RefreshRun).values(as_of=now, started_at=now, finished_at=now,
                                               status="failed", error="boom"))
    s = scrape(client)
    assert s[("dashboard_refresh_last_failed", ())] == 1
    assert s[("dashboard_refresh_failed_runs", ())] == 1


def test_outbox_depth_and_dead_events(sqlite_url: str) -> None:
    from queries.db import init_db, make_engine

    eng = make_engine(sqlite_url)
    init_db(eng)
    client = create_app({"database_url": sqlite_url}).server.test_client()
    s = scrape(client)
    assert (s[("dashboard_outbox_pending", ())], s[("dashboard_outbox_dead", ())]) == (0, 0)
    now = dt.datetime(2026, 1, 1)
    states = ["pending", "pending", "pending", "dead", "delivered", "dead"]
    with eng.begin() as conn:
        conn.execute(insert(OutboxEvent), [
            {"event_id": f"e{i}", "topic": "person_status", "subject": f"person:{i}",
             "payload": "{}", "created_at": now, "state": st, "attempts": 0}
            for i, st in enumerate(states)])
    s = scrape(client)
    assert (s[("dashboard_outbox_pending", ())], s[("dashboard_outbox_dead", ())]) == (3, 2)


def test_who_may_scrape(sqlite_url: str) -> None:
    app = create_app({"database_url": sqlite_url, "auth": True, "secret_key": SECRET})
    client = app.server.test_client()
    from queries.db import init_db, make_engine

    eng = make_engine(sqlite_url)
    init_db(eng)
    _i, leader = issue(eng, SECRET, "340100000000", "leader")
    _i, wall = issue(eng, SECRET, "340100000000", "wall")
    _i, exchange = issue(eng, SECRET, "340100000000", "exchange")
    # Loopback (the default allow list): no token needed, even with auth on.
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    # From elsewhere: only a leader token.
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 403
    for other in (wall, exchange, "forged.token"):
        resp = client.get("/metrics", environ_base=OUTSIDE,
                          headers={"Authorization": f"Bearer {other}"})
        assert resp.status_code == 403
        assert "dashboard_" not in resp.get_data(as_text=True)
    ok = client.get("/metrics", environ_base=OUTSIDE,
                    headers={"Authorization": f"Bearer {leader}"})
    assert ok.status_code == 200 and b"dashboard_database_up" in ok.data


def test_metrics_closed_with_auth_off_too(sqlite_url: str) -> None:
    client = create_app({"database_url": sqlite_url}).server.test_client()
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 403


def test_allow_list_and_forwarded_addresses(sqlite_url: str) -> None:
    nets = create_app({"database_url": sqlite_url, "metrics_allow": "10.20.0.0/16"})
    assert nets.server.test_client().get("/metrics", environ_base=OUTSIDE).status_code == 200
    # No trusted proxy: a client claiming loopback in X-Forwarded-For is still outside.
    direct = create_app({"database_url": sqlite_url}).server.test_client()
    resp = direct.get("/metrics", environ_base=OUTSIDE,
                      headers={"X-Forwarded-For": "127.0.0.1"})
    assert resp.status_code == 403
    # Behind one proxy (nginx on loopback): the forwarded client address decides.
    proxied = create_app({"database_url": sqlite_url, "proxies": 1}).server.test_client()
    resp = proxied.get("/metrics", headers={"X-Forwarded-For": "10.20.30.40"})
    assert resp.status_code == 403
    # nginx appends the real peer, so a forged first entry does not help either.
    resp = proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 10.20.30.40"})
    assert resp.status_code == 403
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


@pytest.mark.parametrize(("addr", "allow", "ok"), [
    ("127.0.0.1", "127.0.0.1,::1", True),
    ("::1", "127.0.0.1,::1", True),
    ("127.0.0.2", "127.0.0.1,::1", False),
    ("192.168.1.7", "192.168.1.0/24", True),
    ("192.168.2.7", "192.168.1.0/24", False),
    ("fe80::1%eth0", "fe80::/10", True),
    ("not-an-ip", "0.0.0.0/0", False),
    ("10.0.0.1", "garbage, 10.0.0.1", True),
    (None, "0.0.0.0/0", False),
])
def test_address_allowed(addr: str | None, allow: str, ok: bool) -> None:
    assert address_allowed(addr, allow) is ok


def test_redis_away_reads_fall_through_to_the_database(sqlite_url: str) -> None:
    """A cache backend that is down is a miss: the API still answers from the database."""
    from queries.db import init_db, make_engine

    eng = make_engine(sqlite_url)
    init_db(eng)
    load(eng)
    assert refresh(eng, as_of=AS_OF, tz=TZ).status == "ok"
    client = create_app({"database_url": sqlite_url,
                         "cache_url": "redis://127.0.0.1:1/0"}).server.test_client()
    resp = client.get("/api/v1/regions/340100000000/metrics")
    assert resp.status_code == 200
    assert resp.get_json()["region"]["code"] == "340100000000"
    assert client.get("/wall/340100000000").status_code == 200
