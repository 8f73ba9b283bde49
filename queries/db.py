"""Engine creation and schema migration (Alembic) for SQLite, PostgreSQL and MySQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, Float, create_engine, event, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


# MySQL/MariaDB read the generic types narrowly: FLOAT is single precision (a worksite's
# coordinates lose metres, so a 3 km circle edge moves) and DATETIME keeps whole seconds
# (a sub-second lease rounds away). Tables made by the migrations get the wide types there;
# other databases are unchanged.
@compiles(Float, "mysql", "mariadb")
def _mysql_double(_type: Float, _compiler: Any, **_kw: Any) -> str:
    return "DOUBLE"


@compiles(DateTime, "mysql", "mariadb")
def _mysql_datetime6(_type: DateTime, _compiler: Any, **_kw: Any) -> str:
    return "DATETIME(6)"


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so readers never block."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _pg_custom_plans)
    return engine


def _pg_custom_plans(dbapi_conn: Any, _record: Any) -> None:
    """Plan each statement for its own parameters.

    psycopg prepares a statement on its fifth run; PostgreSQL then switches to a generic
    plan, and for `community_code IN (…)` with per-person EXISTS probes that plan was 5-10×
    slower (0.53-0.64 s against 0.05-0.10 s for 14 communities at 1 M persons): a
    scheduler repeating the same increment every few minutes would hit it for good.
    """
    cur = dbapi_conn.cursor()
    try:
        cur.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_conn.commit()
    except Exception:  # noqa: BLE001 - before PostgreSQL 12 there is no such setting
        dbapi_conn.rollback()
    finally:
        cur.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to the engine, objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def init_db(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to the latest (or the given) Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # configparser treats "%" as interpolation: escape URL-encoded options.
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    cfg.set_main_option("sqlalchemy.url", url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        if conn.dialect.name in ("mysql", "mariadb") and revision == "head":
            _widen_mysql_types(conn)


def _widen_mysql_types(conn: Any) -> None:
    """FLOAT → DOUBLE and DATETIME → DATETIME(6) on tables an earlier release made.

    Migrations now create the wide types on MySQL/MariaDB (see the @compiles hooks above);
    a database created before them is converted here, once (idempotent: nothing is left
    to convert the next time). No column here has a server default to carry over.
    """
    rows = conn.execute(text(
        "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_NULLABLE FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'alembic_version' AND"
        " (DATA_TYPE = 'float' OR (DATA_TYPE = 'datetime' AND DATETIME_PRECISION = 0))"
    )).all()
    for table, column, kind, nullable in rows:
        wide = "DOUBLE" if kind == "float" else "DATETIME(6)"
        null = "NULL" if nullable == "YES" else "NOT NULL"
        conn.execute(text(f"ALTER TABLE `{table}` MODIFY `{column}` {wide} {null}"))
