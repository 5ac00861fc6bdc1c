"""``[observability.sql]`` is checked at load with the key's path and never quotes a
credential; the table the sink creates has a column for every field of a record."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from nexus_connector_core import ConfigError, load_config
from nexus_connector_core._observe import IntegrationLogRecord
from nexus_connector_core._sql_log import SqlCallLogger
from nexus_connector_core._sql_log_config import SqlLogConfig
from nexus_connector_core._sql_log_store import (
    COLUMNS,
    FIELDS,
    LogDatabase,
    LogFilter,
    LogUnavailableError,
    open_database,
)

SECRET = "Zq9-s3cr3t"


def _problems(sql: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, str]:
    source = {"observability": {"loggers": ["sql"], "sql": sql}}
    with pytest.raises(ConfigError) as caught:
        load_config(source, environ=environ or {})
    return {p.path or "": p.detail for p in caught.value.problems}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://db/log", "must start with sqlite:/// (a file"),
        ("sqlite:log.db", "a SQLite URL is sqlite:/// followed by a path"),
        ("sqlite:///:memory:", "must name a file"),
        ("sqlite:///logs/", "names no file"),
        ("sqlite:///log.db?mode=ro", "takes no query or fragment"),
        (f"postgresql://u:{SECRET}@db", "names no database"),
        (f"postgresql://u:{SECRET} x@db/log", "holds a space, a control or a non-ASCII"),
        (f"postgresql://u:{SECRET}#@db/log", "holds a `#`, which ends a URL"),
        (f"postgresql://u:{SECRET}@db/log@x", "has an `@` after the host"),
        ("postgresql://db/" + "x" * 5000, "longer than 4096 characters"),
    ],
)
def test_a_bad_url_is_refused_at_its_key_without_quoting_it(url: str, expected: str) -> None:
    problems = _problems({"url": url})
    assert expected in problems["observability.sql.url"]
    assert SECRET not in str(problems)


@pytest.mark.parametrize(
    ("sql", "key", "expected"),
    [
        ({"table": "Log"}, "table", "lower-case letters"),
        ({"table": "x" * 41}, "table", "1 to 40"),
        ({"table": "ops.log"}, "table", "SQLite takes a plain table name"),
        ({"password": "env:PG_PASSWORD"}, "password", "SQLite takes no password"),
        (
            {"url": f"postgresql://u:{SECRET}@db/log", "password": "env:PG_PASSWORD"},
            "password",
            "set here and in the url too",
        ),
        ({"url": "postgresql://db/log", "password": "env:NOT_SET"}, "password", "NOT_SET"),
        ({"batch_size": 0}, "batch_size", "from 1 to 100000"),
        ({"flush_interval": float("nan")}, "flush_interval", "from 0.001 to 3600"),
        ({"close_timeout": float("inf")}, "close_timeout", "from 0 to 3600"),
        ({"buffer_size": 2**70}, "buffer_size", "from 1 to 10000000"),
        ({"urll": "sqlite:///x.db"}, "urll", "did you mean 'url'?"),
    ],
)
def test_each_setting_is_checked_with_its_key_path(
    sql: dict[str, Any], key: str, expected: str
) -> None:
    problems = _problems(sql, environ={"PG_PASSWORD": "pw"})
    assert expected in problems[f"observability.sql.{key}"], problems
    assert SECRET not in str(problems)


def test_the_password_is_a_secret_reference_never_shown() -> None:
    config = load_config(
        {
            "observability": {
                "loggers": ["sql"],
                "sql": {"url": "postgresql://logger@db:5432/ops", "password": "env:PG_PASSWORD"},
            }
        },
        environ={"PG_PASSWORD": SECRET},
    )
    sql = config.observability.sql
    assert sql is not None
    assert sql.password is not None
    assert sql.password.reveal() == SECRET
    assert SECRET not in repr(sql) + repr(config.observability)
    assert sql.safe_url == "postgresql://db:5432/ops"
    assert "logger" not in repr(sql)


def test_a_relative_sqlite_path_is_the_config_files_folders_not_the_working_directorys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    path = folder / "connectors.toml"
    path.write_text(
        '[observability]\nloggers = ["sql"]\n[observability.sql]\nurl = "sqlite:///logs/x.db"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    sql = load_config(path).observability.sql
    assert sql is not None
    assert sql.sqlite_path == folder.resolve() / "logs" / "x.db"


def test_listing_sql_alone_uses_the_default_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text('[observability]\nloggers = ["logging", "sql"]\n', encoding="utf-8")
    sql = load_config(path).observability.sql
    assert sql == SqlLogConfig(url=f"sqlite:///{tmp_path.resolve()}/integration-log.db")


def test_an_unknown_logger_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"observability": {"loggers": ["sqlite"]}}, environ={})
    assert "'logging', 'memory', 'sql'" in str(caught.value)


# -- the table --------------------------------------------------------------------------


def test_the_table_has_a_column_for_every_field_of_a_record() -> None:
    # A field added to IntegrationLogRecord needs its column (and a row in the docs' table).
    assert IntegrationLogRecord.__struct_fields__ == FIELDS
    assert COLUMNS[0][0] == "seq"
    docs = (Path(__file__).parents[2] / "docs" / "observability.md").read_text(encoding="utf-8")
    rows = [line for line in docs.splitlines() if line.startswith("| `")]
    for name, sqlite_type, postgres_type in COLUMNS:
        row = next(line for line in rows if f"`{name}`" in line.split(" | ")[0])
        assert f"`{sqlite_type.split()[0]}" in row, name
        assert f"`{postgres_type.split()[0]}" in row, name


def test_creating_the_table_twice_or_at_once_is_harmless(
    sql_config: SqlLogConfig, admin: Callable[[SqlLogConfig], Any]
) -> None:
    failures: list[BaseException] = []
    rounds = 30 if sql_config.dialect == "sqlite" else 5
    for round_ in range(rounds):  # a race shows in some rounds only
        # A new SQLite file (or PostgreSQL table) each round: four workers start at once.
        config = msgspec.structs.replace(
            sql_config,
            table=f"{sql_config.table}_{round_}",
            url=sql_config.url.replace("log.db", f"log{round_}.db"),
        )
        database = open_database(config)
        start = threading.Barrier(4)

        def create(database: LogDatabase = database, start: threading.Barrier = start) -> None:
            try:
                start.wait(10)
                connection = database.connect()
                try:
                    database.ensure_schema(connection)
                    database.ensure_schema(connection)
                finally:
                    connection.close()
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=create) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        if config.dialect == "postgresql":
            with admin(config) as connection:
                connection.execute(f'DROP TABLE "{config.table}"')
    assert failures == []


def test_a_table_of_an_older_version_gets_the_new_columns(
    sql_config: SqlLogConfig,
    admin: Callable[[SqlLogConfig], Any],
    make_record: Callable[..., IntegrationLogRecord],
) -> None:
    old = [c for c in COLUMNS if c[0] not in ("trace_id", "cached")]
    kind = 1 if sql_config.dialect == "sqlite" else 2
    with admin(sql_config) as connection:
        connection.execute(
            f'CREATE TABLE "{sql_config.table}" ('
            + ", ".join(f'"{c[0]}" {c[kind]}' for c in old)
            + ")"
        )
    record = make_record(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", cached=True)
    sink = SqlCallLogger(sql_config)
    sink.emit(record)
    sink.close()
    database = open_database(sql_config)
    connection = database.connect(readonly=True)
    try:
        assert [r for _, r in database.select(connection, LogFilter())] == [record]
    finally:
        connection.close()


def test_a_table_that_is_not_a_log_is_left_alone(
    sqlite_config: SqlLogConfig, admin: Callable[[SqlLogConfig], Any]
) -> None:
    with admin(sqlite_config) as connection:
        connection.execute(f'CREATE TABLE "{sqlite_config.table}" (name TEXT)')
    database = open_database(sqlite_config)
    connection = database.connect()
    try:
        with pytest.raises(LogUnavailableError, match="exists but is not an integration-log"):
            database.ensure_schema(connection)
    finally:
        connection.close()
    with admin(sqlite_config) as connection:
        columns = connection.execute(f'PRAGMA table_info("{sqlite_config.table}")').fetchall()
    assert [c[1] for c in columns] == ["name"]


# -- the docs' examples -------------------------------------------------------------------

DOCS = Path(__file__).parents[2] / "docs"


def _toml_blocks(doc: str) -> list[str]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return [b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[observability.sql]" in b]


def test_the_documented_defaults_are_the_defaults(tmp_path: Path) -> None:
    (block,) = _toml_blocks("configuration.md")
    path = tmp_path / "connectors.toml"
    path.write_text(block, encoding="utf-8")
    documented = load_config(path).observability.sql
    assert documented == SqlLogConfig().resolved(tmp_path.resolve())


def test_the_observability_guide_example_loads(tmp_path: Path) -> None:
    (block,) = _toml_blocks("observability.md")
    path = tmp_path / "connectors.toml"
    path.write_text(block, encoding="utf-8")
    config = load_config(path)
    assert config.observability.loggers == ("logging", "sql")
    assert config.observability.sql is not None
    assert config.observability.sql.sqlite_path == tmp_path.resolve() / "integration-log.db"


def test_postgresql_writes_to_a_table_in_a_schema_of_its_own(
    postgres_config: SqlLogConfig,
    admin: Callable[[SqlLogConfig], Any],
    make_record: Callable[..., IntegrationLogRecord],
) -> None:
    schema = postgres_config.table.replace("nexus_log_test", "nexus_schema")
    config = msgspec.structs.replace(postgres_config, table=f"{schema}.integration_log")
    with admin(postgres_config) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        records = [make_record(), make_record(status="error")]
        sink = SqlCallLogger(config)
        for record in records:
            sink.emit(record)
        sink.close()
        database = open_database(config)
        connection = database.connect(readonly=True)
        try:
            assert [r for _, r in database.select(connection, LogFilter())] == records
        finally:
            connection.close()
        with admin(postgres_config) as connection:
            indexes = connection.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s ORDER BY indexname",
                (schema,),
            ).fetchall()
        assert [i[0] for i in indexes] == [
            "integration_log_connector_timestamp_idx",
            "integration_log_id_key",
            "integration_log_pkey",
            "integration_log_timestamp_idx",
        ]
    finally:
        with admin(postgres_config) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
