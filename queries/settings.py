"""Runtime configuration read from DASHBOARD_* environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from typing import Any


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """All knobs of the service; defaults follow SPEC section 1."""

    database_url: str = "sqlite:///instance/dashboard.db"
    cache_url: str = ""
    secret_key: str = ""
    root_region: str = "340100000000"
    refresh_seconds: int = 300
    timezone: str = "Asia/Shanghai"
    auth: bool = False
    small_cell: int = 3
    frame_ancestors: str = "'self'"
    demo: bool = False
    # Outbound exchange (SPEC 7): pushing is off while province_url is empty.
    province_url: str = ""
    province_secret: str = ""
    province_max_attempts: int = 12
    push_seconds: float = 10.0
    push_batch: int = 500
    push_timeout: float = 10.0
    push_backoff: float = 5.0  # first retry delay, doubled per attempt
    push_backoff_max: float = 900.0
    # Operator-supplied district/county outlines (GeoJSON, WGS84) for the map panel; none
    # drawn when empty (SPEC 6.3: no third-party map data by default).
    boundaries: str = ""
    # Who may read /metrics without a token (addresses or networks, comma-separated).
    metrics_allow: str = "127.0.0.1,::1"
    # Reverse proxies in front of the app (nginx: 1): their X-Forwarded-For then names the
    # client; 0 trusts no forwarded header, so a client cannot claim an allowed address.
    proxies: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> "Settings":
        """Build settings from the environment, then apply explicit overrides."""
        s = cls(
            database_url=_env("DASHBOARD_DATABASE_URL", cls.database_url),
            cache_url=_env("DASHBOARD_CACHE_URL", ""),
            secret_key=_env("DASHBOARD_SECRET_KEY", ""),
            root_region=_env("DASHBOARD_ROOT_REGION", cls.root_region),
            refresh_seconds=int(_env("DASHBOARD_REFRESH_SECONDS", "300")),
            timezone=_env("DASHBOARD_TIMEZONE", cls.timezone),
            auth=_env("DASHBOARD_AUTH", "off").lower() in ("on", "1", "true", "yes"),
            small_cell=int(_env("DASHBOARD_SMALL_CELL", "3")),
            frame_ancestors=_env("DASHBOARD_FRAME_ANCESTORS", "'self'"),
            province_url=_env("DASHBOARD_PROVINCE_URL", ""),
            province_secret=_env("DASHBOARD_PROVINCE_SECRET", ""),
            province_max_attempts=int(_env("DASHBOARD_PROVINCE_MAX_ATTEMPTS", "12")),
            push_seconds=float(_env("DASHBOARD_PUSH_SECONDS", "10")),
            push_batch=int(_env("DASHBOARD_PUSH_BATCH", "500")),
            push_timeout=float(_env("DASHBOARD_PUSH_TIMEOUT", "10")),
            push_backoff=float(_env("DASHBOARD_PUSH_BACKOFF", "5")),
            push_backoff_max=float(_env("DASHBOARD_PUSH_BACKOFF_MAX", "900")),
            boundaries=_env("DASHBOARD_BOUNDARIES", ""),
            metrics_allow=_env("DASHBOARD_METRICS_ALLOW", cls.metrics_allow),
            proxies=int(_env("DASHBOARD_PROXIES", "0")),
        )
        return replace(s, **overrides) if overrides else s

    def with_secret(self) -> "Settings":
        """Return settings with a secret key; a random one only when auth is off (demo)."""
        if self.secret_key:
            return self
        if self.auth:
            raise RuntimeError("DASHBOARD_SECRET_KEY is required when DASHBOARD_AUTH=on")
        return replace(self, secret_key=secrets.token_hex(32))
