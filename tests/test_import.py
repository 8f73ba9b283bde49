"""Import of every KIND in CSV, XLSX and JSON Lines on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, func, select, text

from queries.importer import COLUMNS, import_file, import_records
from queries.models import (
    Assistance,
    Employer,
    Household,
    Person,
    Placement,
    Region,
    Target,
    Vacancy,
)
from queries.validation import make_id_number

ID1 = "11010519491231002X"  # published GB 11643 example
ID3 = make_id_number("340102", dt.date(1998, 6, 1), 17)
CREDIT1 = "91350100M000100Y43"  # published GB 32100 example

ORDER = (
    "regions", "households", "persons", "employers", "vacancies", "placements",
    "assistance", "targets",
)
NUMERIC = {"lat", "lon", "population", "birth_year", "headcount", "salary_min", "salary_max",
           "year", "target"}
DATES = {"registered_on", "zero_identified_on", "zero_cleared_on", "posted_on", "closed_on",
         "served_on"}


def dataset() -> dict[str, list[dict[str, Any]]]:
    """A small, consistent data set in the exchange format (values as strings)."""
    return {
        "regions": [
            {"code": "340000000000", "name": "安徽省", "level": "province", "parent_code": ""},
            {"code": "340100000000", "name": "合肥市", "level": "city",
             "parent_code": "340000000000"},
            {"code": "340102000000", "name": "瑶海区", "level": "county",
             "parent_code": "340100000000"},
            {"code": "340102001000", "name": "明光路街道", "level": "township",
             "parent_code": "340102000000"},
            {"code": "340102001001", "name": "胜利路社区", "level": "community",
             "parent_code": "340102001000", "lat": "31.8712", "lon": "117.308",
             "population": "8200"},
            {"code": "340102001002", "name": "大通路社区", "level": "community",
             "parent_code": "340102001000", "lat": "31.865", "lon": "117.315"},
        ],
        "households": [
            {"household_id": "h1", "community_code": "340102001001",
             "zero_identified_on": "2024-01-10", "zero_cleared_on": "2024-02-20"},
            {"household_id": "h2", "community_code": "340102001002",
             "zero_identified_on": "2024-03-01"},
        ],
        "persons": [
            {"person_id": "p1", "community_code": "340102001001", "id_number": ID1,
             "gender": "M", "birth_year": "1949", "education": "高中", "status": "employed",
             "seeking_job": "false", "key_groups": "graduate;veteran",
             "registered_on": "2024-01-02", "household_id": "h1"},
            {"person_id": "p2", "community_code": "340102001002", "status": "unemployed",
             "seeking_job": "true"},
            {"person_id": "p3", "community_code": "340102001002", "id_number": ID3,
             "gender": "F", "status": "flexible", "seeking_job": "true",
             "key_groups": "difficulty", "household_id": "h2"},
        ],
        "employers": [
            {"employer_id": "e1", "credit_code": CREDIT1, "name": "合肥某某有限公司",
             "industry": "制造业", "community_code": "340102001001"},
        ],
        "vacancies": [
            {"vacancy_id": "v1", "employer_id": "e1", "community_code": "340102001001",
             "lat": "31.87", "lon": "117.31", "title": "普工", "type": "full_time",
             "headcount": "3", "salary_min": "3000", "salary_max": "5000",
             "industry": "制造业", "posted_on": "2024-01-05"},
            {"vacancy_id": "v2", "community_code": "340102001002", "lat": "31.86",
             "lon": "117.32", "title": "保洁", "type": "shared", "headcount": "1",
             "posted_on": "2024-01-06", "closed_on": "2024-02-01"},
        ],
        "placements": [
            {"placement_id": "pl1", "person_id": "p1", "vacancy_id": "v1",
             "community_code": "340102001001", "placed_at": "2024-03-01T20:00:00+00:00",
             "form": "employer"},
            {"placement_id": "pl2", "person_id": "p2", "community_code": "340102001002",
             "placed_at": "2024-03-05", "form": "flexible"},
            {"placement_id": "pl3", "person_id": "p3", "community_code": "340102001002",
             "placed_at": "2024-03-06T09:30:00", "form": "public_welfare"},
        ],
        "assistance": [
            {"record_id": "a1", "person_id": "p1", "community_code": "340102001001",
             "kind": "guidance", "served_on": "2024-02-01"},
            {"record_id": "a2", "person_id": "p2", "community_code": "340102001002",
             "kind": "visit", "served_on": "2024-02-02"},
        ],
        "targets": [
            {"region_code": "340100000000", "metric": "placements.year", "year": "2024",
             "target": "1000"},
            {"region_code": "340102001001", "metric": "vacancies.open", "year": "2024",
             "target": "12.5"},
        ],
    }


def _typed(col: str, v: str) -> Any:
    """Values as a spreadsheet or JSON producer would type them."""
    if v in ("", None):
        return None
    if col in NUMERIC:
        f = float(v)
        return int(f) if f.is_integer() else f
    return v


def write_file(
    path: Path, rows: list[dict[str, Any]], columns: list[str] | tuple[str, ...]
) -> Path:
    """Write rows in the format given by the path's extension."""
    ext = path.suffix
    if ext == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(columns)
            for r in rows:
                w.writerow([r.get(c, "") or "" for c in columns])
    elif ext == ".xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(list(columns))
        for r in rows:
            cells: list[Any] = []
            for c in columns:
                v = _typed(c, r.get(c, "") or "")
                if c in DATES and v:
                    v = dt.datetime.fromisoformat(v)  # Excel date cells
                cells.append(v)
            ws.append(cells)
        wb.save(path)
    else:
        with open(path, "w", encoding="utf-8") as fh:
            for r in rows:
                obj = {c: _typed(c, r[c]) for c in columns if c in r}
                if "seeking_job" in obj:
                    obj["seeking_job"] = obj["seeking_job"] == "true"
                fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return path


