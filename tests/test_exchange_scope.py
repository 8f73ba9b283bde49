"""Exchange writes stay inside the token's region (issue 7 item 3), over real HTTP.

An exchange token for 蜀山区 (340104000000) may write only there: the scope is checked on
the canonical row after header aliasing, whatever alias carries a region column; a record
whose id is stored in another region is rejected ("belongs to another region") and left
as it is; regions go only under in-scope parents; targets only for in-scope regions;
references to records outside the scope are rejected. After every request the database
is compared with its state before: nothing outside the scope changed.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, create_engine, select, text

from dashboard.app import create_app
from dashboard.tokens import in_subtree, issue
from queries.db import init_db, make_engine
from queries.importer import ALIASES, TABLES, canonical_column, import_file, import_records
from tests.conftest import PG_URL, _unavailable, pg_schema_url
from tests.httpserver import Served

SECRET = "test-secret-key-for-exchange-scope"
TZ = "Asia/Shanghai"
SCOPE = "340104000000"  # 蜀山区
IN_TOWN = "340104001000"
IN_COMM, IN_COMM2 = "340104001001", "340104001002"
OUT_COUNTY = "340103000000"  # 庐阳区
OUT_TOWN = "340103003000"
OUT_COMM, OUT_COMM2 = "340103003001", "340103003002"
# A community whose code looks like 蜀山区's but that is stored under 庐阳区 (codes kept
# across a boundary change): the stored parent, not the code, says who manages it.
MOVED_COMM = "340104009001"
CITY = "340100000000"

# Every region column of every KIND (SPEC section 2).
REGION_COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code", "parent_code"),
    "persons": ("community_code",),
    "households": ("community_code",),
    "employers": ("community_code",),
    "vacancies": ("community_code",),
    "placements": ("community_code",),
    "assistance": ("community_code",),
    "job_fairs": ("region_code",),
    "trainings": ("community_code",),
    "interviews": ("community_code",),
    "loans": ("community_code",),
    "surveys": ("community_code",),
    "targets": ("region_code",),
}
ID_COLUMN = {
    "regions": "code", "persons": "person_id", "households": "household_id",
    "employers": "employer_id", "vacancies": "vacancy_id", "placements": "placement_id",
    "assistance": "record_id", "job_fairs": "fair_id", "trainings": "training_id",
    "interviews": "interview_id", "loans": "loan_id", "surveys": "response_id",
}
CREDIT = "91350100M000100Y43"


def aliases(kind: str, column: str) -> list[str]:
    """Every header the importer maps to `column`: Chinese aliases, case and whitespace."""
    variants = [
        column, column.upper(), column.title(), column.capitalize(), f"{column} ",
        f" {column}", f"\t{column}\t", f"\ufeff{column}", f"\u3000{column}",
        column.swapcase(),
    ]
    chinese = [h for h, c in ALIASES[kind].items() if c == column]
    out = variants + chinese + [f" {h} " for h in chinese]
    for h in out:
        assert canonical_column(kind, h) == column, (kind, h)
    return out


def base_data() -> dict[str, list[dict[str, Any]]]:
    """Regions of two counties and one record of each KIND on either side."""
    def comm(code: str, name: str, parent: str) -> dict[str, Any]:
        return {"code": code, "name": name, "level": "community", "parent_code": parent,
                "lat": "31.85", "lon": "117.25"}

    return {
        "regions": [
            {"code": "340000000000", "name": "安徽省", "level": "province"},
            {"code": CITY, "name": "合肥市", "level": "city", "parent_code": "340000000000"},
            {"code": SCOPE, "name": "蜀山区", "level": "county", "parent_code": CITY},
            {"code": OUT_COUNTY, "name": "庐阳区", "level": "county", "parent_code": CITY},
            {"code": IN_TOWN, "name": "三里庵街道", "level": "township", "parent_code": SCOPE},
            {"code": OUT_TOWN, "name": "杏林街道", "level": "township",
             "parent_code": OUT_COUNTY},
            comm(IN_COMM, "龙河社区", IN_TOWN), comm(IN_COMM2, "新桥社区", IN_TOWN),
            comm(OUT_COMM, "杏花社区", OUT_TOWN), comm(OUT_COMM2, "林店社区", OUT_TOWN),
            comm(MOVED_COMM, "划转社区", OUT_TOWN),
        ],
        "households": [
            {"household_id": "H-IN", "community_code": IN_COMM},
            {"household_id": "H-OUT", "community_code": OUT_COMM},
        ],
        "persons": [
            {"person_id": "P-IN", "community_code": IN_COMM, "status": "unemployed",
             "seeking_job": "true", "household_id": "H-IN"},
            {"person_id": "P-OUT", "community_code": OUT_COMM, "status": "unemployed",
             "seeking_job": "true", "household_id": "H-OUT"},
        ],
        "employers": [
            {"employer_id": "E-IN", "credit_code": CREDIT, "name": "蜀山公司",
             "community_code": IN_COMM},
            {"employer_id": "E-OUT", "credit_code": CREDIT, "name": "庐阳公司",
             "community_code": OUT_COMM},
            {"employer_id": "E-NONE", "credit_code": CREDIT, "name": "无地址公司"},
        ],
        "vacancies": [
            {"vacancy_id": "V-IN", "employer_id": "E-IN", "community_code": IN_COMM,
             "lat": "31.85", "lon": "117.25", "title": "普工", "type": "full_time",
             "headcount": "2", "posted_on": "2026-01-05"},
            {"vacancy_id": "V-OUT", "employer_id": "E-OUT", "community_code": OUT_COMM,
             "lat": "31.87", "lon": "117.27", "title": "保洁", "type": "full_time",
             "headcount": "1", "posted_on": "2026-01-06"},
        ],
        "placements": [
            {"placement_id": "PL-IN", "person_id": "P-IN", "vacancy_id": "V-IN",
             "community_code": IN_COMM, "placed_at": "2026-02-01", "form": "employer"},
            {"placement_id": "PL-OUT", "person_id": "P-OUT", "vacancy_id": "V-OUT",
             "community_code": OUT_COMM, "placed_at": "2026-02-02", "form": "employer"},
        ],
        "assistance": [
            {"record_id": "A-IN", "person_id": "P-IN", "community_code": IN_COMM,
             "kind": "visit", "served_on": "2026-02-03"},
            {"record_id": "A-OUT", "person_id": "P-OUT", "community_code": OUT_COMM,
             "kind": "visit", "served_on": "2026-02-04"},
        ],
        # SPEC 6.1 KINDs: one record on either side (a fair of the county outside).
        "job_fairs": [
            {"fair_id": "F-IN", "region_code": SCOPE, "held_on": "2026-03-01",
             "title": "蜀山区招聘会", "mode": "onsite"},
            {"fair_id": "F-OUT", "region_code": OUT_COUNTY, "held_on": "2026-03-01",
             "title": "庐阳区招聘会", "mode": "onsite"},
        ],
        "trainings": [
            {"training_id": "T-IN", "person_id": "P-IN", "community_code": IN_COMM,
             "kind": "skills", "mode": "onsite", "started_on": "2026-02-01"},
            {"training_id": "T-OUT", "person_id": "P-OUT", "community_code": OUT_COMM,
             "kind": "skills", "mode": "onsite", "started_on": "2026-02-01"},
        ],
        "interviews": [
            {"interview_id": "I-IN", "person_id": "P-IN", "vacancy_id": "V-IN",
             "community_code": IN_COMM, "held_at": "2026-02-01T10:00", "mode": "remote"},
            {"interview_id": "I-OUT", "person_id": "P-OUT", "vacancy_id": "V-OUT",
             "community_code": OUT_COMM, "held_at": "2026-02-01T10:00", "mode": "remote"},
        ],
        "loans": [
            {"loan_id": "L-IN", "person_id": "P-IN", "community_code": IN_COMM,
             "granted_on": "2026-02-01", "amount": "100000"},
            {"loan_id": "L-OUT", "person_id": "P-OUT", "community_code": OUT_COMM,
             "granted_on": "2026-02-01", "amount": "100000"},
        ],
        "surveys": [
            {"response_id": "S-IN", "community_code": IN_COMM, "answered_on": "2026-02-01",
             "score": "5"},
            {"response_id": "S-OUT", "community_code": OUT_COMM,
             "answered_on": "2026-02-01", "score": "4"},
        ],
        "targets": [
            {"region_code": CITY, "metric": "placements.year", "year": "2026",
             "target": "1000"},
            {"region_code": OUT_COUNTY, "metric": "placements.year", "year": "2026",
             "target": "300"},
            {"region_code": SCOPE, "metric": "placements.year", "year": "2026",
             "target": "200"},
        ],
    }


ORDER = ("regions", "households", "persons", "employers", "vacancies", "placements",
         "assistance", "job_fairs", "trainings", "interviews", "loans", "surveys", "targets")


def record(kind: str, ident: str, region: str, n: int = 0) -> dict[str, Any]:
    """A valid record of KIND with id `ident` whose region column says `region`."""
    if kind == "regions":
        return {"code": ident, "name": f"新社区{n}", "level": "community",
                "parent_code": region, "lat": "31.86", "lon": "117.26"}
    if kind == "persons":
        return {"person_id": ident, "community_code": region, "status": "employed",
                "seeking_job": "false"}
    if kind == "households":
        return {"household_id": ident, "community_code": region,
                "zero_identified_on": "2026-03-01"}
    if kind == "employers":
        return {"employer_id": ident, "credit_code": CREDIT, "name": "hijack",
                "community_code": region}
    if kind == "vacancies":
        return {"vacancy_id": ident, "community_code": region, "lat": "31.86",
                "lon": "117.26", "title": "hijack", "type": "flexible", "headcount": "5",
                "posted_on": "2026-03-01"}
    if kind == "placements":
        return {"placement_id": ident, "person_id": "P-IN", "community_code": region,
                "placed_at": "2026-03-02", "form": "flexible"}
    if kind == "assistance":
        return {"record_id": ident, "person_id": "P-IN", "community_code": region,
                "kind": "guidance", "served_on": "2026-03-03"}
    if kind == "job_fairs":
        return {"fair_id": ident, "region_code": region, "held_on": "2026-03-05",
                "title": "hijack", "mode": "livestream", "views": "100"}
    if kind == "trainings":
        return {"training_id": ident, "person_id": "P-IN", "community_code": region,
                "kind": "skills", "mode": "remote", "started_on": "2026-03-03"}
    if kind == "interviews":
        return {"interview_id": ident, "person_id": "P-IN", "community_code": region,
                "held_at": "2026-03-03T09:00", "mode": "onsite"}
    if kind == "loans":
        return {"loan_id": ident, "person_id": "P-IN", "community_code": region,
                "granted_on": "2026-03-03", "amount": "50000"}
    if kind == "surveys":
        return {"response_id": ident, "community_code": region, "answered_on": "2026-03-03",
                "score": "4"}
    assert kind == "targets"
    return {"region_code": region, "metric": "placements.year", "year": str(2030 + n),
            "target": "99999"}


def dump(engine: Engine) -> dict[str, dict[tuple, tuple]]:
    """Every source table: primary key -> row."""
    out: dict[str, dict[tuple, tuple]] = {}
    with engine.connect() as conn:
        for kind in ORDER:
            t = TABLES[kind].__table__
            pk = [c.name for c in t.primary_key.columns]
            out[kind] = {
                tuple(r._mapping[c] for c in pk): tuple(r)
                for r in conn.execute(select(t))
            }
    return out


def region_of(kind: str, row: dict[str, Any]) -> list[str | None]:
    """The region columns of a stored row (a region is judged by its code and parent)."""
    if kind == "regions":
        return [row["code"], row["parent_code"]]
    if kind in ("targets", "job_fairs"):
        return [row["region_code"]]
    return [row["community_code"]]


def assert_nothing_outside_changed(engine: Engine, before: dict) -> dict:
    """Rows stored before are unchanged; rows added lie wholly inside the scope."""
    after = dump(engine)
    for kind in ORDER:
        t = TABLES[kind].__table__
        cols = [c.name for c in t.columns]
        for key, row in before[kind].items():
            assert after[kind].get(key) == row, (kind, key, row, after[kind].get(key))
        for key in after[kind].keys() - before[kind].keys():
            row = dict(zip(cols, after[kind][key], strict=True))
            for code in region_of(kind, row):
                assert code is not None and in_subtree(code, SCOPE), (kind, row)
    return after


# ---------------------------------------------------------------- the served app per backend
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Regions and records of two counties, served with DASHBOARD_AUTH=on."""
    admin = schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('xscope') / 'x.db'}"
    else:
        schema = "t_" + uuid.uuid4().hex[:12]
        try:
            admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        except Exception as err:  # noqa: BLE001
            _unavailable("PostgreSQL", err)
        url = pg_schema_url(schema)
    engine = make_engine(url)
    init_db(engine)
    for kind in ORDER:
        imported, rejected = import_records(engine, kind, base_data()[kind], tz=TZ)
        assert not rejected, (kind, rejected)
    app = create_app({"database_url": url, "auth": True, "secret_key": SECRET})
    served = Served(app.server)
    token = issue(engine, SECRET, SCOPE, "exchange", None, 30)[1]
    yield {"engine": engine, "base": served.base, "token": token, "url": url}
    served.stop()
    engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def post(site: dict, kind: str, records: list[Any]) -> dict[str, Any]:
    r = requests.post(f"{site['base']}/api/v1/exchange/{kind}", json=records, timeout=120,
                      headers={"Authorization": f"Bearer {site['token']}"})
    assert r.status_code == 200, r.text[:500]
    return r.json()


