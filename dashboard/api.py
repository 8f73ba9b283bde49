"""JSON API (placeholder until the API lands)."""

from __future__ import annotations

from flask import Flask


def register(server: Flask) -> None:
    """Attach the /api/v1 blueprint and /healthz."""
