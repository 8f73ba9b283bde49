"""CSV injection: no CSV the project writes holds a cell a spreadsheet would evaluate."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from queries.importer import COLUMNS, import_file
from queries.safe_cells import (
    FORMULA_STARTS,
    SafeDictWriter,
    SafeWriter,
    is_dangerous,
    safe_cell,
)
from tests.test_import import dataset, load_all, write_file

HOSTILE = [
    '=HYPERLINK("http://x","click")', "=1+1", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "\n=1+1", "＝1+1", "＋1", "－1+1",
    "＠SUM(A1)", "-", "+", "=", "@", "-1+2", "+86 138 0000 0000", "--1", "-1e5x",
]
HARMLESS = ["", "abc", "合肥市", "1+1", "12", "-12", "+12", "-12.5", "-.5", "1e5", "-1e-5",
            "a=b", " =1+1", "'=1+1", "2026-01-01"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_is_quoted(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", [*HARMLESS, None, 0, -5, 3.5, True])
def test_harmless_values_are_unchanged(value: Any) -> None:
    assert safe_cell(value) is value


@given(st.text(max_size=30))
def test_safe_cell_property(text: str) -> None:
    """Either unchanged (not formula-like, or a plain number) or prefixed with a quote."""
    out = safe_cell(text)
    if out != text:
        assert out == "'" + text and text[0] in FORMULA_STARTS
    else:
        assert not text or text[0] not in FORMULA_STARTS or float(text) == float(text)


def test_writers_neutralise_header_and_cells() -> None:
    buf = io.StringIO()
    w = SafeDictWriter(buf, fieldnames=["=a", "b"])
    w.writeheader()
    w.writerow({"=a": "@x", "b": -3})
    w.writerows([{"=a": "ok", "b": "+1+1"}])
    SafeWriter(buf).writerow(["=cmd", 1, "-1"])
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert rows == [["'=a", "b"], ["'@x", "-3"], ["ok", "'+1+1"], ["'=cmd", "1", "-1"]]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_rejects_file_has_no_formulas(engine: Engine, tmp_path: Path, fmt: str) -> None:
    """Rejected rows full of formula text come back quoted, header included."""
    load_all(engine, tmp_path, "csv")
    extra = "=cmd|' /C calc'!A0"
    columns = [*COLUMNS["vacancies"], extra]
    good = {**dataset()["vacancies"][0], "vacancy_id": "g1"}
    bad = {**good, "vacancy_id": "=HYPERLINK(\"http://x\")", "community_code": "\r=2",
           "title": "-2+3+cmd|' /C calc'!A0", "industry": "@SUM(1+1)", "employer_id": "\t=1",
           extra: "+1+1"}
    p = write_file(tmp_path / f"hostile.{fmt}", [good, bad], columns)
    r = import_file(engine, "vacancies", p)
    assert r.rejected == 1 and r.rejects_path
    with open(r.rejects_path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert extra not in rows[0]  # an unknown column is dropped or quoted, never raw
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if is_dangerous(c)], rows
    assert "'-2+3+cmd|' /C calc'!A0" in rows[1] and "'@SUM(1+1)" in rows[1]
    if fmt == "csv":  # (openpyxl stores a leading "=" as a formula, read back empty)
        assert "'=HYPERLINK(\"http://x\")" in rows[1]


def test_demo_csv_files_have_no_formulas(tmp_path: Path) -> None:
    """The demo writer goes through safe_cell too (its own data never needs it)."""
    from demo.generator import _Writer

    buf = io.StringIO()
    w = _Writer(buf, "vacancies", "csv")
    w.row(["v1", "e1", "340102001001", 31.8, 117.2, "=HYPERLINK(\"x\")", "full_time", 2,
           -1, None, "@x", None, None][: len(w.header)])
    cells = next(iter(list(csv.reader(io.StringIO(buf.getvalue())))[1:]))
    assert "'=HYPERLINK(\"x\")" in cells and "-1" in cells