def reasons(body: dict[str, Any]) -> dict[int, str]:
    return {x["index"]: x["reason"] for x in body["rejected"]}


# ---------------------------------------------------------------- every alias of every column
@pytest.mark.parametrize("kind", ORDER)
def test_every_alias_of_every_region_column_is_scoped(site: dict, kind: str) -> None:
    before = dump(site["engine"])
    records: list[dict[str, Any]] = []
    out_idx: list[int] = []
    in_idx: list[int] = []
    n = 0
    for column in REGION_COLUMNS[kind]:
        for alias in aliases(kind, column):
            n += 1
            for inside in (False, True):
                tag = f"{'in' if inside else 'out'}-{column}-{n}-{uuid.uuid4().hex[:6]}"
                if kind == "regions":
                    # code: a new community on either side under an in-scope township;
                    # parent_code: a new in-scope code under a township on either side.
                    if column == "code":
                        ident = f"{'3401040011' if inside else '3401030031'}{n:02d}"
                        rec = record(kind, ident, IN_TOWN, n)
                    else:
                        ident = f"3401040012{n:02d}" if not inside else f"3401040013{n:02d}"
                        rec = record(kind, ident, IN_TOWN if inside else OUT_TOWN, n)
                    value = rec.pop(column)
                else:
                    rec = record(kind, tag, IN_COMM if inside else OUT_COMM, n)
                    if kind == "targets":
                        rec["region_code"] = IN_COMM if inside else CITY
                    value = rec.pop(column)
                rec[alias] = value
                (in_idx if inside else out_idx).append(len(records))
                records.append(rec)
    body = post(site, kind, records)
    why = reasons(body)
    assert sorted(why) == out_idx, {i: records[i] for i in set(why) ^ set(out_idx)}
    for i in out_idx:
        assert "scope" in why[i] and "超出" in why[i], (records[i], why[i])
    assert body["imported"] == len(in_idx)
    after = assert_nothing_outside_changed(site["engine"], before)
    assert len(after[kind]) == len(before[kind]) + len(in_idx)


