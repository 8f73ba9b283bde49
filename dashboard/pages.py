"""Page routes (placeholder until the wall lands): `/` redirects to the root region's wall."""

from __future__ import annotations

import dash
from dash import html
from flask import redirect

from dashboard.app import get_runtime


def register(app: dash.Dash) -> None:
    """Attach page routes and the Dash layout."""
    server = app.server

    @server.route("/")
    def _root():  # noqa: ANN202
        return redirect(f"/wall/{get_runtime().settings.root_region}")

    app.layout = html.Div("就业服务大屏", id="placeholder")
