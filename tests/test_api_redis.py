"""The same API reads with the cache on real Redis: keys land under "dashboard:"."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import Engine, update

from dashboard import cache as dash_cache
from dashboard.app import create_app
from queries.models import SnapshotRegion
from tests.test_api import CITY, SHUSHAN, TOWNSHIP, full_metrics, seed_batch


@pytest.fixture(autouse=True)
def _fresh_batch_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """No per-worker batch memo in tests."""
    monkeypatch.setattr(dash_cache, "BATCH_TTL_SECONDS", 0.0)
    dash_cache._batch_memo.clear()


@pytest.fixture
def rclient(redis_url: str) -> Iterator[redis.Redis]:
    """A raw client on the (flushed) test Redis database."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(db_url: str) -> str:
    """Cache keys are namespaced per database, so deployments sharing a Redis never collide."""
    return f"dashboard:{zlib.crc32(db_url.encode()):08x}:"


@pytest.fixture
def client(db_url: str, engine: Engine, redis_url: str):  # noqa: ANN201
    """A test client of an app whose cache is the test Redis database."""
    app = create_app({"database_url": db_url, "cache_url": redis_url})
    return app.server.test_client()


def test_reads_are_cached_in_redis(client, rclient: redis.Redis, prefix: str,  # noqa: ANN001
                                   engine: Engine) -> None:
    seed_batch(engine, 1)
    first = client.get(f"/api/v1/regions/{CITY}/metrics")
    assert first.status_code == 200
    body = first.get_json()
    assert body["metrics"]["placements.year"] == 1234
    assert [c["code"] for c in body["children"]] == ["340102000000", SHUSHAN]

    keys = {k.decode() for k in rclient.keys(f"{prefix}*")}
    assert f"{prefix}rv:1:{CITY}" in keys
    # The encoded response body is cached as well, keyed by view, batch and code.
    body_keys = [k for k in keys if k.startswith(f"{prefix}api:m:1:{CITY}:")]
    assert len(body_keys) == 1
    assert rclient.ttl(f"{prefix}rv:1:{CITY}") > 3000  # CACHE_DEFAULT_TIMEOUT 3600

    # The region endpoint is served from the same cached view.
    region = client.get(f"/api/v1/regions/{CITY}").get_json()
    assert region["children"] == [
        {"code": "340102000000", "name": "瑶海区", "level": "county"},
        {"code": SHUSHAN, "name": "蜀山区", "level": "county"},
    ]

    # Changing the row under a cached batch changes nothing served: reads come from Redis.
    with engine.begin() as conn:
        conn.execute(update(SnapshotRegion).where(SnapshotRegion.batch_id == 1,
                                                  SnapshotRegion.region_code == CITY)
                     .values(metrics=json.dumps(full_metrics(placements__year=1))))
    again = client.get(f"/api/v1/regions/{CITY}/metrics")
    assert again.get_json() == body

    # Deleting the keys makes the next read go to the database again.
    rclient.delete(f"{prefix}rv:1:{CITY}", *body_keys)
    assert client.get(f"/api/v1/regions/{CITY}/metrics").get_json()["metrics"][
        "placements.year"] == 1


def test_search_index_and_new_batch_in_redis(client, rclient: redis.Redis, prefix: str,  # noqa: ANN001
                                             engine: Engine) -> None:
    seed_batch(engine, 1)
    found = client.get("/api/v1/regions?q=三里庵").get_json()
    assert found["results"] == [{"code": TOWNSHIP, "name": "三里庵街道", "level": "township",
                                 "parent_code": SHUSHAN}]
    assert rclient.exists(f"{prefix}ri:1") == 1

    seed_batch(engine, 2, scale=2)
    resp = client.get(f"/api/v1/regions/{CITY}/metrics")
    assert resp.headers["X-Snapshot-Batch"] == "2"
    assert resp.get_json()["metrics"]["placements.year"] == 2468
    assert rclient.exists(f"{prefix}rv:2:{CITY}") == 1
    client.get("/api/v1/regions?q=三里庵")
    assert rclient.exists(f"{prefix}ri:2") == 1


def test_etag_304_with_redis_cache(client, engine: Engine) -> None:  # noqa: ANN001
    seed_batch(engine, 1)
    url = f"/api/v1/regions/{SHUSHAN}/metrics"
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
