"""Real databases for the SQL sink's tests: a SQLite file in the test's folder, and the
PostgreSQL on 127.0.0.1 (``POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``).

Fixtures:

- ``sql_config`` (function, parametrized: ``sqlite`` and ``postgresql``): a `SqlLogConfig`
  naming a table of the test's own; the PostgreSQL table is dropped after the test.
- ``sqlite_config`` / ``postgres_config``: one of the two only.
- ``stall``: ``with stall(config): ...`` holds a lock on the table that the sink's writes wait
  for (SQLite: ``BEGIN EXCLUSIVE``; PostgreSQL: ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE``
  in another connection), so a test stalls the writer without sleeping.
- ``admin``: a plain connection to the same database, for looking at the table directly.
- ``make_record``: an `IntegrationLogRecord` with any field overridden.

Where psycopg is not installed or PostgreSQL does not answer, the PostgreSQL cases skip with
the reason; with ``NEXUS_REQUIRE_SERVICES=1`` (``.ci/run`` sets it) they fail instead, as the
Redis tests do. With ``--import-mode=importlib`` test modules cannot import this file:
everything a test needs is a fixture.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import msgspec
import pytest

from nexus_connector_core._observe import IntegrationLogRecord
from nexus_connector_core._sql_log_config import SqlLogConfig
from nexus_connector_core._sql_log_store import open_database

POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def service_missing(reason: str) -> NoReturn:
    """Skip the test for want of a server, or fail it when services are required (CI)."""
    if os.environ.get("NEXUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (NEXUS_REQUIRE_SERVICES=1: a missing service fails)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL the tests use, once it answered."""
    try:
        import psycopg
    except ImportError:
        service_missing(
            "psycopg is not installed: pip install 'nexus-connector-core[postgresql]' "
            "(the test extra has it)"
        )
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        service_missing(f"no PostgreSQL answers at POSTGRES_URL={POSTGRES_URL}: {exc}")
    return POSTGRES_URL


def _table() -> str:
    return f"nexus_log_test_{secrets.token_hex(6)}"


@pytest.fixture
def sqlite_config(tmp_path: Path) -> SqlLogConfig:
    return SqlLogConfig(url=f"sqlite:///{tmp_path / 'log.db'}", table=_table())


@pytest.fixture
def postgres_config(postgres_url: str) -> Iterator[SqlLogConfig]:
    import psycopg

    config = SqlLogConfig(url=postgres_url, table=_table())
    yield config
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'DROP TABLE IF EXISTS "{config.table}"')


@pytest.fixture(params=["sqlite", "postgres"])
def sql_config(request: pytest.FixtureRequest) -> SqlLogConfig:
    """The same test on both databases."""
    config: SqlLogConfig = request.getfixturevalue(f"{request.param}_config")
    return config


@pytest.fixture
def admin() -> Callable[[SqlLogConfig], Any]:
    """``admin(config)``: a new autocommit connection to the config's database."""

    def connect(config: SqlLogConfig) -> Any:
        if config.dialect == "sqlite":
            return sqlite3.connect(config.sqlite_path, isolation_level=None)
        import psycopg

        return psycopg.connect(config.url, autocommit=True)

    return connect


def ensure_table(config: SqlLogConfig) -> None:
    database = open_database(config)
    connection = database.connect()
    try:
        database.ensure_schema(connection)
    finally:
        connection.close()


@pytest.fixture
def stall(admin: Callable[[SqlLogConfig], Any]) -> Callable[[SqlLogConfig], Any]:
    """``with stall(config):`` the table exists and every write to it waits until the block
    ends (a lock held by another connection)."""

    @contextmanager
    def hold(config: SqlLogConfig) -> Iterator[None]:
        ensure_table(config)
        connection = admin(config)
        try:
            if config.dialect == "sqlite":
                connection.execute("BEGIN EXCLUSIVE")
            else:
                connection.execute("BEGIN")
                connection.execute(f'LOCK TABLE "{config.table}" IN ACCESS EXCLUSIVE MODE')
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()

    return hold


@pytest.fixture
def make_record() -> Callable[..., IntegrationLogRecord]:
    counter = iter(range(1_000_000))

    def make(**fields: Any) -> IntegrationLogRecord:
        n = next(counter)
        defaults: dict[str, Any] = {
            "id": f"{n:08d}{secrets.token_hex(8)}",
            "timestamp": datetime(2025, 1, 31, 12, 0, n % 60, n, tzinfo=UTC),
            "connector": "email",
            "vendor": "memory",
            "operation": "send",
            "status": "ok",
            "attempts": 1,
            "duration_ms": 1.25,
        }
        return msgspec.convert({**defaults, **fields}, IntegrationLogRecord)

    return make
