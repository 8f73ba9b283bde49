"""The exchange KIND registry: one declaration, read by the importer, OpenAPI and the docs."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Date, DateTime, Engine, Integer, String, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from queries import importer
from queries.exchange import docs
from queries.exchange.fields import CODE, ID, INT, LOCAL_DATETIME, Column, RowError, enum
from queries.exchange.kinds import KIND_NAMES, REGISTRY, Kind
from queries.exchange.kinds import KIND_NAMES as KINDS
from queries.exchange.pipeline import import_file, import_records
from queries.exchange.schema import schema_name

PACKAGE = Path(__file__).resolve().parents[1] / "queries" / "exchange"


def test_committed_doc_is_current() -> None:
    """docs/exchange.md is what `python -m queries.exchange.docs` prints."""
    assert docs.DOC_PATH.read_text(encoding="utf-8") == docs.render(), (
        "run `python -m queries.exchange.docs > docs/exchange.md`")
    assert docs.main(["--check"]) == 0


def test_no_branch_on_a_kind_name_in_the_pipeline() -> None:
    """Behaviour per KIND comes from its declaration, never from `if kind == ...`."""
    names = "|".join(KINDS)
    pattern = re.compile(r"kind\s*(==|!=|in\s*\()|==\s*[\"'](" + names + r")[\"']")
    for path in PACKAGE.glob("*.py"):
        if path.name in ("kinds.py", "docs.py"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not pattern.search(line), f"{path.name}:{n}: {line.strip()}"


def test_every_kind_is_declared_once_and_everything_reads_the_declaration() -> None:
    assert KINDS is KIND_NAMES  # one list of KINDs, declared by the registry
    for kind, spec in REGISTRY.items():
        assert importer.COLUMNS[kind] == spec.column_names
        assert importer.ID_COLUMNS[kind] == spec.id
        assert importer.TABLES[kind] is spec.table
        assert importer.MODELS[kind] is spec.model
        assert set(spec.id) <= set(spec.required)
        assert list(spec.model.model_fields) == list(spec.column_names)
        for col, ref in spec.references:
            assert ref in REGISTRY, (kind, col, ref)
        for h, col in spec.aliases.items():
            assert importer.canonical_column(kind, f" {h} ") == col


def test_every_declared_column_has_a_place_in_its_table() -> None:
    """A column is stored under its name, or rewritten by its type (hash, flags, date)."""
    for kind, spec in REGISTRY.items():
        table = sa_inspect(spec.table).local_table
        names = set(table.columns.keys())
        for c in spec.columns:
            if c.type.store is None:
                assert c.name in names, (kind, c.name)
            if c.date_column:
                assert c.date_column in names, (kind, c.date_column)
        assert "id_hash" in names or not spec.needs_salt


def test_openapi_describes_each_kind_from_the_registry() -> None:
    from openapi_spec_validator import validate

    from dashboard.openapi import build_openapi

    doc = build_openapi("340000000000")
    validate(doc)
    op = doc["paths"]["/api/v1/exchange/{kind}"]["post"]
    assert op["parameters"][0]["schema"]["enum"] == list(KIND_NAMES)
    items = op["requestBody"]["content"]["application/json"]["schema"]["items"]["anyOf"]
    assert [i["$ref"].rsplit("/", 1)[1] for i in items] == [schema_name(k) for k in KIND_NAMES]
    for kind, spec in REGISTRY.items():
        schema = doc["components"]["schemas"][schema_name(kind)]
        assert list(schema["properties"]) == list(spec.column_names)
        assert schema["required"] == list(spec.required)


# ---------------------------------------------------------------- a KIND from its declaration
class _ScratchBase(DeclarativeBase):
    pass


class _Survey(_ScratchBase):
    """A scratch table for a KIND declared only in this test (SPEC 6.1 `surveys`-like)."""

    __tablename__ = "scratch_surveys"
    response_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12))
    answered_at: Mapped[dt.datetime] = mapped_column(DateTime)
    answered_on: Mapped[dt.date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(20))
    person_id: Mapped[str | None] = mapped_column(String(64))


def _score(m: Any) -> None:
    if m.score is not None and not 1 <= m.score <= 5:
        raise RowError(f"score: 评分须为 1–5 (score must be 1–5, got {m.score})")


SURVEYS = Kind("scratch_surveys", "满意度评价", _Survey, id=("response_id",), checks=(_score,),
               columns=(
                   Column("response_id", ID, ("评价编号",), required=True),
                   Column("community_code", CODE, required=True, region="community"),
                   Column("answered_at", LOCAL_DATETIME, ("评价时间",), required=True,
                          date_column="answered_on"),
                   Column("score", INT, ("评分",), required=True),
                   Column("channel", enum(("onsite", "phone"), {"现场": "onsite"}, "渠道"),
                          ("渠道",)),
                   Column("person_id", ID, ref="persons"),
               ))


def test_a_kind_declared_once_imports_and_is_documented(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Declaring a KIND (and having its table) is all the importer, OpenAPI and docs need."""
    from dashboard.openapi import build_openapi

    _ScratchBase.metadata.create_all(engine)
    monkeypatch.setitem(REGISTRY, SURVEYS.name, SURVEYS)
    comm, town = "340102001001", "340102001000"
    n, rej = import_records(engine, "regions", [
        {"code": "340100000000", "name": "合肥市", "level": "city"},
        {"code": "340102000000", "name": "瑶海区", "level": "county",
         "parent_code": "340100000000"},
        {"code": town, "name": "明光路街道", "level": "township", "parent_code": "340102000000"},
        {"code": comm, "name": "胜利路社区", "level": "community", "parent_code": town,
         "lat": 31.87, "lon": 117.30},
    ])
    assert (n, rej) == (4, [])
    path = tmp_path / "surveys.csv"
    path.write_text(
        "评价编号,社区代码,评价时间,评分,渠道,person_id\n"
        f"S1,{comm},2026-03-05T09:30:00+00:00,5,现场,\n"
        f"S2,{comm},2026-03-05,6,phone,\n"
        f"S3,{town},2026-03-05,4,,\n"
        f"S4,{comm},2026-03-06,3,,P9\n"
        f"S1,{comm},2026-03-07,1,,\n", encoding="utf-8")
    r = import_file(engine, SURVEYS.name, path, tz="Asia/Shanghai", progress=False)
    assert (r.exit_code, r.read, r.imported, r.rejected) == (3, 5, 1, 4), r.error
    with open(r.rejects_path or "", encoding="utf-8-sig", newline="") as fh:
        reasons = {row["评价编号"] + row["line"]: row["reason"] for row in csv.DictReader(fh)}
    assert reasons["S23"].startswith("score: 评分须为 1–5")
    assert "不是社区" in reasons["S34"]
    assert "no such persons id 'P9'" in reasons["S45"]
    assert "duplicate id" in reasons["S16"]
    with engine.connect() as conn:
        (row,) = conn.execute(select(_Survey.__table__)).all()
    assert row.response_id == "S1" and row.channel == "onsite" and row.score == 5
    assert row.answered_at == dt.datetime(2026, 3, 5, 17, 30)  # UTC 09:30 in Shanghai
    assert row.answered_on == dt.date(2026, 3, 5)
    assert "### `scratch_surveys` (满意度评价)" in docs.render()
    monkeypatch.setattr("dashboard.openapi.KIND_NAMES", tuple(REGISTRY))
    doc = build_openapi("340000000000")
    assert "ExchangeScratchSurveys" in doc["components"]["schemas"]
