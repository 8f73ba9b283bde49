"""Static bundles (dashboard/bundles.py): partial plotly.js, long-lived caching, compressed once."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path
from typing import Any

import brotli
import pytest

from dashboard import bundles
from dashboard.app import create_app
from layouts import PANELS

CITY = "340100000000"
BROWSER_ENCODING = "gzip, deflate, br, zstd"


@pytest.fixture
def client(sqlite_url: str) -> Any:
    """A test client of an app on an empty database (no batch: pages still load)."""
    app = create_app({"database_url": sqlite_url})
    return app.server.test_client()


def _scripts(client: Any) -> list[str]:
    page = client.get(f"/wall/{CITY}").get_data(as_text=True)
    return re.findall(r'<script src="([^"]+)"', page)


def test_index_loads_the_partial_bundle_before_the_components(client: Any) -> None:
    """The vendored bundle is a script tag before dcc's; the full plotly.min.js is not."""
    srcs = _scripts(client)
    vendor = [i for i, s in enumerate(srcs) if s.startswith("/_vendor/plotly-wall.")]
    dcc = [i for i, s in enumerate(srcs) if "dash_core_components" in s]
    assert vendor and dcc and vendor[0] < min(dcc), srcs
    assert not any("plotly.min.js" in s for s in srcs)
    assert all(s.startswith("/") and not s.startswith("//") for s in srcs)  # nothing outside


@pytest.mark.parametrize("accept,encoding,decode", [
    (BROWSER_ENCODING, "br", brotli.decompress),
    ("gzip, deflate", "gzip", gzip.decompress),
    ("br;q=0, gzip", "gzip", gzip.decompress),
    ("", None, lambda b: b),
])
def test_vendored_bundle_served_compressed_and_immutable(client: Any, accept: str,
                                                         encoding: str | None,
                                                         decode: Any) -> None:
    """Same bytes as the vendored file in every encoding, cached for a year."""
    url = bundles.plotly_url()
    r = client.get(url, headers={"Accept-Encoding": accept})
    assert r.status_code == 200
    assert r.headers.get("Content-Encoding") == encoding
    assert r.headers["Cache-Control"] == bundles.IMMUTABLE
    assert "Accept-Encoding" in r.headers["Vary"]
    assert decode(r.data) == bundles.PLOTLY_FILE.read_bytes()
    assert client.get(url.replace(".min.js", "0.min.js")).status_code == 404


def test_vendored_copies_match_and_fingerprint_follows_content() -> None:
    """The committed .br/.gz decode to the bundle; the URL names the bundle's hash."""
    data = bundles.PLOTLY_FILE.read_bytes()
    assert brotli.decompress(bundles.PLOTLY_FILE.with_suffix(".js.br").read_bytes()) == data
    assert gzip.decompress(bundles.PLOTLY_FILE.with_suffix(".js.gz").read_bytes()) == data
    assert hashlib.sha256(data).hexdigest()[:12] in bundles.plotly_url()
    head = data[:200].decode()
    assert "plotly.js v" in head and "MIT" in head


def test_dash_bundles_compressed_once_and_immutable(client: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Fingerprinted component bundles: br, a year of caching, compressed once per content."""
    calls: list[tuple[int, str]] = []
    real = bundles.compress

    def counting(data: bytes, encoding: str) -> bytes:
        calls.append((len(data), encoding))
        return real(data, encoding)

    monkeypatch.setattr(bundles, "compress", counting)
    srcs = [s for s in _scripts(client) if s.startswith("/_dash-component-suites/")]
    assert srcs
    for _ in range(3):
        for src in srcs:
            r = client.get(src, headers={"Accept-Encoding": BROWSER_ENCODING})
            assert r.status_code == 200, src
            assert r.headers["Cache-Control"] == bundles.IMMUTABLE, src
            if len(r.data) > bundles.MIN_SIZE:
                assert r.headers.get("Content-Encoding") == "br", src
                assert brotli.decompress(r.data)
    assert len(calls) <= len(srcs)  # none again on the 2nd and 3rd round
    assert all(encoding == "br" for _, encoding in calls)


def test_callbacks_are_not_cached_as_static(client: Any) -> None:
    """Dynamic answers keep their own headers (no year-long caching)."""
    r = client.get("/_wall/state", headers={"Accept-Encoding": BROWSER_ENCODING})
    assert r.headers.get("Cache-Control") == "no-store"


def test_compressed_store_uses_its_disk_copy(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A second process (a new store on the same folder) reads the copy instead of compressing."""
    data = b"x = 1;\n" * 5000
    first = bundles.CompressedStore(tmp_path)
    body = first.get(data, "br")
    assert brotli.decompress(body) == data
    monkeypatch.setattr(bundles, "compress", lambda *_: pytest.fail("compressed again"))
    assert bundles.CompressedStore(tmp_path).get(data, "br") == body


@pytest.mark.parametrize("accept,expected", [
    ("gzip, deflate, br, zstd", "br"), ("gzip", "gzip"), ("identity", None), ("", None),
    ("br;q=0", None), ("BR;q=0.5, gzip;q=1", "br"), ("gzip;q=bad", None),
])
def test_choose_encoding(accept: str, expected: str | None) -> None:
    """br before gzip; q=0 (or an unreadable q) refuses."""
    assert bundles.choose_encoding(accept) == expected


def test_bundle_holds_every_trace_type_the_panels_draw() -> None:
    """Each trace type the panels' figure builders use is registered in the partial bundle."""
    import ast

    used: set[str] = set()
    layouts_dir = Path(bundles.ROOT_DIR / "layouts")
    for path in layouts_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "go" and node.attr[0].isupper() and node.attr != "Figure":
                    used.add(node.attr.lower())
            if isinstance(node, ast.Attribute) and node.attr.startswith("add_"):
                used.add(node.attr.removeprefix("add_"))
    used -= {"trace", "annotation", "shape", "layout_image", "hline", "vline", "hrect",
             "vrect"}
    assert used, "no trace type found: the scan proves nothing"
    assert PANELS
    text = bundles.PLOTLY_FILE.read_text()
    for trace in used:
        # Each trace module registers itself with `moduleType:"trace",name:"<type>"`.
        assert re.search(rf'moduleType:"trace",name:"{trace}"', text), trace


def test_assets_compressed_once_with_their_own_validator(client: Any) -> None:
    """wall.css/wall.js (fingerprinted by ?m=): br, a year of caching, an ETag per encoding."""
    page = client.get(f"/wall/{CITY}").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+\?m=[^"]+)"', page)
    assert assets
    for src in assets:
        r = client.get(src, headers={"Accept-Encoding": BROWSER_ENCODING})
        plain = client.get(src, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200 and r.headers.get("Content-Encoding") == "br", src
        assert brotli.decompress(r.data) == plain.data
        assert r.headers["Cache-Control"] == bundles.IMMUTABLE
        assert r.headers["ETag"] != plain.headers["ETag"]