# ---------------------------------------------------------------- ids stored in another region
def _hijacks() -> list[tuple[str, dict[str, Any]]]:
    """A record for every KIND with an id: an id stored outside the scope, sent with an
    in-scope region (and the id under each of its aliases)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for kind, ident in (("persons", "P-OUT"), ("households", "H-OUT"),
                        ("employers", "E-OUT"), ("employers", "E-NONE"),
                        ("vacancies", "V-OUT"), ("placements", "PL-OUT"),
                        ("assistance", "A-OUT"), ("regions", MOVED_COMM),
                        ("job_fairs", "F-OUT"), ("trainings", "T-OUT"),
                        ("interviews", "I-OUT"), ("loans", "L-OUT"), ("surveys", "S-OUT")):
        col = ID_COLUMN[kind]
        for alias in [col, col.upper(), f" {col} "] + [
                h for h, c in ALIASES[kind].items() if c == col]:
            rec = record(kind, ident, IN_TOWN if kind == "regions" else IN_COMM)
            rec[alias] = rec.pop(col)
            out.append((kind, rec))
    return out


def test_ids_stored_in_another_region_are_not_moved_or_changed(site: dict) -> None:
    before = dump(site["engine"])
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for kind, rec in _hijacks():
        by_kind.setdefault(kind, []).append(rec)
    for kind, records in by_kind.items():
        # Alias variants of the same id are duplicates within one request: one at a time.
        for rec in records:
            body = post(site, kind, [rec])
            assert body["imported"] == 0, (kind, rec)
            (reason,) = reasons(body).values()
            assert "belongs to another region" in reason and "属于其他区域" in reason, reason
    assert_nothing_outside_changed(site["engine"], before)
    with site["engine"].connect() as conn:
        title = conn.execute(text("SELECT title FROM vacancies WHERE vacancy_id = 'V-OUT'"))
        assert title.scalar_one() == "保洁"


def test_the_scope_root_and_regions_above_it_stay_put(site: dict) -> None:
    before = dump(site["engine"])
    records = [
        # Renaming the token's own region (its parent is outside the scope).
        {"code": SCOPE, "name": "hijack", "level": "county", "parent_code": CITY},
        {"区划代码": SCOPE, "区划名称": "hijack", "层级": "区", "上级代码": CITY},
        # Re-parenting it below itself.
        {"code": SCOPE, "name": "hijack", "level": "county", "parent_code": IN_TOWN},
        # A new root, and a new region under another county or the city.
        {"code": "340104002000", "name": "hijack", "level": "township"},
        {"code": "340104003000", "name": "hijack", "level": "township",
         "parent_code": OUT_COUNTY},
        {"code": "340104004000", "name": "hijack", "level": "township", "parent_code": CITY},
        {"Code": "340100000000", "Name": "hijack", "Level": "city",
         "Parent_Code": "340000000000"},
    ]
    body = post(site, "regions", records)
    assert body["imported"] == 0 and sorted(reasons(body)) == list(range(len(records)))
    assert_nothing_outside_changed(site["engine"], before)


def test_targets_only_for_in_scope_regions(site: dict) -> None:
    before = dump(site["engine"])
    records = [
        {"区划代码": CITY, "指标": "placements.year", "年度": "2026", "目标值": "1"},
        {"Region_Code ": OUT_COUNTY, "metric": "placements.year", "year": 2026, "target": 1},
        {"region_code": "340000000000", "metric": "placements.year", "year": 2026,
         "target": 1},
        {"region_code": SCOPE, "metric": "placements.year", "year": 2026, "target": 250},
    ]
    body = post(site, "targets", records)
    assert sorted(reasons(body)) == [0, 1, 2] and body["imported"] == 1
    before["targets"][(SCOPE, "placements.year", 2026)] = (SCOPE, "placements.year", 2026,
                                                             250.0)
    assert_nothing_outside_changed(site["engine"], before)


# ---------------------------------------------------------------- references out of scope
REFERENCE_CASES: list[tuple[str, str, str]] = [
    ("persons", "household_id", "H-OUT"),
    ("vacancies", "employer_id", "E-OUT"),
    ("vacancies", "employer_id", "E-NONE"),
    ("placements", "person_id", "P-OUT"),
    ("placements", "vacancy_id", "V-OUT"),
    ("assistance", "person_id", "P-OUT"),
    ("trainings", "person_id", "P-OUT"),
    ("interviews", "person_id", "P-OUT"),
    ("interviews", "vacancy_id", "V-OUT"),
    ("loans", "person_id", "P-OUT"),
]


@pytest.mark.parametrize(("kind", "column", "target"), REFERENCE_CASES)
def test_references_to_records_outside_the_scope(site: dict, kind: str, column: str,
                                                 target: str) -> None:
    before = dump(site["engine"])
    bad = record(kind, f"R-{uuid.uuid4().hex[:8]}", IN_COMM)
    bad[column] = target
    good = record(kind, f"R-{uuid.uuid4().hex[:8]}", IN_COMM)
    good[column] = {"H-OUT": "H-IN", "E-OUT": "E-IN", "E-NONE": "E-IN", "P-OUT": "P-IN",
                    "V-OUT": "V-IN"}[target]
    body = post(site, kind, [bad, good])
    assert body["imported"] == 1 and list(reasons(body)) == [0], body
    reason = reasons(body)[0]
    assert column in reason and "belongs to another region" in reason, reason
    after = assert_nothing_outside_changed(site["engine"], before)
    assert len(after[kind]) == len(before[kind]) + 1


def test_scoped_employer_needs_a_community(site: dict) -> None:
    before = dump(site["engine"])
    body = post(site, "employers", [{"employer_id": f"E-{uuid.uuid4().hex[:6]}",
                                      "credit_code": CREDIT, "name": "无地址"}])
    assert body["imported"] == 0 and "community_code" in body["rejected"][0]["reason"]
    assert_nothing_outside_changed(site["engine"], before)


def test_new_regions_under_in_scope_parents_in_any_order(site: dict) -> None:
    before = dump(site["engine"])
    town, comm = "340104005000", "340104005001"
    body = post(site, "regions", [
        {"code": comm, "name": "新社区", "level": "community", "parent_code": town,
         "lat": 31.8, "lon": 117.2},
        {"code": town, "name": "新街道", "level": "township", "parent_code": SCOPE},
    ])
    assert body == {"imported": 2, "rejected": []}
    assert_nothing_outside_changed(site["engine"], before)


# ---------------------------------------------------------------- the same rules for files
def test_scoped_file_import_follows_the_same_rules(site: dict, tmp_path: Path) -> None:
    before = dump(site["engine"])
    p = tmp_path / "persons.csv"
    with open(p, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["人员编号", " 社区代码 ", "就业状态", "求职意愿"])
        w.writerow(["F-OUT-1", OUT_COMM, "employed", "false"])
        w.writerow(["P-OUT", IN_COMM, "employed", "false"])
        w.writerow(["F-IN-1", IN_COMM, "employed", "false"])
    engine = site["engine"]
    r = import_file(engine, "persons", p, tz=TZ, progress=False,
                    scope=lambda code: in_subtree(code, SCOPE))
    assert (r.exit_code, r.imported, r.rejected) == (3, 1, 2)
    with open(r.rejects_path, encoding="utf-8-sig") as fh:
        rej = list(csv.DictReader(fh))
    assert "scope" in rej[0]["reason"] and "belongs to another region" in rej[1]["reason"]
    assert_nothing_outside_changed(engine, before)
