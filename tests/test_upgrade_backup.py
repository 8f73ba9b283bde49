"""Upgrade and backup (issue 15 items 5 and 6), on SQLite, PostgreSQL and MariaDB.

- A database made by the previous release (Alembic revision 0002) holding data is migrated
  by `init-db` to the newest revision with every row and value kept, and then serves.
- A backup made with pg_dump / mysqldump, restored into an empty database, serves the same
  answers as the original (docs/operations.md gives the same commands).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, create_engine, inspect, make_url, select, text

from dashboard.app import create_app
from queries.db import init_db, make_engine
from queries.refresh import refresh
from tests.conftest import MARIADB_URL, PG_URL, _unavailable
from tests.test_metrics_handmade import AS_OF, TZ, load

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2025, 3, 1, 8, 30, 15)

# Rows as the 0002 release wrote them (its columns only), with values worked out by hand.
OLD_ROWS: dict[str, list[dict]] = {
    "regions": [
        {"code": "340100000000", "name": "合肥市", "level": "city", "parent_code": None,
         "lat": None, "lon": None, "population": None},
        {"code": "340102000000", "name": "瑶海区", "level": "county",
         "parent_code": "340100000000", "lat": None, "lon": None, "population": 900000},
        {"code": "340102001000", "name": "明光路街道", "level": "township",
         "parent_code": "340102000000", "lat": None, "lon": None, "population": None},
        {"code": "340102001001", "name": "甲社区", "level": "community",
         "parent_code": "340102001000", "lat": 31.8669123, "lon": 117.3122456,
         "population": 8000},
    ],
    "persons": [
        {"person_id": "P1", "community_code": "340102001001", "id_hash": "ab" * 32,
         "gender": "F", "birth_year": 1990, "education": "本科", "status": "unemployed",
         "seeking_job": True, "kg_difficulty": True, "kg_registered_unemployed": True,
         "kg_graduate": False, "kg_poverty_alleviated": False, "kg_veteran": False,
         "kg_disabled": False, "kg_returnee": False, "registered_on": dt.date(2025, 1, 5),
         "household_id": None},
    ],
    "vacancies": [
        {"vacancy_id": "V1", "employer_id": None, "community_code": "340102001001",
         "lat": 31.8702345, "lon": 117.3099876, "title": "仓库管理员", "type": "full_time",
         "headcount": 3, "salary_min": 4000, "salary_max": 5500, "industry": "物流",
         "posted_on": dt.date(2025, 2, 20), "closed_on": None},
    ],
    "placements": [
        {"placement_id": "L1", "person_id": "P1", "vacancy_id": "V1",
         "community_code": "340102001001", "placed_at": T0, "placed_on": T0.date(),
         "form": "employer"},
    ],
    "targets": [
        {"region_code": "340102000000", "metric": "placements.year", "year": 2025,
         "target": 120.5},
    ],
    "tokens": [
        {"id": "0123456789abcdef", "region_code": "340102000000", "role": "leader",
         "panels": None, "issued_at": T0, "expires_at": None, "revoked_at": None,
         "last_used_at": None, "last_route": None, "last_region": None, "uses": 0},
    ],
}


def insert_old(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        for table, rows in OLD_ROWS.items():
            cols = list(rows[0])
            conn.execute(text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                              f"({', '.join(':' + c for c in cols)})"), rows)


def read_old(engine) -> dict[str, list[dict]]:  # noqa: ANN001
    """The old columns of the old tables, typed by the reflected schema, in key order."""
    out = {}
    meta = MetaData()
    with engine.connect() as conn:
        for table, rows in OLD_ROWS.items():
            t = Table(table, meta, autoload_with=conn)
            cols = [t.c[c] for c in rows[0]]
            got = conn.execute(select(*cols).order_by(cols[0])).mappings().all()
            out[table] = [dict(r) for r in got]
    return out


def normalised(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Booleans stored as integers and reflected DOUBLEs (Decimal, MariaDB) as Python's."""
    def value(k: str, v: object) -> object:
        if k.startswith(("kg_", "seeking")):
            return bool(v)
        return float(v) if isinstance(v, Decimal) else v

    return {t: [{k: value(k, v) for k, v in r.items()} for r in rows]
            for t, rows in tables.items()}


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "queries" / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_init_db_migrates_a_0002_database_without_losing_data(db_url: str) -> None:
    engine = make_engine(db_url)
    init_db(engine, "0002")
    insert_old(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
    before = read_old(engine)
    assert normalised(before) == OLD_ROWS  # what the old release stored, exactly

    init_db(engine)  # `python -m dashboard init-db` of the new release
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == head_revision()
    after = read_old(engine)
    assert normalised(after) == OLD_ROWS
    assert {"outbox_events", "job_fairs"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:  # columns added since 0002 are empty on old rows
        assert conn.execute(text("SELECT unemployed_since FROM persons")).scalar() is None
    init_db(engine)  # a second init-db changes nothing
    assert normalised(read_old(engine)) == OLD_ROWS
    # And it serves: the old rows aggregate into a snapshot the API answers from.
    assert refresh(engine, as_of=dt.datetime(2025, 3, 2, 12, tzinfo=dt.UTC), tz=TZ).status \
        == "ok"
    client = create_app({"database_url": db_url}).server.test_client()
    body = client.get("/api/v1/regions/340102000000/metrics").get_json()
    assert body["metrics"]["placements.year"] == 1
    engine.dispose()


# ---------------------------------------------------------------- backup and restore
def _answers(url: str) -> dict[str, object]:
    client = create_app({"database_url": url}).server.test_client()
    out = {}
    for code in ("340100000000", "340102000000", "340102001001"):
        resp = client.get(f"/api/v1/regions/{code}/metrics")
        assert resp.status_code == 200
        out[code] = resp.get_json()
    return out


def _served_database(url: str) -> dict[str, object]:
    """Migrate, load the hand-made data, refresh; the API's answers from it."""
    engine = make_engine(url)
    init_db(engine)
    load(engine)
    assert refresh(engine, as_of=AS_OF, tz=TZ).status == "ok"
    engine.dispose()
    return _answers(url)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _unavailable(f"{name} not installed")
    return path  # type: ignore[return-value]


def test_pg_dump_backup_restores_into_an_empty_database(pg_url: str) -> None:
    pg_dump, psql = _tool("pg_dump"), _tool("psql")
    original = _served_database(pg_url)

    src = make_url(PG_URL)
    schema = pg_url.split("search_path%3D", 1)[1]
    target = "restore_" + uuid.uuid4().hex[:10]
    conn_args = ["-h", src.host or "127.0.0.1", "-p", str(src.port or 5432),
                 "-U", src.username or "postgres"]
    dump = subprocess.run([pg_dump, *conn_args, "-n", schema, "--no-owner", "-d",
                           src.database or "test"], capture_output=True, timeout=120)
    assert dump.returncode == 0, dump.stderr.decode()
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{target}"'))
    try:
        restore = subprocess.run([psql, *conn_args, "-v", "ON_ERROR_STOP=1", "-q", "-d",
                                  target], input=dump.stdout, capture_output=True,
                                 timeout=120)
        assert restore.returncode == 0, restore.stderr.decode()
        restored_url = src.set(database=target).render_as_string(hide_password=False) + \
            f"?options=-csearch_path%3D{schema}"
        assert _answers(restored_url) == original
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
        admin.dispose()


def test_mysqldump_backup_restores_into_an_empty_database(mariadb_url: str) -> None:
    mysqldump = shutil.which("mariadb-dump") or _tool("mysqldump")
    client_bin = shutil.which("mariadb") or _tool("mysql")
    original = _served_database(mariadb_url)

    src = make_url(mariadb_url)
    target = "restore_" + uuid.uuid4().hex[:10]
    conn_args = ["-h", src.host or "127.0.0.1", "-P", str(src.port or 3306),
                 "-u", src.username or "root"]
    dump = subprocess.run([mysqldump, *conn_args, "--single-transaction", "--routines",
                           "--default-character-set=utf8mb4", src.database],
                          capture_output=True, timeout=120)
    assert dump.returncode == 0, dump.stderr.decode()
    admin = create_engine(MARIADB_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{target}` CHARACTER SET utf8mb4 "
                          "COLLATE utf8mb4_bin"))
    try:
        restore = subprocess.run([client_bin, *conn_args, "--default-character-set=utf8mb4",
                                  target], input=dump.stdout, capture_output=True,
                                 timeout=120)
        assert restore.returncode == 0, restore.stderr.decode()
        restored_url = src.set(database=target).render_as_string(hide_password=False)
        assert _answers(restored_url) == original
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{target}`"))
        admin.dispose()


def test_operations_doc_names_the_commands_tested_here() -> None:
    text_ = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for needle in ("pg_dump", "mysqldump", "init-db", "-n", "--single-transaction"):
        assert needle in text_


def test_init_db_widens_an_old_mariadb_databases_types(mariadb_url: str) -> None:
    """A MariaDB database made before DOUBLE/DATETIME(6): init-db converts it, keeping rows."""
    engine = make_engine(mariadb_url)
    init_db(engine, "0002")
    with engine.begin() as conn:  # the types the earlier release created on MariaDB
        conn.execute(text("ALTER TABLE regions MODIFY lat FLOAT NULL, MODIFY lon FLOAT NULL"))
        conn.execute(text("ALTER TABLE vacancies MODIFY lat FLOAT NOT NULL"))
        conn.execute(text("ALTER TABLE tokens MODIFY issued_at DATETIME NOT NULL"))
    insert_old(engine)
    init_db(engine)
    types = {}
    with engine.connect() as conn:
        for table, column, kind, prec, nullable in conn.execute(text(
                "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, DATETIME_PRECISION, IS_NULLABLE"
                " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()")):
            types[(table, column)] = (kind, prec, nullable)
    assert types[("regions", "lat")] == ("double", None, "YES")
    assert types[("vacancies", "lat")] == ("double", None, "NO")
    assert types[("tokens", "issued_at")] == ("datetime", 6, "NO")
    assert not [k for k, v in types.items() if v[0] == "float" or (v[0], v[1]) == ("datetime", 0)]
    got = normalised(read_old(engine))
    assert got["tokens"] == OLD_ROWS["tokens"] and got["persons"] == OLD_ROWS["persons"]
    # Stored as FLOAT before: kept to single precision (a few metres), not lost.
    assert got["regions"][3]["lat"] == pytest.approx(31.8669123, abs=1e-5)
    init_db(engine)  # nothing left to convert
    engine.dispose()
