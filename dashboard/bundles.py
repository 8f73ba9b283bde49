"""Static bundles: the vendored partial plotly.js, long-lived caching, compressed once.

- The panels draw bar, scatter, pie and indicator traces only; `vendor/plotly/` holds a
  plotly.js bundle of just those (built by its `build/build.sh`, with `.br`/`.gz` copies).
  It is served under a content fingerprint and loaded by a plain `<script>` before the
  component bundles, so `window.Plotly` exists when the first dcc.Graph mounts and dcc never
  fetches the full 4.7 MB plotly.min.js (dcc's graph loader uses `window.Plotly` when set).
- Fingerprinted responses (the vendored bundle, Dash's `/_dash-component-suites/…v<ver>m<mtime>…`
  files, `/assets/…?m=<mtime>`) get `Cache-Control: public, max-age=31536000, immutable`.
- Static JS/CSS under those prefixes is compressed once per content (brotli quality 11, or
  gzip 9) and the result kept in memory, and on disk when `cache_dir` is writable, so no
  request pays for compressing a bundle again; Flask-Compress skips responses that already
  carry a Content-Encoding.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import brotli
from dash.fingerprint import check_fingerprint
from flask import Flask, Response, abort, request

log = logging.getLogger(__name__)

ROOT_DIR = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT_DIR / "vendor" / "plotly"
PLOTLY_FILE = VENDOR_DIR / "plotly-wall.min.js"
VENDOR_PREFIX = "/_vendor/"
IMMUTABLE = "public, max-age=31536000, immutable"
STATIC_PREFIXES = ("/_dash-component-suites/", "/assets/", VENDOR_PREFIX)
COMPRESSIBLE = {"application/javascript", "text/javascript", "text/css", "application/json"}
MIN_SIZE = 1024
MAX_ENTRIES = 256  # distinct static contents kept compressed (Dash serves a few dozen)


def choose_encoding(accept: str) -> str | None:
    """br when the client takes it, else gzip, else None (identity); `q=0` refuses."""
    taken: set[str] = set()
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.lower().startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q > 0:
            taken.add(name.lower())
    for encoding in ("br", "gzip"):
        if encoding in taken:
            return encoding
    return None


def compress(data: bytes, encoding: str) -> bytes:
    """The densest practical encoding of `data` (done once per content, so slow is fine)."""
    if encoding == "br":
        return brotli.compress(data, quality=11)
    return gzip.compress(data, 9, mtime=0)


class CompressedStore:
    """Compressed copies of immutable contents, keyed by content hash and encoding."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.cache_dir = cache_dir
        self._mem: dict[tuple[str, str], bytes] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def _disk_path(self, digest: str, encoding: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{digest}.{encoding}"

    def get(self, data: bytes, encoding: str, digest: str | None = None) -> bytes:
        """`data` compressed with `encoding`, computed at most once per process and content."""
        digest = digest or hashlib.sha256(data).hexdigest()
        key = (digest, encoding)
        hit = self._mem.get(key)
        if hit is not None:
            return hit
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._mem.get(key)
            if hit is not None:
                return hit
            path = self._disk_path(digest, encoding)
            body = self._read(path)
            if body is None:
                body = compress(data, encoding)
                self._write(path, body)
            if len(self._mem) < MAX_ENTRIES:
                self._mem[key] = body
            return body

    def put(self, data: bytes, encoding: str, body: bytes) -> None:
        """Seed the store with a copy compressed elsewhere (the vendored .br/.gz files)."""
        self._mem[(hashlib.sha256(data).hexdigest(), encoding)] = body

    @staticmethod
    def _read(path: Path | None) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def _write(self, path: Path | None, body: bytes) -> None:
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(body)
            os.replace(tmp, path)
        except OSError as err:  # read-only deployment: memory only
            log.info("static compression cache not writable (%s); memory only", err)
            self.cache_dir = None


class VendoredBundle:
    """One vendored file served under its content fingerprint."""

    def __init__(self, path: Path, store: CompressedStore) -> None:
        self.path = path
        self.data = path.read_bytes()
        self.digest = hashlib.sha256(self.data).hexdigest()
        self.url = f"{VENDOR_PREFIX}{path.name.removesuffix('.min.js')}.{self.digest[:12]}.min.js"
        self.store = store
        self._seed()

    def _seed(self) -> None:
        """Use the .br/.gz copies built next to the file when they decode to the same bytes."""
        for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
            suffix = ".br" if encoding == "br" else ".gz"
            try:
                body = self.path.with_name(self.path.name + suffix).read_bytes()
                if decode(body) == self.data:
                    self.store.put(self.data, encoding, body)
            except (OSError, ValueError, brotli.error):
                continue

    def response(self) -> Response:
        """The bundle, compressed when the client takes it, cached for a year."""
        encoding = choose_encoding(request.headers.get("Accept-Encoding", ""))
        body = self.data if encoding is None else self.store.get(self.data, encoding, self.digest)
        resp = Response(body, mimetype="application/javascript")
        if encoding:
            resp.headers["Content-Encoding"] = encoding
        resp.headers["Vary"] = "Accept-Encoding"
        resp.headers["Cache-Control"] = IMMUTABLE
        resp.set_etag(self.digest[:32] + (f":{encoding}" if encoding else ""))
        return resp.make_conditional(request)


def _fingerprinted(path: str) -> bool:
    """Whether a static URL names one immutable content (version/mtime in the name or query)."""
    if path.startswith(VENDOR_PREFIX):
        return True
    if path.startswith("/_dash-component-suites/"):
        return check_fingerprint(path.split("/", 3)[-1])[1]
    return path.startswith("/assets/") and "m" in request.args


def plotly_url() -> str:
    """The fingerprinted URL of the vendored plotly.js (for Dash's `external_scripts`)."""
    digest = hashlib.sha256(PLOTLY_FILE.read_bytes()).hexdigest()
    return f"{VENDOR_PREFIX}{PLOTLY_FILE.name.removesuffix('.min.js')}.{digest[:12]}.min.js"


def keep_paths_registered(app: Any) -> None:
    """Register Dash's component-suite paths before the first bundle request of a process.

    Dash only accepts a bundle path once this process has rendered an index page (it
    registers the paths while writing the script tags). A worker whose first request is a
    bundle, or one that is still writing its first index, answered 500 to a fresh wall
    (seen once under gunicorn -w 2); writing the tags once here, under a lock, avoids that.
    """
    lock = threading.Lock()
    done: list[bool] = []

    @app.server.before_request
    def _paths() -> None:
        if done or not request.path.startswith("/_dash-component-suites/"):
            return
        with lock:
            if not done:
                app._generate_css_dist_html()  # noqa: SLF001 - Dash registers paths here
                app._generate_scripts_html()  # noqa: SLF001
                done.append(True)


def register(app: Any, cache_dir: Path | None = None) -> dict[str, Any]:
    """Route the vendored plotly.js and compress/cache static responses; returns its URL."""
    server: Flask = app.server
    keep_paths_registered(app)
    store = CompressedStore(cache_dir)
    plotly = VendoredBundle(PLOTLY_FILE, store)
    server.extensions["dashboard_bundles"] = {"store": store, "plotly": plotly}

    @server.route(f"{VENDOR_PREFIX}<path:name>")
    def _vendor(name: str) -> Response:
        if f"{VENDOR_PREFIX}{name}" != plotly.url:
            abort(404)
        return plotly.response()

    @server.after_request
    def _static(resp: Response) -> Response:
        path = request.path
        if (request.method not in ("GET", "HEAD") or resp.status_code != 200
                or not path.startswith(STATIC_PREFIXES) or path.startswith(VENDOR_PREFIX)):
            return resp
        if _fingerprinted(path):
            resp.headers["Cache-Control"] = IMMUTABLE
        if "Content-Encoding" in resp.headers or resp.mimetype not in COMPRESSIBLE:
            return resp
        encoding = choose_encoding(request.headers.get("Accept-Encoding", ""))
        if encoding is None:
            return resp
        resp.direct_passthrough = False  # send_file's file wrapper: read it (a small asset)
        data = resp.get_data()
        if len(data) < MIN_SIZE:
            return resp
        resp.set_data(store.get(data, encoding))
        resp.headers["Content-Encoding"] = encoding
        etag, weak = resp.get_etag()
        if etag:  # one validator per representation, as Flask-Compress does
            resp.set_etag(f"{etag}:{encoding}", weak=weak)
        vary = resp.headers.get("Vary", "")
        if "accept-encoding" not in vary.lower():
            resp.headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
        return resp

    return {"plotly_url": plotly.url}
