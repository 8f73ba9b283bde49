"""One bad value never sinks a file (issue 8 item 1): property tests per KIND and format.

Good rows are shuffled with rows in which one column holds a hostile value (empty, very
long, wrong type, impossible dates, NUL bytes, formula text, whitespace, full-width
digits, ...), then imported as CSV, XLSX, JSON Lines and through the HTTP exchange
endpoint. Whatever the mix: the exit status is 0 or 3; imported + rejected = rows read;
every good row is in the database with exactly its values; importing the same file again
changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from dashboard.app import create_app
from dashboard.tokens import issue
from queries.domain import KEY_GROUPS
from queries.importer import COLUMNS, ID_COLUMNS, TABLES, import_file, import_records
from queries.metrics import METRIC_KEYS
from queries.validation import get_or_create_salt, hash_id_number, make_id_number
from tests.httpserver import Served

TZ = "Asia/Shanghai"
SECRET = "test-secret-key-for-import-properties"
CREDIT = "91350100M000100Y43"
COUNTY, TOWN, COMM1, COMM2 = "340102000000", "340102001000", "340102001001", "340102001002"
KINDS = ("regions", "persons", "households", "employers", "vacancies", "placements",
         "assistance", "targets")
FORMATS = ("csv", "xlsx", "jsonl", "http")

FLOATS = {"lat", "lon", "target"}
INTS = {"population", "birth_year", "headcount", "salary_min", "salary_max", "year"}
DATES = {"registered_on", "zero_identified_on", "zero_cleared_on", "posted_on", "closed_on",
         "served_on"}

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


class RawJSON:
    """JSON text spliced into a record as it is (a number no encoder would write)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJSON({self.text[:20]}…)"


# Text any format can carry.
HOSTILE_TEXT: list[Any] = [
    "", " ", "\t \u3000 ", "x" * 5000, "9" * 300, "2026-02-30", "2026-13-01",
    "0000-00-00", "2026-02-30T10:00:00", "9999-12-31T23:00:00-10:00",
    "0001-01-01T00:00:00+14:00", '=HYPERLINK("http://x.example","领取补贴")',
    "+1+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "３４０１０２００１００１", "１２",
    "２０２６-０１-０１", "null", "NaN", "inf", "-1", "1e400", "true", "[]", "{}",
    "<script>alert(1)</script>", "line one\nline two", "34010200100", "3401020010011",
    "1" * 40,
]
# Text only CSV and JSON carry (XLSX cannot hold NUL).
HOSTILE_NUL: list[Any] = ["a\x00b", "\x00", "340102001001\x00"]
# Typed values of spreadsheets and JSON.
HOSTILE_TYPED: list[Any] = [0, -1, 10**20, 1.5, -0.0, True, False, None,
                            dt.datetime(2026, 2, 28, 13, 5), dt.datetime(1900, 1, 1)]
HOSTILE_JSON: list[Any] = [[], {}, [1, "a"], {"a": 1}, float("nan"), float("inf"), "\ud800",
                           RawJSON("1" * 5000), RawJSON("1e999"), RawJSON("[" * 50 + "]" * 50)]

HOSTILE: dict[str, list[Any]] = {
    "csv": HOSTILE_TEXT + HOSTILE_NUL,
    "xlsx": HOSTILE_TEXT + [v for v in HOSTILE_TYPED],
    "jsonl": HOSTILE_TEXT + HOSTILE_NUL + HOSTILE_TYPED[:8] + HOSTILE_JSON,
    # A number of 5,000 digits is more than Python's JSON parser reads: in a request body
    # that makes the whole body unreadable (400, like a file that cannot be read).
    "http": HOSTILE_TEXT + HOSTILE_NUL + HOSTILE_TYPED[:8] + HOSTILE_JSON[:7] + HOSTILE_JSON[8:],
}


