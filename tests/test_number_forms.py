"""Short forms of counts for boxes too narrow for their digits (issue 8, item 4)."""

from __future__ import annotations

from typing import Any

import pytest

from layouts.widgets import compact, kpi, number, split_word


@pytest.mark.parametrize("v,s,lang,short", [
    (13652, "13,652", "zh", ("1.37", "万")),
    (16256, "16,256", "zh", ("1.63", "万")),
    (99999, "99,999", "zh", ("10", "万")),
    (10000, "10,000", "zh", ("1", "万")),
    (12345678, "1234.6万", "zh", ("1235", "万")),
    (250_000_000, "2.50亿", "zh", ("2.5", "亿")),
    (123456, "12.3万", "zh", None),
    (9999, "9,999", "zh", None),
    (13652, "13,652", "en", ("13.7k", "")),
    (2_500_000, "2.50M", "en", None),
    (None, "<3", "zh", None),
    (1.46, "1.46", "zh", None),
    (0.953, "95.3%", "zh", None),
    (True, "1", "zh", None),
])
def test_compact(v: Any, s: str, lang: str, short: tuple[str, str] | None) -> None:
    """Only counts get a short form, and only when it is shorter than the full digits."""
    assert compact(v, s, lang) == short


def test_split_word_moves_wan_beside_the_unit() -> None:
    """"1234.6万" shows big digits and a small 万 by the unit; other texts stay whole."""
    assert split_word("1234.6万") == ("1234.6", "万")
    assert split_word("2.50亿") == ("2.50", "亿")
    assert split_word("13,652") == ("13,652", "")
    assert split_word("万") == ("万", "")


def test_kpi_carries_both_forms() -> None:
    """The tile holds the full and the short form; the clientside fitter picks one."""
    tile = kpi("本年就业", {"v": 13652, "s": "13,652"}, "人", lang="zh")
    line = tile.children[1]
    assert "fit" in line.className
    value, unit = line.children
    full, alt = value.children
    assert (full.children, full.className) == ("13,652", "n-full")
    assert (alt.children, alt.className) == ("1.37", "n-alt")
    assert [getattr(c, "children", c) for c in unit.children] == ["万", "人"]
    assert number({"v": None, "s": "<3"}) == ("<3", [])
    assert number({"v": 5, "s": "5"}) == ("5", [])
