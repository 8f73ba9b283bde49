"""The one clock of the data layer: instants are stored as naive UTC everywhere."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Now as naive UTC (the convention of every DateTime column here)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


__all__ = ["utcnow"]
