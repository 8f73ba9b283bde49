"""Whole callback responses cached per snapshot batch: a wall asking again costs a lookup.

Every wall in every hall asks for the same few (region, panel, language, view) answers,
and those only change when a new snapshot batch is published. The response bytes of a
`/_dash-update-component` POST are stored under (current batch, the caller's scope — role,
token region and panel list — and a SHA-1 of the request body) and served straight back on
the next identical request, before Dash parses anything. Access checks run first
(dashboard.access registers its hook earlier), so a cached answer is only ever served to a
caller allowed to see it.
"""

from __future__ import annotations

import hashlib

from flask import Flask, Response, g, request

from dashboard import cache
from dashboard.access import scope_key
from queries.settings import Settings

responses = cache.TolerantCache()  # Redis away: a miss, not an error
PATH = "/_dash-update-component"
# Panel answers are 5–60 KB; a bounded in-process store keeps a worker's memory flat.
THRESHOLD = 800


def init(server: Flask, settings: Settings) -> None:
    """Configure the response cache (its own Cache: bounded, or Redis when configured)."""
    config = cache.cache_config(settings, "cb:", 3 * max(60, settings.refresh_seconds),
                                THRESHOLD)
    responses.init_app(server, config=config)

    @server.before_request
    def _serve_cached():  # noqa: ANN202
        if request.path != PATH or request.method != "POST":
            return None
        try:
            batch = cache.current_batch()
        except Exception:  # noqa: BLE001 - database away: let the callback answer itself
            return None
        if batch is None:
            return None
        # The answer depends on the body (region, panel, language, view) and on who asks:
        # role (public or exact), the token's region (search, breadcrumb) and panel list.
        scope = hashlib.sha1(scope_key().encode()).hexdigest()[:16]
        digest = hashlib.sha1(request.get_data(cache=True)).hexdigest()
        key = f"{batch.id}:{scope}:{digest}"
        hit = responses.get(key)
        if hit is not None:
            return Response(hit, status=200, mimetype="application/json")
        g.callback_cache_key = key
        return None

    @server.after_request
    def _store(resp: Response) -> Response:
        key = getattr(g, "callback_cache_key", None)
        # Registered after flask-compress, so this runs before compression: raw JSON bytes.
        if key and resp.status_code == 200 and not resp.direct_passthrough \
                and "Content-Encoding" not in resp.headers:
            responses.set(key, resp.get_data())
        return resp
