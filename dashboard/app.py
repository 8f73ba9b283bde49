"""The application factory: settings → engine → cache → Dash app with pages and API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash
from flask_compress import Compress

from dashboard import access, api, cache, callback_cache, logs, mapview, metrics, pages
from dashboard.runtime import EXTENSION, Runtime, get_runtime
from queries.db import make_engine
from queries.settings import Settings

ROOT_DIR = Path(__file__).resolve().parent.parent
ASSETS_DIR = ROOT_DIR / "assets"


def create_app(config: dict[str, Any] | None = None) -> dash.Dash:
    """Build the Dash app; `config` overrides Settings fields (tests pass a temp database)."""
    config = dict(config or {})
    flask_config = {k: config.pop(k) for k in list(config) if k.isupper()}
    settings = Settings.from_env(**config).with_secret()
    engine = make_engine(settings.database_url)

    from dashboard import bundles

    app = dash.Dash(
        __name__,
        assets_folder=str(ASSETS_DIR),
        serve_locally=True,
        suppress_callback_exceptions=True,
        title="三公里就业圈 · 就业服务大屏",
        update_title=None,
        compress=False,
        # The partial plotly.js (dashboard/bundles.py): loaded before the component bundles,
        # so dcc.Graph finds window.Plotly and never fetches the full plotly.min.js.
        external_scripts=[bundles.plotly_url()],
    )
    server = app.server
    server.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_AS_ASCII=False,
        COMPRESS_MIMETYPES=[
            "text/html", "text/css", "text/javascript", "application/javascript",
            "application/json",
        ],
        COMPRESS_MIN_SIZE=500,
        **flask_config,
    )
    if settings.proxies > 0:
        # Behind nginx: the client address and scheme are the ones the proxies forwarded.
        from werkzeug.middleware.proxy_fix import ProxyFix

        server.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            server.wsgi_app, x_for=settings.proxies, x_proto=settings.proxies)
    server.json.ensure_ascii = False  # type: ignore[attr-defined]
    server.extensions[EXTENSION] = Runtime(settings=settings, engine=engine)
    Compress(server)
    # After Compress: its after_request then runs later and skips what is already encoded.
    bundles.register(app, ROOT_DIR / "instance" / "static-cache")

    cache.init_cache(server, settings)
    logs.register(server)  # before access: refusals get a request id too
    access.register(server)  # first: its check runs before every other before_request
    callback_cache.init(server, settings)
    api.register(server)
    pages.register(app)
    mapview.register(app)  # the map's figure (?metric=) and click drill-down callbacks
    metrics.register(server)  # last: it wraps the finished WSGI app to count every request
    return app


__all__ = ["create_app", "get_runtime", "Runtime"]
