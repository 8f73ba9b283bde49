"""`tile=<cols>x<rows>&pos=<i>` parsing (SPEC 4.1): good grids read, bad ones flagged, no raise."""

from __future__ import annotations

import pytest

from dashboard.pages import parse_tile


@pytest.mark.parametrize("tile,pos,expected", [
    ("2x1", "0", (2, 1, 0)),
    ("2x1", "1", (2, 1, 1)),
    ("3X2", "5", (3, 2, 5)),
    ("4×1", "3", (4, 1, 3)),
    (" 2x2 ", " 2 ", (2, 2, 2)),
    ("2x1", None, (2, 1, 0)),  # pos defaults to the first tile
])
def test_good_tiles(tile: str, pos: str | None, expected: tuple[int, int, int]) -> None:
    """Columns, rows and the 0-based, row-major position are read as given."""
    assert parse_tile(tile, pos) == (expected, False)


def test_no_tile_is_the_whole_canvas() -> None:
    """Without the parameters the page shows the whole canvas and says nothing."""
    assert parse_tile(None, None) == (None, False)


@pytest.mark.parametrize("tile,pos", [
    ("2x1", "2"),          # past the last tile
    ("2x1", "-1"),
    ("2x1", "1.5"),
    ("2x1", "x"),
    ("2x1", "inf"),
    ("0x1", "0"),
    ("2x", "0"),
    ("x", "0"),
    ("17x1", "0"),         # more than 16 columns
    ("2x1x1", "0"),
    ("2x1" + "9" * 500, "0"),
    (None, "1"),           # pos without tile
    ("", "0"),
])
def test_bad_tiles_are_flagged(tile: str | None, pos: str | None) -> None:
    """Bad values give no tile and the flag the page shows as a message (no exception)."""
    assert parse_tile(tile, pos) == (None, True)