# ---------------------------------------------------------------- good rows
def good_rows(kind: str, tag: str, n: int, serial: int) -> list[dict[str, str]]:
    """`n` valid rows of KIND with ids unique to this example (values as canonical text)."""
    rows: list[dict[str, str]] = []
    if kind == "regions":
        # Township digits are 3 (001–999) whatever the serial: a module with more KINDs
        # draws more examples, and serial 1000 made 13-digit codes (not 000: the county).
        serial = 1 + serial % 999
        town = f"340102{serial:03d}000"
        rows.append({"code": town, "name": f"街道{serial}", "level": "township",
                     "parent_code": COUNTY, "population": str(1000 + serial)})
        for i in range(1, n):
            rows.append({"code": f"340102{serial:03d}{i:03d}", "name": f"社区{serial}-{i}",
                         "level": "community", "parent_code": town,
                         "lat": f"31.{800 + i}", "lon": f"117.{300 + i}",
                         "population": str(100 * i) if i % 2 else ""})
        return rows
    for i in range(n):
        ident = f"{tag}g{i}"
        comm = COMM1 if i % 2 else COMM2
        if kind == "persons":
            rows.append({
                "person_id": ident, "community_code": comm,
                "id_number": make_id_number("340102", dt.date(1980 + i, 1 + i % 12, 1 + i),
                                            i) if i % 2 == 0 else "",
                "gender": "MF"[i % 2], "birth_year": str(1980 + i), "education": "高中",
                "status": ("employed", "flexible", "unemployed", "inactive")[i % 4],
                "seeking_job": ("true", "false")[i % 2],
                "key_groups": ";".join(KEY_GROUPS[: i % 3]), "registered_on":
                f"2026-01-{1 + i:02d}", "household_id": "H1" if i % 2 else ""})
        elif kind == "households":
            rows.append({"household_id": ident, "community_code": comm,
                         "zero_identified_on": f"2026-02-{1 + i:02d}",
                         "zero_cleared_on": f"2026-03-{1 + i:02d}" if i % 2 else ""})
        elif kind == "employers":
            rows.append({"employer_id": ident, "credit_code": CREDIT, "name": f"公司{i}",
                         "industry": "制造业" if i % 2 else "", "community_code": comm})
        elif kind == "vacancies":
            rows.append({"vacancy_id": ident, "employer_id": "E1" if i % 2 else "",
                         "community_code": comm, "lat": f"31.8{i}", "lon": f"117.2{i}",
                         "title": f"岗位{i}", "type": "full_time", "headcount": str(1 + i),
                         "salary_min": "3000", "salary_max": str(3000 + 500 * i),
                         "industry": "服务业", "posted_on": f"2026-01-{1 + i:02d}",
                         "closed_on": f"2026-04-{1 + i:02d}" if i % 2 else ""})
        elif kind == "placements":
            at = ("2026-03-05", "2026-03-01T09:30:00", "2026-03-01T20:00:00+00:00")[i % 3]
            rows.append({"placement_id": ident, "person_id": "P1",
                         "vacancy_id": "V1" if i % 2 else "", "community_code": comm,
                         "placed_at": at, "form": "employer"})
        elif kind == "assistance":
            rows.append({"record_id": ident, "person_id": "P1", "community_code": comm,
                         "kind": "visit", "served_on": f"2026-02-{1 + i:02d}"})
        else:
            rows.append({"region_code": comm, "metric": METRIC_KEYS[i],
                         "year": str(2000 + serial % 100), "target": f"{10 + i}.5"})
    return rows


def fresh_copy(kind: str, row: dict[str, str], tag: str, j: int, serial: int) -> dict:
    """A copy of a good row under an id no good row has."""
    out = dict(row)
    if kind == "regions":
        out.update(code=f"340102{serial:03d}{500 + j:03d}", level="community",
                   parent_code=f"340102{serial:03d}000", lat="31.9", lon="117.1")
    elif kind == "targets":
        out["metric"] = METRIC_KEYS[-1 - j]
    else:
        out[ID_COLUMNS[kind][0]] = f"{tag}h{j}"
    return out


PLACED = {"2026-03-05": dt.datetime(2026, 3, 5), "2026-03-01T09:30:00":
          dt.datetime(2026, 3, 1, 9, 30), "2026-03-01T20:00:00+00:00":
          dt.datetime(2026, 3, 2, 4, 0)}


def expected(kind: str, row: dict[str, str], salt: str) -> dict[str, Any]:
    """The stored form of a good row, worked out by hand (not by the importer)."""
    d: dict[str, Any] = {}
    for c in COLUMNS[kind]:
        v: Any = row.get(c) or None
        if v is not None:
            if c in FLOATS:
                v = float(v)
            elif c in INTS:
                v = int(v)
            elif c in DATES:
                v = dt.date.fromisoformat(v)
        d[c] = v
    if kind == "persons":
        idn = d.pop("id_number")
        d["id_hash"] = hash_id_number(idn, salt) if idn else None
        d["seeking_job"] = d["seeking_job"] == "true"
        groups = (d.pop("key_groups") or "").split(";")
        for g in KEY_GROUPS:
            d[f"kg_{g}"] = g in groups
    if kind == "placements":
        d["placed_at"] = PLACED[row["placed_at"]]
        d["placed_on"] = d["placed_at"].date()
    return d


