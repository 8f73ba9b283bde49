"""The models and the migrations describe the same schema (Alembic autogenerate finds no diff)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from queries.models import Base


def test_autogenerate_finds_no_difference(engine: Engine) -> None:
    """On SQLite and PostgreSQL, a database migrated to head matches queries.models."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "compare_server_default": False})
        diff = compare_metadata(ctx, Base.metadata)
    # alembic_version is Alembic's own table, not a model.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diff == [], diff
