"""The page routes, in one table: access control classifies paths with it, pages parse them.

A path matches a route by shape first (any segment), so access can decide 401/403 for every
page path; `parse_page` then also checks the segments (a code of 1–20 letters and digits, a
panel id of lowercase letters), and a path that fails that is the friendly 404.
"""

from __future__ import annotations

import re

# kind → pattern; groups: (code,) for wall, region and report, (panel, code) for embed.
ROUTES: dict[str, re.Pattern[str]] = {
    "wall": re.compile(r"^/wall/([^/]*)/?$"),
    "region": re.compile(r"^/region/([^/]*)/?$"),
    "embed": re.compile(r"^/embed/([^/]*)/([^/]*)/?$"),
    "report": re.compile(r"^/report/([^/]*)/?$"),
}
CODE_RE = re.compile(r"^[0-9A-Za-z]{1,20}$")
PANEL_RE = re.compile(r"^[a-z_]{1,30}$")


def match_page(path: str | None) -> tuple[str, str | None, str | None]:
    """(kind, code, panel) of a page path by shape; kind "unknown" when no route matches."""
    for kind, pattern in ROUTES.items():
        m = pattern.match(path or "")
        if m:
            if kind == "embed":
                return kind, m.group(2), m.group(1)
            return kind, m.group(1), None
    return "unknown", None, None


def parse_page(path: str | None) -> tuple[str, str | None, str | None]:
    """(kind, code, panel) of a well-formed page path; kind "unknown" otherwise."""
    kind, code, panel = match_page(path or "/")
    if kind == "unknown" or not CODE_RE.match(code or ""):
        return "unknown", None, None
    if kind == "embed" and not PANEL_RE.match(panel or ""):
        return "unknown", None, None
    return kind, code, panel


__all__ = ["ROUTES", "match_page", "parse_page"]
