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
        )
        return replace(s, **overrides) if overrides else s

    def with_secret(self) -> "Settings":
        """Return settings with a secret key; a random one only when auth is off (demo)."""
        if self.secret_key:
            return self
        if self.auth:
            raise RuntimeError("DASHBOARD_SECRET_KEY is required when DASHBOARD_AUTH=on")
        return replace(self, secret_key=secrets.token_hex(32))