def load_all(engine: Engine, tmp_path: Path, fmt: str, data: dict | None = None) -> dict:
    """Import every KIND of the data set in one format; returns results by kind."""
    data = data or dataset()
    results = {}
    for kind in ORDER:
        p = write_file(tmp_path / f"{kind}.{fmt}", data[kind], COLUMNS[kind])
        results[kind] = import_file(engine, kind, p, progress=False)
    return results


def dump(engine: Engine) -> dict[str, list[tuple]]:
    """Every source table's rows, ordered by primary key."""
    out = {}
    with engine.connect() as conn:
        for model in (Region, Household, Person, Employer, Vacancy, Placement, Assistance,
                      Target):
            t = model.__table__
            rows = conn.execute(select(t).order_by(*t.primary_key.columns)).all()
            out[t.name] = [tuple(r) for r in rows]
    return out


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_every_kind_imports(engine: Engine, tmp_path: Path, fmt: str) -> None:
    results = load_all(engine, tmp_path, fmt)
    data = dataset()
    for kind, r in results.items():
        assert (r.error, r.rejected, r.exit_code) == (None, 0, 0), (kind, r)
        assert r.read == r.imported == len(data[kind]), kind
        assert r.rejects_path is None
    with engine.connect() as conn:
        p1 = conn.execute(select(Person).where(Person.person_id == "p1")).mappings().one()
        pl = {r.placement_id: r for r in conn.execute(select(Placement)).all()}
        v = {r.vacancy_id: r for r in conn.execute(select(Vacancy)).all()}
        reg = conn.execute(select(Region).where(Region.code == "340102001001")).one()
        root = conn.execute(select(Region).where(Region.code == "340000000000")).one()
        hh = {r.household_id: r for r in conn.execute(select(Household)).all()}
        tg = conn.execute(select(Target.target).order_by(Target.region_code)).scalars().all()
    assert p1["kg_graduate"] and p1["kg_veteran"] and not p1["kg_difficulty"]
    assert (p1["gender"], p1["birth_year"], p1["status"], p1["seeking_job"]) == (
        "M", 1949, "employed", False)
    assert p1["registered_on"] == dt.date(2024, 1, 2) and p1["household_id"] == "h1"
    assert len(p1["id_hash"]) == 64
    # 20:00 UTC on 1 March is 04:00 on 2 March in Asia/Shanghai (UTC+8).
    assert pl["pl1"].placed_at == dt.datetime(2024, 3, 2, 4, 0)
    assert pl["pl1"].placed_on == dt.date(2024, 3, 2)
    assert pl["pl2"].placed_at == dt.datetime(2024, 3, 5, 0, 0) and pl["pl2"].vacancy_id is None
    assert pl["pl3"].placed_at == dt.datetime(2024, 3, 6, 9, 30)
    assert (v["v1"].headcount, v["v1"].salary_min, v["v1"].salary_max) == (3, 3000, 5000)
    assert v["v2"].closed_on == dt.date(2024, 2, 1) and v["v2"].employer_id is None
    assert (reg.lat, reg.lon, reg.population) == (31.8712, 117.308, 8200)
    assert root.parent_code is None and root.lat is None
    assert hh["h2"].zero_cleared_on is None
    assert tg == [1000.0, 12.5]


