"""The exchange KIND registry: one declaration, read by the importer, OpenAPI and the docs."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import inspect as sa_inspect

from queries import importer
from queries.domain import KINDS
from queries.exchange import docs
from queries.exchange.kinds import KIND_NAMES, REGISTRY
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
    assert KINDS is KIND_NAMES  # queries.domain.KINDS is a view, not a second list
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
