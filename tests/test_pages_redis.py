"""The wall's pages and panel callbacks served with the snapshot cache on real Redis."""

from __future__ import annotations

import datetime as dt
import json
import zlib
from zoneinfo import ZoneInfo

import redis

from dashboard import cache as dash_cache
from dashboard.app import create_app
from demo.generator import load_demo
from queries.db import init_db, make_engine
from queries.refresh import refresh
from queries.snapshots import latest_batch
from tests.httpserver import callback_body

CITY = "340100000000"
TZ = "Asia/Shanghai"


def test_wall_served_from_redis_cache(tmp_path, redis_url: str, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(dash_cache, "BATCH_TTL_SECONDS", 0.0)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    init_db(engine)
    load_demo(engine, scale=0.02, seed=2, today=dt.date(2026, 3, 31), tz=TZ)
    assert refresh(engine, as_of=dt.datetime(2026, 3, 31, 20, tzinfo=ZoneInfo(TZ)),
                   tz=TZ).status == "ok"
    batch = latest_batch(engine).id
    app = create_app({"database_url": url, "cache_url": redis_url})
    client = app.server.test_client()
    assert client.get(f"/wall/{CITY}").status_code == 200
    deps = client.get("/_dash-dependencies").get_json()
    body = callback_body(deps, "overview-c-kpis", {"target": {"region": CITY, "panel":
                                                              "overview"}, "batch": batch},
                         {"view": {"kind": "wall", "lang": "zh"}})
    first = client.post("/_dash-update-component", json=body)
    assert first.status_code == 200
    text = json.dumps(first.get_json(), ensure_ascii=False)
    assert "合肥市" in text and "就业" in text
    prefix = f"dashboard:{zlib.crc32(url.encode()):08x}:"
    rclient = redis.Redis.from_url(redis_url)
    assert rclient.exists(f"{prefix}rv:{batch}:{CITY}") == 1
    # A second wall asking the same gets the same answer, read back from Redis.
    second = client.post("/_dash-update-component", json=body)
    assert second.get_json() == first.get_json()


def test_identical_callback_is_answered_from_the_response_cache(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """The second identical panel request does not render again; a new batch does."""
    from dashboard import pages

    monkeypatch.setattr(dash_cache, "BATCH_TTL_SECONDS", 0.0)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    init_db(engine)
    load_demo(engine, scale=0.02, seed=4, today=dt.date(2026, 3, 31), tz=TZ)
    as_of = dt.datetime(2026, 3, 31, 20, tzinfo=ZoneInfo(TZ))
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"
    client = create_app({"database_url": url}).server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    calls = []
    real = pages.render_panel
    monkeypatch.setattr(pages, "render_panel", lambda *a: calls.append(1) or real(*a))
    body = callback_body(deps, "overview-c-kpis", {"target": {"region": CITY, "panel":
                                                              "overview"}, "batch": 1},
                         {"view": {"kind": "wall", "lang": "zh"}})
    first = client.post("/_dash-update-component", json=body)
    second = client.post("/_dash-update-component", json=body)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert len(calls) == 1
    assert refresh(engine, as_of=as_of, tz=TZ).status == "ok"  # a new batch
    third = client.post("/_dash-update-component", json=body)
    assert third.status_code == 200 and len(calls) == 2
