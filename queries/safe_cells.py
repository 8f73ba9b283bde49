"""Cells safe to open in a spreadsheet: CSV/formula injection neutralised (OWASP).

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return (or their
full-width forms, which some spreadsheet locales also read as formulas) is prefixed with a
single quote, so Excel, LibreOffice and WPS show it as text instead of evaluating it.
Plain numbers such as `-12.5` stay as they are. Every CSV and XLSX the project writes
passes its cells through `safe_cell`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_dangerous(text: str) -> bool:
    """Whether a spreadsheet could read this text as a formula."""
    return bool(text) and text[0] in FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(text)


def safe_cell(value: Any) -> Any:
    """The value itself, or for formula-like text the text prefixed with `'`."""
    if isinstance(value, str) and value and value[0] in FORMULA_STARTS and is_dangerous(value):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """A row of cells, each through safe_cell."""
    return [safe_cell(v) for v in values]


class SafeDictWriter(csv.DictWriter):
    """csv.DictWriter whose header and cells are neutralised with safe_cell."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        """Write one row (writeheader goes through here too)."""
        return super().writerow({k: safe_cell(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        """Write many rows."""
        for row in rowdicts:
            self.writerow(row)


class SafeWriter:
    """csv.writer wrapper whose cells are neutralised with safe_cell."""

    def __init__(self, stream: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        """Write one row."""
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write many rows."""
        for row in rows:
            self.writerow(row)
