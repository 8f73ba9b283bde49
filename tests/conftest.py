"""Shared fixtures: a fresh database on SQLite and on real PostgreSQL for each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from queries.db import init_db, make_engine

PG_URL = os.environ.get(
    "DASHBOARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "DASHBOARD_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
REDIS_URL = os.environ.get("DASHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(what: str, err: Exception) -> None:
    """Skip locally when a service is missing; under CI=true a missing service fails."""
    msg = f"{what} not reachable: {err}"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


def pg_schema_url(schema: str) -> str:
    """A PostgreSQL URL whose connections use their own schema (tests run side by side)."""
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database URL on real PostgreSQL, in a fresh schema dropped afterwards."""
    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as err:  # noqa: BLE001 - any connection failure means "not available"
        _unavailable("PostgreSQL", err)
    try:
        yield pg_schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # noqa: ANN001
    """A database URL of a new SQLite file."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A database URL on real MariaDB, in a fresh database dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    try:
        admin = create_engine(MARIADB_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    except Exception as err:  # noqa: BLE001 - any connection failure means "not available"
        _unavailable("MariaDB", err)
    try:
        yield admin.url.set(database=name, query={"charset": "utf8mb4"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


_DB_FIXTURES = {"sqlite": "sqlite_url", "postgresql": "pg_url", "mariadb": "mariadb_url"}


@pytest.fixture(params=list(_DB_FIXTURES))
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite, PostgreSQL and MariaDB."""
    return request.getfixturevalue(_DB_FIXTURES[request.param])


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    eng = make_engine(db_url)
    init_db(eng)
    yield eng
    eng.dispose()


# Test modules that write source rows straight into the database, past the importer
# (which marks the regions each change touches, queries.incremental), or that check the
# write path of a full batch: their refreshes are full ones, as a refresh after a hand
# edit in production must be (`refresh --full`, or the nightly rebuild).
PAST_THE_IMPORTER = {
    "test_api", "test_api_redis", "test_log_scan", "test_map", "test_metrics_handmade",
    "test_multihost", "test_ops_metrics", "test_query_params", "test_refresh_faults",
    "test_refresh_lock", "test_refresh_packed", "test_rollup", "test_services_metrics",
    "test_upgrade_backup", "test_wall_present",
}


@pytest.fixture(autouse=True)
def _full_refreshes_past_the_importer(request: pytest.FixtureRequest,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """DASHBOARD_INCREMENTAL=off for the modules in PAST_THE_IMPORTER."""
    if request.module.__name__.rsplit(".", 1)[-1] in PAST_THE_IMPORTER:
        monkeypatch.setenv("DASHBOARD_INCREMENTAL", "off")


@pytest.fixture
def redis_url() -> str:
    """A real Redis database for cache tests (flushed first)."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        client.ping()
        client.flushdb()
    except Exception as err:  # noqa: BLE001
        _unavailable("Redis", err)
    return REDIS_URL


# ---------------------------------------------------------------- no skips under CI
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Under CI=true a skipped test (a service, browser or package missing) is a failure."""
    outcome = yield
    rep = outcome.get_result()
    if IN_CI and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI=true, where every test must run: {reason}"


# ---------------------------------------------------------------- personal-data scan
from tests import pii  # noqa: E402

pii.install()
pii.install_log_scan()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when any response carried an identity- or mobile-shaped number."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"personal-data scan: {pii.SCANNED['responses']} responses, "
                            f"{pii.SCANNED['log_lines']} log lines, "
                            f"{len(pii.FINDINGS)} findings")
    if pii.FINDINGS:
        for finding in pii.FINDINGS[:20]:
            if reporter is not None:
                reporter.write_line(f"PERSONAL DATA IN RESPONSE OR LOG: {finding}")
        session.exitstatus = 1