def stored(engine: Engine, kind: str, rows: list[dict[str, str]]) -> dict[tuple, dict]:
    t = TABLES[kind].__table__
    ids = ID_COLUMNS[kind]
    out: dict[tuple, dict] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(t)).mappings():
            out[tuple(r[c] for c in ids)] = dict(r)
    return out


def key_of(kind: str, row: dict[str, str]) -> tuple:
    if kind == "targets":
        return (row["region_code"], row["metric"], int(row["year"]))
    return (row[ID_COLUMNS[kind][0]],)


def dump(engine: Engine) -> dict[str, list[tuple]]:
    out = {}
    with engine.connect() as conn:
        for kind in KINDS:
            t = TABLES[kind].__table__
            out[kind] = sorted(tuple(map(repr, r)) for r in conn.execute(select(t)))
    return out


# ---------------------------------------------------------------- writers
def typed(col: str, v: Any, fmt: str) -> Any:
    """A good value as a spreadsheet or JSON producer would type it."""
    if not isinstance(v, str) or v == "":
        return None if v == "" else v
    if col in FLOATS | INTS:
        f = float(v)
        return int(f) if f.is_integer() and col in INTS else f
    if fmt == "xlsx" and col in DATES:
        return dt.datetime.fromisoformat(v)
    if fmt != "xlsx" and col == "seeking_job":
        return v == "true"
    return v


def json_text(obj: dict[str, Any]) -> str:
    parts = []
    for k, v in obj.items():
        val = v.text if isinstance(v, RawJSON) else json.dumps(v, ensure_ascii=True)
        parts.append(f"{json.dumps(k)}:{val}")
    return "{" + ",".join(parts) + "}"


def write(path: Path, kind: str, rows: list[dict[str, Any]], hostile: dict[int, str],
          fmt: str) -> None:
    """Rows in the format; the hostile column of a bad row is written exactly as drawn."""
    cols = COLUMNS[kind]
    if fmt == "csv":
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for r in rows:
                w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    elif fmt == "xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(list(cols))
        for i, r in enumerate(rows):
            ws.append([r.get(c) if hostile.get(i) == c else typed(c, r.get(c, ""), fmt)
                       for c in cols])
        wb.save(path)
    else:
        with open(path, "w", encoding="utf-8") as fh:
            for i, r in enumerate(rows):
                fh.write(json_text(record(r, hostile.get(i), fmt)) + "\n")


def record(r: dict[str, Any], hostile_col: str | None, fmt: str) -> dict[str, Any]:
    """A JSON record: good values typed, the hostile one as drawn (even when empty)."""
    return {c: (v if c == hostile_col else typed(c, v, fmt))
            for c, v in r.items() if v != "" or c == hostile_col}


