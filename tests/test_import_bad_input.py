"""Broken exchange files: clear messages, rejects files, counts that always add up."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from queries.importer import COLUMNS, ID_COLUMNS, TABLES, import_file
from tests.test_import import CREDIT1, ID1, dataset, dump, load_all, write_file


def read_rejects(path: str | None) -> list[dict[str, str]]:
    """Rows of a rejects file (which must start with a UTF-8 BOM for Excel)."""
    assert path is not None
    raw = Path(path).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def count(engine: Engine, kind: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(TABLES[kind].__table__)).scalar_one()


def base(kind: str, i: int = 0) -> dict[str, Any]:
    return dict(dataset()[kind][i])


# (kind, the bad row, a word the reason must contain)
BAD_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("persons", {**base("persons"), "person_id": "b1", "id_number": ID1[:17] + "1"},
     "id_number"),
    ("persons", {**base("persons"), "person_id": "b1", "id_number": "1101051949123100"},
     "id_number"),
    ("employers", {**base("employers"), "employer_id": "b1",
                   "credit_code": CREDIT1[:17] + "4"}, "credit_code"),
    ("persons", {**base("persons"), "person_id": "b1", "registered_on": "2024-02-30"},
     "registered_on"),
    ("persons", {**base("persons"), "person_id": "b1", "registered_on": "2024/01/02"},
     "registered_on"),
    ("assistance", {**base("assistance"), "record_id": "b1", "served_on": "yesterday"},
     "served_on"),
    ("placements", {**base("placements"), "placement_id": "b1", "placed_at": "2024-03-01T25:00"},
     "placed_at"),
    ("persons", {**base("persons"), "person_id": "b1", "status": "retired"}, "status"),
    ("persons", {**base("persons"), "person_id": "b1", "gender": "X"}, "gender"),
    ("persons", {**base("persons"), "person_id": "b1", "seeking_job": "maybe"}, "seeking_job"),
    ("persons", {**base("persons"), "person_id": "b1", "key_groups": "graduate;alien"},
     "key_groups"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "type": "gig"}, "type"),
    ("placements", {**base("placements"), "placement_id": "b1", "form": "magic"}, "form"),
    ("assistance", {**base("assistance"), "record_id": "b1", "kind": "lunch"}, "kind"),
    ("regions", {**base("regions", 4), "code": "340102001009", "level": "village"}, "level"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "headcount": "0"}, "headcount"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "headcount": "two"}, "headcount"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "salary_max": "99999999999"},
     "salary_max"),
    ("regions", {**base("regions", 4), "code": "340102001009", "population": "-5"},
     "population"),
    ("persons", {**base("persons"), "person_id": "x" * 65}, "person_id"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "salary_min": "6000",
                   "salary_max": "5000"}, "salary_min"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "posted_on": "2024-03-01",
                   "closed_on": "2024-02-28"}, "closed_on"),
    ("households", {"household_id": "b1", "community_code": "340102001001",
                    "zero_cleared_on": "2024-02-01"}, "zero_cleared_on"),
    ("households", {"household_id": "b1", "community_code": "340102001001",
                    "zero_identified_on": "2024-03-01", "zero_cleared_on": "2024-02-01"},
     "zero_cleared_on"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "lat": "60.1"}, "lat"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "lon": "-117.3"}, "lon"),
    ("regions", {**base("regions", 4), "code": "340102001009", "lon": "10.0"}, "lon"),
    ("regions", {**base("regions", 4), "code": "340102001009", "lat": "", "lon": ""}, "lat"),
    ("regions", {**base("regions", 4), "code": "34010200100"}, "code"),
    ("regions", {**base("regions", 4), "code": "340102001009", "parent_code": "340102999000"},
     "parent_code"),
    ("persons", {**base("persons"), "person_id": "b1", "community_code": "340102001999"},
     "community_code"),
    ("persons", {**base("persons"), "person_id": "b1", "community_code": "340102001000"},
     "community_code"),  # a township, not a community
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "community_code": "3401020010"},
     "community_code"),
    ("placements", {**base("placements"), "placement_id": "b1", "person_id": "ghost"},
     "person_id"),
    ("assistance", {**base("assistance"), "record_id": "b1", "person_id": "ghost"},
     "person_id"),
    ("placements", {**base("placements"), "placement_id": "b1", "vacancy_id": "ghost"},
     "vacancy_id"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "employer_id": "ghost"},
     "employer_id"),
    ("persons", {**base("persons"), "person_id": "b1", "household_id": "ghost"},
     "household_id"),
    ("targets", {**base("targets"), "metric": "placements.decade"}, "metric"),
    ("targets", {**base("targets"), "region_code": "349999000000"}, "region_code"),
    ("persons", {**base("persons"), "person_id": "b1", "status": ""}, "status"),
    ("vacancies", {**base("vacancies"), "vacancy_id": "b1", "title": ""}, "title"),
    ("employers", {**base("employers"), "employer_id": "b1", "name": ""}, "name"),
]


@pytest.mark.parametrize(("kind", "bad", "word"), BAD_ROWS,
                         ids=[f"{k}-{w}-{i}" for i, (k, _, w) in enumerate(BAD_ROWS)])
def test_bad_row_is_rejected_with_reason(
    engine: Engine, tmp_path: Path, kind: str, bad: dict[str, Any], word: str
) -> None:
    load_all(engine, tmp_path, "csv")
    # A valid row with a new id next to the bad one: it must be imported.
    good = {**base(kind), ID_COLUMNS[kind][0]: "g1"}
    if kind == "regions":
        good = {**base("regions", 4), "code": "340102001008"}
    if kind == "targets":
        good = {**base("targets"), "year": "2025"}
    n_before = count(engine, kind)
    p = write_file(tmp_path / f"bad_{kind}.csv", [good, bad], COLUMNS[kind])
    r = import_file(engine, kind, p)
    assert (r.read, r.imported, r.rejected, r.exit_code, r.error) == (2, 1, 1, 3, None), r
    rej = read_rejects(r.rejects_path)
    assert len(rej) == 1 and rej[0]["line"] == "3"
    assert rej[0]["reason"].startswith(word) or f"{word}" in rej[0]["reason"], rej[0]["reason"]
    assert "Traceback" not in rej[0]["reason"]
    # The original columns come back (id numbers masked), plus line and reason.
    assert list(rej[0])[-2:] == ["line", "reason"]
    assert ID1 not in Path(r.rejects_path).read_text(encoding="utf-8-sig")
    assert count(engine, kind) == n_before + 1


def test_gbk_file_fails_clearly(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    before = dump(engine)
    p = tmp_path / "gbk.csv"
    p.write_bytes("户编号,社区代码\ng1,340102001001\n".encode("gbk"))
    r = import_file(engine, "households", p)
    assert r.exit_code == 2 and (r.read, r.imported, r.rejected) == (0, 0, 0)
    assert "UTF-8" in r.error and "GBK" in r.error
    assert not Path(str(p) + ".rejects.csv").exists()
    assert dump(engine) == before


def test_gbk_bytes_late_in_file_import_nothing(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    p = tmp_path / "mixed.csv"
    head = "household_id,community_code\n" + "".join(
        f"m{i},340102001001\n" for i in range(10))
    p.write_bytes(head.encode("utf-8") + "社区,340102001001\n".encode("gbk"))
    r = import_file(engine, "households", p)
    assert r.exit_code == 2 and r.imported == 0
    assert "line 12" in r.error
    assert count(engine, "households") == 2


def test_missing_columns_named(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    p = tmp_path / "v.csv"
    p.write_text("vacancy_id,社区代码,title\nv5,340102001001,x\n", encoding="utf-8")
    r = import_file(engine, "vacancies", p)
    assert r.exit_code == 2 and (r.read, r.imported, r.rejected) == (0, 0, 0)
    for col in ("lat", "lon", "type", "headcount", "posted_on"):
        assert col in r.error
    assert "title" not in r.error.split("；")[0]  # listed only as part of the header


def test_truncated_xlsx(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    rows = [{**base("households"), "household_id": f"t{i}"} for i in range(300)]
    p = write_file(tmp_path / "hh.xlsx", rows, COLUMNS["households"])
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    r = import_file(engine, "households", p)
    assert r.exit_code == 2 and r.imported == 0 and r.read == r.rejected
    assert "XLSX" in r.error
    assert count(engine, "households") == 2


def test_not_a_spreadsheet_at_all(engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "fake.xlsx"
    p.write_text("code,name\n", encoding="utf-8")
    r = import_file(engine, "regions", p)
    assert r.exit_code == 2 and "XLSX" in r.error


def test_bad_json_line_is_a_rejected_row(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    p = tmp_path / "a.jsonl"
    p.write_text(
        '{"record_id":"j1","person_id":"p1","community_code":"340102001001",'
        '"kind":"visit","served_on":"2024-05-01"}\n'
        '{"record_id":"j2", broken\n'
        "\n"
        "[1, 2]\n"
        '{"record_id":"j3","person_id":"p2","community_code":"340102001002",'
        '"kind":"training","served_on":"2024-05-02","note":"' + ID1 + '"}\n',
        encoding="utf-8",
    )
    r = import_file(engine, "assistance", p)
    assert (r.read, r.imported, r.rejected, r.exit_code) == (4, 2, 2, 3)
    rej = read_rejects(r.rejects_path)
    assert [x["line"] for x in rej] == ["2", "4"]
    assert "JSON" in rej[0]["reason"] and "object" in rej[1]["reason"]


def test_duplicate_ids_second_rejected(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    a = {**base("persons", 1), "person_id": "d1", "birth_year": "1980"}
    b = {**base("persons", 1), "person_id": "d1", "birth_year": "1990"}
    c = {**base("persons", 1), "person_id": "d2"}
    p = write_file(tmp_path / "dup.xlsx", [a, c, b, b], COLUMNS["persons"])
    r = import_file(engine, "persons", p)
    assert (r.read, r.imported, r.rejected, r.exit_code) == (4, 2, 2, 3)
    rej = read_rejects(r.rejects_path)
    assert [x["line"] for x in rej] == ["4", "5"]
    assert all("person_id" in x["reason"] for x in rej)
    from queries.models import Person

    with engine.connect() as conn:
        year = conn.execute(select(Person.birth_year).where(Person.person_id == "d1")).scalar()
    assert year == 1980  # the first occurrence wins


def test_duplicate_target_keys(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    t = base("targets")
    p = write_file(tmp_path / "t.csv", [t, {**t, "target": "5"}], COLUMNS["targets"])
    r = import_file(engine, "targets", p)
    assert (r.imported, r.rejected) == (1, 1)
    assert "region_code, metric, year" in read_rejects(r.rejects_path)[0]["reason"]


def test_extra_cells_rejected_and_stale_rejects_removed(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    p = tmp_path / "h.csv"
    p.write_text("household_id,community_code\nx1,340102001001,extra\nx2,340102001001\n",
                 encoding="utf-8")
    r = import_file(engine, "households", p)
    assert (r.imported, r.rejected, r.exit_code) == (1, 1, 3)
    assert Path(r.rejects_path).exists()
    p.write_text("household_id,community_code\nx1,340102001001\n", encoding="utf-8")
    r2 = import_file(engine, "households", p)
    assert r2.exit_code == 0 and r2.rejects_path is None
    assert not Path(r.rejects_path).exists()


def test_custom_rejects_path(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    p = write_file(tmp_path / "v.csv", [{**base("vacancies"), "headcount": "0"}],
                   COLUMNS["vacancies"])
    out = tmp_path / "out" / "rej.csv"
    out.parent.mkdir()
    r = import_file(engine, "vacancies", p, rejects_path=out)
    assert r.rejects_path == str(out) and r.exit_code == 3 and r.imported == 0
    assert read_rejects(str(out))[0]["vacancy_id"] == "v1"


@pytest.mark.parametrize("name", ["x.xls", "x.txt", "missing.csv"])
def test_unreadable_files(engine: Engine, tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    if name != "missing.csv":
        p.write_text("a,b\n", encoding="utf-8")
    r = import_file(engine, "regions", p)
    assert r.exit_code == 2 and r.read == r.imported == r.rejected == 0 and r.error


def test_empty_file(engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_bytes(b"")
    r = import_file(engine, "regions", p)
    assert r.exit_code == 2 and "empty" in r.error


def test_unknown_kind(engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("a\n1\n", encoding="utf-8")
    r = import_file(engine, "people", p)
    assert r.exit_code == 2 and "KIND" in r.error
