"""What request handlers share: the settings and database engine of the serving app.

Its own module so that access, api, cache and pages reach the runtime without importing
the app factory (which imports them): no import cycle in dashboard/.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Engine

from queries.settings import Settings

EXTENSION = "dashboard"


@dataclass
class Runtime:
    """What request handlers need: settings and the database engine."""

    settings: Settings
    engine: Engine


def get_runtime() -> Runtime:
    """The Runtime of the app handling the current request."""
    return current_app.extensions[EXTENSION]