# ---------------------------------------------------------------- fixtures
def _base(engine: Engine) -> None:
    data = {
        "regions": [
            {"code": "340000000000", "name": "安徽省", "level": "province"},
            {"code": "340100000000", "name": "合肥市", "level": "city",
             "parent_code": "340000000000"},
            {"code": COUNTY, "name": "瑶海区", "level": "county",
             "parent_code": "340100000000"},
            {"code": TOWN, "name": "明光路街道", "level": "township", "parent_code": COUNTY},
            {"code": COMM1, "name": "胜利路社区", "level": "community", "parent_code": TOWN,
             "lat": "31.87", "lon": "117.30"},
            {"code": COMM2, "name": "大通路社区", "level": "community", "parent_code": TOWN,
             "lat": "31.86", "lon": "117.31"},
        ],
        "households": [{"household_id": "H1", "community_code": COMM1}],
        "persons": [{"person_id": "P1", "community_code": COMM1, "status": "unemployed",
                     "seeking_job": "true"}],
        "employers": [{"employer_id": "E1", "credit_code": CREDIT, "name": "某公司",
                       "community_code": COMM1}],
        "vacancies": [{"vacancy_id": "V1", "employer_id": "E1", "community_code": COMM1,
                       "lat": "31.87", "lon": "117.3", "title": "普工", "type": "full_time",
                       "headcount": "2", "posted_on": "2026-01-02"}],
    }
    for kind, rows in data.items():
        assert import_records(engine, kind, rows, tz=TZ)[1] == []


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The migrated database of each backend with regions and referenced records."""
    _base(engine)
    return engine


@pytest.fixture
def http(db: Engine, db_url: str) -> Iterator[dict[str, Any]]:
    """The app served over HTTP with DASHBOARD_AUTH=on and a city exchange token."""
    app = create_app({"database_url": db_url, "auth": True, "secret_key": SECRET})
    served = Served(app.server)
    token = issue(db, SECRET, "340100000000", "exchange", None, 30)[1]
    yield {"base": served.base, "token": token}
    served.stop()


# ---------------------------------------------------------------- the property
@st.composite
def mixes(draw: st.DrawFn, kind: str, fmt: str) -> tuple[int, list[tuple[str, Any]], list]:
    """How many good rows, the hostile (column, value) of each bad row, and the order."""
    n_good = draw(st.integers(2, 6))
    bad = draw(st.lists(st.tuples(st.sampled_from(COLUMNS[kind]),
                                  st.sampled_from(HOSTILE[fmt])), min_size=1, max_size=6))
    order = draw(st.permutations(range(n_good + len(bad))))
    return n_good, bad, order


def _rows(kind: str, mix: tuple, serial: int) -> tuple[list[dict], list[dict], dict[int, str]]:
    n_good, bad, order = mix
    tag = f"x{serial}"
    good = good_rows(kind, tag, n_good, serial)
    hostile_rows = []
    for j, (col, value) in enumerate(bad):
        row: dict[str, Any] = fresh_copy(kind, good[j % len(good)], tag, j, serial)
        row[col] = value
        hostile_rows.append(row)
    every = good + hostile_rows
    rows = [every[i] for i in order]
    hostile = {pos: bad[i - len(good)][0] for pos, i in enumerate(order) if i >= len(good)}
    return good, rows, hostile


def check_good_rows(engine: Engine, kind: str, good: list[dict[str, str]]) -> None:
    salt = get_or_create_salt(engine) if kind == "persons" else ""
    have = stored(engine, kind, good)
    for row in good:
        got = have.get(key_of(kind, row))
        assert got is not None, f"good row missing: {row}"
        want = expected(kind, row, salt)
        assert {c: got[c] for c in want} == want, row


_serials = itertools.count(2)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
@pytest.mark.parametrize("kind", KINDS)
def test_hostile_values_never_sink_a_file(db: Engine, tmp_path: Path, kind: str,
                                          fmt: str) -> None:
    @SETTINGS
    @given(mix=mixes(kind, fmt))
    def run(mix: tuple) -> None:
        serial = next(_serials)
        good, rows, hostile = _rows(kind, mix, serial)
        path = tmp_path / f"{kind}-{serial}.{fmt}"
        write(path, kind, rows, hostile, fmt)
        r = import_file(db, kind, path, tz=TZ, progress=False)
        assert r.error is None, r.error
        assert r.exit_code in (0, 3)
        assert r.read == len(rows)
        assert r.imported + r.rejected == r.read
        assert r.imported >= len(good)
        if r.rejected:
            with open(r.rejects_path, encoding="utf-8-sig", newline="") as fh:
                assert len(list(csv.DictReader(fh))) == r.rejected
        check_good_rows(db, kind, good)
        before = dump(db)
        again = import_file(db, kind, path, tz=TZ, progress=False)
        assert (again.exit_code, again.imported, again.rejected) == (
            r.exit_code, r.imported, r.rejected)
        assert dump(db) == before

    run()


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_values_over_the_exchange_endpoint(db: Engine, http: dict, kind: str) -> None:
    url = f"{http['base']}/api/v1/exchange/{kind}"
    headers = {"Authorization": f"Bearer {http['token']}",
               "Content-Type": "application/json"}

    @SETTINGS
    @given(mix=mixes(kind, "http"))
    def run(mix: tuple) -> None:
        serial = next(_serials)
        good, rows, hostile = _rows(kind, mix, serial)
        body = "[" + ",".join(json_text(record(r, hostile.get(i), "http"))
                              for i, r in enumerate(rows)) + "]"
        resp = requests.post(url, data=body.encode("utf-8", "surrogatepass"),
                             headers=headers, timeout=120)
        assert resp.status_code == 200, resp.text[:300]
        out = resp.json()
        assert out["imported"] + len(out["rejected"]) == len(rows)
        assert {x["index"] for x in out["rejected"]} <= set(hostile)
        check_good_rows(db, kind, good)
        before = dump(db)
        again = requests.post(url, data=body.encode("utf-8", "surrogatepass"),
                              headers=headers, timeout=120).json()
        assert again == out
        assert dump(db) == before

    run()


def test_one_impossible_date_rejects_one_row(db: Engine, tmp_path: Path) -> None:
    """The reported case: 1,813 placements, one placed_at 2026-13-01."""
    rows = [{"placement_id": f"L{i}", "person_id": "P1", "community_code": COMM1,
             "placed_at": "2026-13-01" if i == 900 else "2026-03-05", "form": "flexible"}
            for i in range(1813)]
    path = tmp_path / "placements.csv"
    write(path, "placements", rows, {}, "csv")
    r = import_file(db, "placements", path, tz=TZ, progress=False)
    assert (r.exit_code, r.read, r.imported, r.rejected) == (3, 1813, 1812, 1)
    with open(r.rejects_path, encoding="utf-8-sig", newline="") as fh:
        (rej,) = list(csv.DictReader(fh))
    assert rej["line"] == "902" and "placed_at" in rej["reason"]


def test_a_stray_byte_rejects_its_row_only(db: Engine, tmp_path: Path) -> None:
    path = tmp_path / "households.csv"
    lines = [b"household_id,community_code"] + [
        f"S{i},{COMM1}".encode() for i in range(5)]
    lines[3] = b"S2\xff," + COMM1.encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    r = import_file(db, "households", path, tz=TZ, progress=False)
    assert (r.exit_code, r.imported, r.rejected) == (3, 4, 1)
    with open(r.rejects_path, encoding="utf-8-sig", newline="") as fh:
        (rej,) = list(csv.DictReader(fh))
    assert rej["line"] == "4" and "UTF-8" in rej["reason"]


# ---------------------------------------------------------------- every later stage, per row
@pytest.mark.parametrize("stage", ["conversion", "upsert"])
def test_a_row_failing_a_later_stage_is_a_reject(db: Engine, tmp_path: Path, stage: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A row that passes validation but fails to convert or to be written is a reject."""
    from queries import importer

    real = importer._Importer._db_row

    def faulty(self: Any, m: Any, placed_at: Any) -> dict[str, Any]:
        row = real(self, m, placed_at)
        if row["placement_id"] == "L3":
            if stage == "conversion":
                raise KeyError("simulated")
            row["placed_at"] = "not a time"  # no database stores this in a timestamp
        return row

    monkeypatch.setattr(importer._Importer, "_db_row", faulty)
    rows = [{"placement_id": f"L{i}", "person_id": "P1", "community_code": COMM1,
             "placed_at": "2026-03-05", "form": "flexible"} for i in range(7)]
    path = tmp_path / "placements.csv"
    write(path, "placements", rows, {}, "csv")
    r = import_file(db, "placements", path, tz=TZ, progress=False, chunk_size=3)
    assert (r.exit_code, r.read, r.imported, r.rejected) == (3, 7, 6, 1), r.error
    with open(r.rejects_path, encoding="utf-8-sig", newline="") as fh:
        (rej,) = list(csv.DictReader(fh))
    assert rej["placement_id"] == "L3" and rej["line"] == "5"
    assert ("converted" if stage == "conversion" else "database refused") in rej["reason"]
    have = stored(db, "placements", rows)
    assert sorted(k[0] for k in have) == [f"L{i}" for i in range(7) if i != 3]


def test_a_row_failing_an_unforeseen_parser_error_is_a_reject(
        db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from queries import importer

    real = importer.MODELS["households"].model_validate

    def validate(obj: Any, *a: Any, **kw: Any) -> Any:
        if obj.get("household_id") == "B":
            raise TypeError("simulated")
        return real(obj, *a, **kw)

    monkeypatch.setattr(importer.MODELS["households"], "model_validate", validate)
    path = tmp_path / "households.csv"
    write(path, "households", [{"household_id": h, "community_code": COMM1}
                               for h in "ABC"], {}, "csv")
    r = import_file(db, "households", path, tz=TZ, progress=False)
    assert (r.exit_code, r.imported, r.rejected) == (3, 2, 1)
