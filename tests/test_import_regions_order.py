"""Regions import in any order (issue 8 item 2): parents resolve within the whole file.

Only rows whose parent is truly absent, rows on a cycle, and rows that hang below a
rejected row (saying which) are rejected, whatever the order and the chunking.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from queries.importer import COLUMNS, import_file, import_records
from queries.models import Region
from tests.test_import_property import write

PROVINCE = "340000000000"


def tree() -> list[dict[str, str]]:
    """A province of 2 cities x 2 counties x 2 townships x 3 communities (39 regions)."""
    rows = [{"code": PROVINCE, "name": "安徽省", "level": "province", "parent_code": ""}]
    for c in range(1, 3):
        city = f"34{c:02d}00000000"
        rows.append({"code": city, "name": f"市{c}", "level": "city", "parent_code": PROVINCE})
        for k in range(1, 3):
            county = f"34{c:02d}{k:02d}000000"
            rows.append({"code": county, "name": f"县{c}{k}", "level": "county",
                         "parent_code": city})
            for t in range(1, 3):
                town = f"{county[:6]}{t:03d}000"
                rows.append({"code": town, "name": f"阿街道{c}{k}{t}", "level": "township",
                             "parent_code": county, "population": str(1000 * t)})
                for m in range(1, 4):
                    rows.append({"code": f"{town[:9]}{m:03d}", "name": f"爱社区{c}{k}{t}{m}",
                                 "level": "community", "parent_code": town,
                                 "lat": f"31.{c}{k}{t}{m}", "lon": f"117.{c}{k}{t}{m}"})
    return rows


def stored(engine: Engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {r.code: (r.name, r.level, r.parent_code)
                for r in conn.execute(select(Region))}


def rejects(path: str | None) -> dict[str, dict[str, str]]:
    """Rejected rows by code."""
    if path is None:
        return {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return {r["code"]: r for r in csv.DictReader(fh)}


def want(rows: list[dict[str, str]]) -> dict[str, tuple]:
    return {r["code"]: (r["name"], r["level"], r["parent_code"] or None) for r in rows}


# ---------------------------------------------------------------- any order imports whole
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
@pytest.mark.parametrize("order", ["name", "reversed", "shuffled-1", "shuffled-2"])
def test_any_order_imports_every_row(engine: Engine, tmp_path: Path, fmt: str,
                                     order: str) -> None:
    rows = tree()
    if order == "name":
        rows.sort(key=lambda r: r["name"])  # a province export sorted by name
    elif order == "reversed":
        rows.reverse()  # children first
    else:
        random.Random(order).shuffle(rows)
    assert rows[0]["level"] != "province"
    path = tmp_path / f"regions.{fmt}"
    write(path, "regions", rows, {}, fmt)
    r = import_file(engine, "regions", path, progress=False, chunk_size=7)
    assert (r.exit_code, r.read, r.imported, r.rejected) == (0, 39, 39, 0), r.error
    assert stored(engine) == want(tree())
    # Later files find every community.
    persons = [{"person_id": f"p{i}", "community_code": c["code"], "status": "employed",
                "seeking_job": "false"} for i, c in enumerate(tree())
               if c["level"] == "community"]
    p = tmp_path / f"persons.{fmt}"
    write(p, "persons", persons, {}, fmt)
    r2 = import_file(engine, "persons", p, progress=False)
    assert (r2.exit_code, r2.imported) == (0, 24)
    # Importing the same file again changes nothing.
    before = stored(engine)
    assert import_file(engine, "regions", path, progress=False, chunk_size=5).imported == 39
    assert stored(engine) == before


# ---------------------------------------------------------------- what is still rejected
def _import(engine: Engine, tmp_path: Path, rows: list[dict[str, Any]],
            chunk_size: int = 3) -> tuple[Any, dict[str, dict[str, str]]]:
    path = tmp_path / "regions.csv"
    write(path, "regions", rows, {}, "csv")
    r = import_file(engine, "regions", path, progress=False, chunk_size=chunk_size)
    assert r.error is None and r.read == len(rows) == r.imported + r.rejected
    return r, rejects(r.rejects_path)


def comm(code: str, parent: str, name: str = "社区") -> dict[str, str]:
    return {"code": code, "name": name, "level": "community", "parent_code": parent,
            "lat": "31.8", "lon": "117.2"}


def town(code: str, parent: str, name: str = "街道") -> dict[str, str]:
    return {"code": code, "name": name, "level": "township", "parent_code": parent}


def test_cycles_and_what_hangs_below_them(engine: Engine, tmp_path: Path) -> None:
    base = tree()[:3]  # province, city 1, county 1
    county = base[2]["code"]
    rows = [
        comm("340101001001", "340101001000"),           # below the 2-cycle
        town("340101001000", "340101002000"),           # 2-cycle: 001 -> 002 -> 001
        town("340101002000", "340101001000"),
        town("340101003000", "340101005000"),           # 3-cycle: 003 -> 005 -> 004 -> 003
        town("340101004000", "340101003000"),
        town("340101005000", "340101004000"),
        comm("340101004001", "340101004000"),           # below the 3-cycle
        comm("340101006001", "340101006000"),           # fine: its parent comes later
        *base,
        town("340101006000", county),
    ]
    random.Random(7).shuffle(rows)
    r, rej = _import(engine, tmp_path, rows)
    assert (r.exit_code, r.imported, r.rejected) == (3, 5, 7)
    for code in ("340101001000", "340101002000"):
        assert "cycle" in rej[code]["reason"] and "成环" in rej[code]["reason"]
        assert "340101001000 → 340101002000" in rej[code]["reason"] or \
            "340101002000 → 340101001000" in rej[code]["reason"]
    for code in ("340101003000", "340101004000", "340101005000"):
        assert "cycle" in rej[code]["reason"]
        assert all(c in rej[code]["reason"]
                   for c in ("340101003000", "340101004000", "340101005000"))
    assert "depends on the rejected row of region 340101001000" in \
        rej["340101001001"]["reason"]
    assert "depends on the rejected row of region 340101004000" in \
        rej["340101004001"]["reason"]
    assert set(stored(engine)) == {*(b["code"] for b in base), "340101006000",
                                   "340101006001"}


def test_absent_parents_and_their_descendants(engine: Engine, tmp_path: Path) -> None:
    base = tree()[:3]
    rows = [
        comm("340101009001", "340101009000"),                # grandchild of a missing one
        town("340101009000", "340101990000"),                # parent in neither file nor DB
        comm("340101009002", "340101009000"),
        *base,
    ]
    r, rej = _import(engine, tmp_path, rows)
    assert (r.exit_code, r.imported, r.rejected) == (3, 3, 3)
    assert "unknown parent region 340101990000" in rej["340101009000"]["reason"]
    line = rej["340101009000"]["line"]
    for code in ("340101009001", "340101009002"):
        reason = rej[code]["reason"]
        assert "340101009000" in reason and f"line {line}" in reason, reason


def test_rows_below_a_row_rejected_for_its_values(engine: Engine, tmp_path: Path) -> None:
    base = tree()[:3]
    rows = [
        comm("340101008001", "340101008000"),
        # A township rejected for its own values; the rows below it say why they follow.
        {**town("340101008000", base[2]["code"]), "level": "village"},
        *base,
        comm("340101008002", "340101008000"),
    ]
    r, rej = _import(engine, tmp_path, rows, chunk_size=2)
    assert (r.imported, r.rejected) == (3, 3)
    assert "level" in rej["340101008000"]["reason"]
    assert rej["340101008000"]["line"] == "3"
    for code in ("340101008001", "340101008002"):
        assert "depends on the rejected row of region 340101008000, line 3" in \
            rej[code]["reason"], rej[code]["reason"]


def test_a_rejected_update_leaves_the_stored_parent_for_its_children(
        engine: Engine, tmp_path: Path) -> None:
    base = tree()[:3]
    assert import_records(engine, "regions", [*base, town("340101007000", base[2]["code"])]
                          )[1] == []
    rows = [comm("340101007001", "340101007000"),
            {**town("340101007000", base[2]["code"]), "population": "-5"}]
    r, rej = _import(engine, tmp_path, rows)
    assert (r.imported, r.rejected) == (1, 1) and "population" in rej["340101007000"]["reason"]
    assert stored(engine)["340101007001"][2] == "340101007000"


def test_reparenting_below_a_descendant_is_refused(engine: Engine, tmp_path: Path) -> None:
    base = tree()[:3]
    county = base[2]["code"]
    assert import_records(engine, "regions", [
        *base, town("340101001000", county), town("340101002000", county)])[1] == []
    before = stored(engine)
    # Two stored townships swapped under each other (same level: a cycle through the
    # database), and a county moved below its own township.
    rows = [town("340101001000", "340101002000"), town("340101002000", "340101001000"),
            {**base[2], "parent_code": "340101001000"}]
    r, rej = _import(engine, tmp_path, rows)
    assert (r.imported, r.rejected) == (0, 3), rej
    assert "cycle" in rej["340101001000"]["reason"]
    assert stored(engine) == before


def test_regions_file_with_columns_of_every_format_is_unchanged(tmp_path: Path) -> None:
    """The writer used above produces the canonical columns (a guard for this module)."""
    path = tmp_path / "r.csv"
    write(path, "regions", tree()[:1], {}, "csv")
    assert path.read_text(encoding="utf-8").splitlines()[0].split(",") == \
        list(COLUMNS["regions"])
