"""Snapshot reads behind flask-caching, keyed by batch id so a new batch is never stale."""

from __future__ import annotations

import logging
import time
import zlib
from typing import Any

from flask import Flask
from flask_caching import Cache

from dashboard.runtime import get_runtime
from queries import snapshots
from queries.settings import Settings


class TolerantCache(Cache):
    """A flask-caching Cache whose backend being away is a miss, never an error.

    With Redis down every read falls through to the database (slower, still right), and
    writes are dropped; a warning is logged at most once a minute per process.
    """

    _warned_at = 0.0

    def _away(self, err: Exception) -> None:
        now = time.monotonic()
        if now - TolerantCache._warned_at > 60:
            TolerantCache._warned_at = now
            logging.getLogger(__name__).warning(
                "cache unavailable, reading the database instead: %s", type(err).__name__)

    def get(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        try:
            return super().get(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - e.g. redis.ConnectionError
            self._away(err)
            return None

    def set(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        try:
            return super().set(*args, **kwargs)
        except Exception as err:  # noqa: BLE001
            self._away(err)
            return False


cache = TolerantCache()

# Each worker asks the database for the newest batch id at most this often.
BATCH_TTL_SECONDS = 2.0
_batch_memo: dict[str, tuple[float, snapshots.Batch | None]] = {}


def cache_config(settings: Settings, purpose: str, timeout: int, threshold: int
                 ) -> dict[str, Any]:
    """flask-caching settings of one cache: Redis when configured (namespaced by database
    and purpose), else a bounded in-process store."""
    if settings.cache_url.startswith(("redis://", "rediss://", "unix://")):
        # One Redis database may serve several deployments: namespace by database.
        space = f"{zlib.crc32(settings.database_url.encode()):08x}"
        return {
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": settings.cache_url,
            "CACHE_KEY_PREFIX": f"dashboard:{space}:{purpose}",
            "CACHE_DEFAULT_TIMEOUT": timeout,
        }
    return {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": timeout,
            "CACHE_THRESHOLD": threshold}


def init_cache(server: Flask, settings: Settings) -> None:
    """Configure the snapshot cache: in-process by default, Redis when configured."""
    cache.init_app(server, config=cache_config(settings, "", 3600, 5000))


def current_batch() -> snapshots.Batch | None:
    """The newest finished batch (memoised for a moment per worker)."""
    rt = get_runtime()
    key = rt.settings.database_url
    now = time.monotonic()
    hit = _batch_memo.get(key)
    if hit and now - hit[0] < BATCH_TTL_SECONDS:
        return hit[1]
    batch = snapshots.latest_batch(rt.engine)
    _batch_memo[key] = (now, batch)
    return batch


RegionView = tuple[snapshots.Batch, dict[str, Any] | None, list[dict[str, Any]]]


def region_view(code: str) -> RegionView | None:
    """(batch, region, children) of the newest batch, cached per batch; None without a batch."""
    batch = current_batch()
    if batch is None:
        return None
    key = f"rv:{batch.id}:{code}"
    hit = cache.get(key)
    if hit is None:
        region, children = snapshots.region_with_children(get_runtime().engine, batch.id, code)
        hit = (region, children)
        cache.set(key, hit)
    return batch, hit[0], hit[1]


def region_index() -> list[dict[str, Any]]:
    """Every region of the newest batch (code, name, level, parent), cached per batch."""
    batch = current_batch()
    if batch is None:
        return []
    key = f"ri:{batch.id}"
    hit = cache.get(key)
    if hit is None:
        hit = snapshots.region_index(get_runtime().engine, batch.id)
        cache.set(key, hit)
    return hit