def test_chinese_headers_and_values(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    p = tmp_path / "vac_zh.csv"
    p.write_text(
        "岗位编号,单位编号,社区代码,纬度,经度,岗位名称,岗位类型,招聘人数,最低月薪,最高月薪,"
        "行业,发布日期,关闭日期\n"
        "v9,e1,340102001002,31.86,117.32,社区公益岗,公益性,2,2000,2500,公共管理,2024-04-01,\n",
        encoding="utf-8-sig",
    )
    r = import_file(engine, "vacancies", p)
    assert r.exit_code == 0, r
    pp = tmp_path / "persons_zh.csv"
    pp.write_text(
        "人员编号,社区代码,身份证号,性别,出生年份,学历,就业状态,求职意愿,重点群体,登记日期,户编号\n"
        "p9,340102001001,,女,1990,本科,灵活就业,是,高校毕业生;退役军人,2024-05-01,h1\n",
        encoding="utf-8",
    )
    r2 = import_file(engine, "persons", pp)
    assert r2.exit_code == 0, r2
    with engine.connect() as conn:
        v9 = conn.execute(select(Vacancy).where(Vacancy.vacancy_id == "v9")).one()
        p9 = conn.execute(select(Person).where(Person.person_id == "p9")).one()
    assert (v9.type, v9.headcount, v9.title, v9.closed_on) == ("public_welfare", 2, "社区公益岗",
                                                               None)
    assert (p9.gender, p9.status, p9.seeking_job) == ("F", "flexible", True)
    assert p9.kg_graduate and p9.kg_veteran and not p9.kg_returnee


def test_reimport_is_idempotent(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    first = dump(engine)
    results = load_all(engine, tmp_path, "csv")
    assert all(r.exit_code == 0 for r in results.values())
    assert dump(engine) == first
    assert len(first["persons"]) == 3 and len(first["regions"]) == 6


def test_upsert_replaces_existing_rows(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    data = dataset()
    v1 = dict(data["vacancies"][0], headcount="7", salary_max="", title="熟练工")
    p = write_file(tmp_path / "v_again.jsonl", [v1], COLUMNS["vacancies"])
    r = import_file(engine, "vacancies", p)
    assert r.exit_code == 0, r
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(Vacancy)).scalar_one()
        row = conn.execute(select(Vacancy).where(Vacancy.vacancy_id == "v1")).one()
    assert n == 2
    assert (row.headcount, row.salary_max, row.title) == (7, None, "熟练工")


def test_id_numbers_never_stored_in_clear(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    # A rejected person carrying a valid id number must not leak it into the rejects file.
    bad = dict(dataset()["persons"][2], person_id="p4", community_code="999999999999")
    p = write_file(tmp_path / "leak.csv", [bad], COLUMNS["persons"])
    r = import_file(engine, "persons", p)
    assert r.exit_code == 3
    assert ID3 not in Path(r.rejects_path).read_text(encoding="utf-8-sig")
    assert ID3[:6] + "*" * 12 in Path(r.rejects_path).read_text(encoding="utf-8-sig")
    needles = {ID1, ID3, ID1.lower(), ID1[:17], ID3[:17]}
    with engine.connect() as conn:
        for table in dump(engine):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                for cell in row:
                    assert not any(n in str(cell) for n in needles), (table, row)
        hashes = conn.execute(select(Person.id_hash).order_by(Person.person_id)).scalars().all()
    assert hashes[1] is None and hashes[0] != hashes[2] and len(hashes[2]) == 64


def test_failure_mid_file_rolls_back_everything(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    before = dump(engine)
    rows = [
        {"record_id": f"x{i}", "person_id": "p1", "community_code": "340102001001",
         "kind": "training", "served_on": "2024-06-01"}
        for i in range(10)
    ]
    p = write_file(tmp_path / "assist.csv", rows, COLUMNS["assistance"])
    calls: list[int] = []

    def crash(read: int) -> None:
        calls.append(read)
        if read >= 6:  # after the 2nd chunk of 3 was written to the database
            raise RuntimeError("simulated crash")

    r = import_file(engine, "assistance", p, progress=crash, chunk_size=3)
    assert calls == [3, 6]
    assert r.exit_code == 2 and "simulated crash" in (r.error or "")
    assert r.imported == 0 and r.read == r.rejected == 6
    assert dump(engine) == before
    # The same file imports cleanly afterwards (no leftover temp state on the connection).
    r2 = import_file(engine, "assistance", p, chunk_size=3)
    assert (r2.exit_code, r2.imported) == (0, 10)


def test_chunks_share_duplicate_detection(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    rows = [
        {"record_id": f"y{i % 4}", "person_id": "p2", "community_code": "340102001002",
         "kind": "visit", "served_on": "2024-06-01"}
        for i in range(9)
    ]
    p = write_file(tmp_path / "dups.csv", rows, COLUMNS["assistance"])
    r = import_file(engine, "assistance", p, chunk_size=2)
    assert (r.read, r.imported, r.rejected, r.exit_code) == (9, 4, 5, 3)
    with open(r.rejects_path, encoding="utf-8-sig") as fh:
        rej = list(csv.DictReader(fh))
    # Lines 2..5 are y0..y3; lines 6..10 repeat them.
    assert [int(x["line"]) for x in rej] == [6, 7, 8, 9, 10]
    assert all("record_id" in x["reason"] and "duplicate" in x["reason"] for x in rej)


def test_import_records(engine: Engine, tmp_path: Path) -> None:
    load_all(engine, tmp_path, "csv")
    recs = [
        {"record_id": "r1", "person_id": "p1", "community_code": "340102001001",
         "kind": "subsidy", "served_on": "2024-07-01"},
        {"服务记录编号": "r2", "人员编号": "p2", "社区代码": "340102001002",
         "服务类型": "走访", "服务日期": "2024-07-02"},
        {"record_id": "r3", "person_id": "nobody", "community_code": "340102001001",
         "kind": "visit", "served_on": "2024-07-03"},
        "not an object",
    ]
    imported, rejected = import_records(engine, "assistance", recs)  # type: ignore[arg-type]
    assert imported == 2
    assert [x["index"] for x in rejected] == [2, 3]
    assert "person_id" in rejected[0]["reason"]
    with engine.connect() as conn:
        kinds = conn.execute(
            select(Assistance.kind).where(Assistance.record_id.in_(["r1", "r2"]))
            .order_by(Assistance.record_id)).scalars().all()
    assert kinds == ["subsidy", "visit"]


def test_progress_line(engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    load_all(engine, tmp_path, "csv")
    rows = [{"household_id": f"hh{i}", "community_code": "340102001001"} for i in range(6000)]
    p = write_file(tmp_path / "hh.csv", rows, COLUMNS["households"])
    r = import_file(engine, "households", p, progress=True)
    assert r.imported == 6000
    err = capsys.readouterr().err
    assert "已读取 5000 行" in err and "已读取 6000 行" in err


def test_upsert_function(engine: Engine) -> None:
    from queries.upsert import upsert

    rows = [{"region_code": "340100000000", "metric": "placements.year", "year": 2024,
             "target": 10.0},
            {"region_code": "340100000000", "metric": "placements.year", "year": 2025,
             "target": 20.0}]
    with engine.begin() as conn:
        assert upsert(conn, Target, rows) == 2
        assert upsert(conn, Target, []) == 0
    with engine.begin() as conn:
        upsert(conn, Target.__table__, [dict(rows[1], target=25.0)])
        # A partial column set (not every column) takes the portable path.
        upsert(conn, Region, [{"code": "340000000000", "name": "安徽", "level": "province"}])
        upsert(conn, Region, [{"code": "340000000000", "name": "安徽省", "level": "province"}])
    with engine.connect() as conn:
        got = conn.execute(select(Target.year, Target.target).order_by(Target.year)).all()
        names = conn.execute(select(Region.name)).scalars().all()
    assert [tuple(g) for g in got] == [(2024, 10.0), (2025, 25.0)]
    assert names == ["安徽省"]


@pytest.mark.slow
def test_memory_does_not_grow_with_file_size(engine: Engine, tmp_path: Path) -> None:
    import gc
    import tracemalloc

    load_all(engine, tmp_path, "csv")
    peaks = []
    for n in (10_000, 50_000):  # both files are larger than the UTF-8 pre-scan block
        rows = [{"household_id": f"m{n}_{i}", "community_code": "340102001001",
                 "zero_identified_on": "2024-01-01"} for i in range(n)]
        p = write_file(tmp_path / f"mem{n}.csv", rows, COLUMNS["households"])
        del rows
        gc.collect()  # start both measurements from the same heap, not mid-cycle garbage
        tracemalloc.start()
        r = import_file(engine, "households", p, chunk_size=500, progress=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert r.imported == n
    # Five times the rows, about the same peak (chunks of 500). Allow 50 % plus 512 KiB of
    # noise (garbage collection and driver caches move a ~1 MB peak by up to 0.7 MB on a
    # busy machine); a leak of even 50 bytes per row would add 2 MB here.
    assert peaks[1] < peaks[0] * 1.5 + 512 * 1024, peaks
