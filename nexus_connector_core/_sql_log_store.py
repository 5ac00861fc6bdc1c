"""The integration-log table in SQLite or PostgreSQL: its schema, writing rows, reading them.

One row per `IntegrationLogRecord`, a column per field (docs/integration-log.md shows the
table), plus ``seq``, the order rows were written in (``log tail --follow`` reads on from
it). The writer creates the table and its indexes when they are missing and adds the columns
of fields a newer version logs (``CREATE ... IF NOT EXISTS``, ``ALTER TABLE ... ADD
COLUMN``): the DDL is idempotent, and several workers may run it at once.

Nothing here buffers, retries or runs in the background: that is the sink (`_sql_log.py`).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote, unquote, urlsplit

import msgspec

from ._observe import IntegrationLogRecord
from ._sql_log_config import POSTGRESQL_EXTRA, SqlLogConfig

__all__ = [
    "COLUMNS",
    "INDEXES",
    "LogDatabase",
    "LogFilter",
    "LogUnavailableError",
    "Row",
    "is_row_problem",
    "open_database",
    "redacted",
    "to_row",
]

#: One row's values, in the order of `COLUMNS` (``seq`` excluded: the database assigns it).
Row = tuple[Any, ...]

#: The table's columns: name, SQLite type, PostgreSQL type. ``seq`` first, then one per
#: field of `IntegrationLogRecord` in its order (a test keeps the two in step).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("seq", "INTEGER PRIMARY KEY", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    ("id", "TEXT NOT NULL UNIQUE", "TEXT NOT NULL UNIQUE"),
    ("timestamp", "TEXT NOT NULL", "TIMESTAMPTZ NOT NULL"),
    ("connector", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("vendor", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("operation", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("status", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("attempts", "INTEGER", "INTEGER"),
    ("duration_ms", "REAL", "DOUBLE PRECISION"),
    ("vendor_status_code", "INTEGER", "INTEGER"),
    ("error_class", "TEXT", "TEXT"),
    ("error_message", "TEXT", "TEXT"),
    ("retryable", "INTEGER", "BOOLEAN"),
    ("idempotency_key", "TEXT", "TEXT"),
    ("trace_id", "TEXT", "TEXT"),
    ("fallback_from", "TEXT", "TEXT"),
    ("replayed", "INTEGER", "BOOLEAN"),
    ("cached", "INTEGER", "BOOLEAN"),
)
#: The record's fields, in column order.
FIELDS = tuple(name for name, _, _ in COLUMNS[1:])
#: Index name suffix and columns: time ranges, and one connector's time range.
INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("timestamp_idx", ("timestamp",)),
    ("connector_timestamp_idx", ("connector", "timestamp")),
)

#: The longest text a column keeps (an error message can be a vendor's whole answer).
MAX_TEXT = 4096
_INT32 = 2**31 - 1


class LogUnavailableError(Exception):
    """The log database cannot be reached or read; the message quotes no secret."""


class LogFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which records to read: every given field must match (times: ``since <= t < until``).

    `after_seq` reads the rows numbered after it (up to `through_seq`) in the order they were
    written, and those `recheck` names (for following the log); otherwise the `limit` most
    recent matches are read, oldest first.
    """

    connector: str | None = None
    vendor: str | None = None
    operation: str | None = None
    status: Literal["ok", "error"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None
    through_seq: int | None = None
    recheck: tuple[int, ...] = ()
    limit: int = 100


# -- records to rows ------------------------------------------------------------------------


def _text(value: str | None) -> str | None:
    """Text any database stores: no NUL (PostgreSQL refuses it), no lone surrogate (neither
    driver encodes one), at most `MAX_TEXT` characters."""
    if value is None:
        return None
    if len(value) > MAX_TEXT:
        value = value[: MAX_TEXT - 1] + "…"
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _int(value: int | None) -> int | None:
    return value if value is None or -_INT32 <= value <= _INT32 else None


def _timestamp(value: datetime | float) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromtimestamp(value, UTC)  # OverflowError, ValueError: a bad record


def to_row(record: IntegrationLogRecord) -> Row:
    """The values of one record, in column order. Raises (ValueError, OverflowError,
    TypeError) for a record no database would store, such as a non-finite timestamp."""
    duration = record.duration_ms
    return (
        _text(record.id),
        _timestamp(record.timestamp),
        _text(record.connector),
        _text(record.vendor),
        _text(record.operation),
        record.status,
        _int(record.attempts),
        duration if math.isfinite(duration) else None,
        _int(record.vendor_status_code),
        _text(record.error_class),
        _text(record.error_message),
        record.retryable,
        _text(record.idempotency_key),
        _text(record.trace_id),
        json.dumps([_text(v) for v in record.fallback_from]),
        record.replayed,
        record.cached,
    )


def _record(values: Sequence[Any], timestamp: datetime) -> IntegrationLogRecord:
    fields = dict(zip(FIELDS, values, strict=True))
    fields["timestamp"] = timestamp
    for flag in ("retryable", "replayed", "cached"):
        if fields[flag] is not None:
            fields[flag] = bool(fields[flag])
    fields["fallback_from"] = tuple(json.loads(fields["fallback_from"] or "[]"))
    if fields["duration_ms"] is None:
        fields["duration_ms"] = math.nan
    if fields["attempts"] is None:
        fields["attempts"] = 0
    return msgspec.convert(fields, IntegrationLogRecord)


def is_row_problem(error: BaseException) -> bool:
    """Whether a failed write is the rows' fault (a value the database refuses), so that
    retrying them would fail again; otherwise the database is unavailable for now."""
    # Both drivers follow DB-API (PEP 249), whose classes carry these names.
    return any(cls.__name__ in ("DataError", "IntegrityError") for cls in type(error).__mro__)


# -- the databases ----------------------------------------------------------------------


class LogDatabase(Protocol):
    """One log table in one database; a connection is used by one thread at a time."""

    config: SqlLogConfig

    def connect(self, *, readonly: bool = False) -> Any:
        """A new connection (DB-API); raises `LogUnavailableError` when it cannot be made."""
        ...

    def ensure_schema(self, connection: Any) -> None:
        """Create the table, its missing columns and its indexes; idempotent."""
        ...

    def insert(self, connection: Any, rows: Sequence[Row]) -> None:
        """Write `rows` in one transaction (a row already written is skipped)."""
        ...

    def select(self, connection: Any, where: LogFilter) -> list[tuple[int, IntegrationLogRecord]]:
        """The matching rows as ``(seq, record)``."""
        ...

    def max_seq(self, connection: Any) -> int:
        """The number of the last row written (0: none)."""
        ...

    def seqs(self, connection: Any, after: int, among: Sequence[int], limit: int) -> list[int]:
        """The numbers of the rows after `after` and of those in `among`, ascending."""
        ...


def open_database(config: SqlLogConfig) -> LogDatabase:
    """The database `config` names (nothing is connected yet)."""
    if config.dialect == "sqlite":
        return SqliteLog(config)
    return PostgresLog(config)


def _quoted(name: str) -> str:
    return ".".join(f'"{part}"' for part in name.split("."))


class _SqlLog:
    """What both dialects share: the statements, built once from `COLUMNS`."""

    placeholder = "?"
    dialect_index = 1  # the column of COLUMNS with this dialect's types

    def __init__(self, config: SqlLogConfig) -> None:
        self.config = config
        self.table = _quoted(config.table)
        names = ", ".join(f'"{name}"' for name in FIELDS)
        marks = ", ".join([self.placeholder] * len(FIELDS))
        self._insert = (
            f"INSERT INTO {self.table} ({names}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING"
        )
        self._select = f"SELECT seq, {names} FROM {self.table}"

    def _create_statements(self, existing: set[str]) -> list[str]:
        if not existing:
            columns = ", ".join(f'"{c[0]}" {c[self.dialect_index]}' for c in COLUMNS)
            statements = [f"CREATE TABLE IF NOT EXISTS {self.table} ({columns})"]
        elif not {"seq", "id", "timestamp"} <= existing:
            raise LogUnavailableError(
                f"the table {self.config.table} in {self.config.safe_url} exists but is not an "
                "integration-log table (it has no seq, id or timestamp column); name another "
                "table in [observability.sql] table"
            )
        else:
            statements = [
                # A column added later cannot be NOT NULL: the rows already there have none.
                f'ALTER TABLE {self.table} ADD COLUMN "{c[0]}" '
                + c[self.dialect_index].replace(" NOT NULL", "")
                for c in COLUMNS
                if c[0] not in existing
            ]
        bare = self.config.table.rpartition(".")[2]
        for suffix, indexed in INDEXES:
            listed = ", ".join(f'"{c}"' for c in indexed)
            statements.append(
                f'CREATE INDEX IF NOT EXISTS "{bare}_{suffix}" ON {self.table} ({listed})'
            )
        return statements

    def _where(self, where: LogFilter) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        mark = self.placeholder
        for column in ("connector", "vendor", "operation", "status"):
            value = getattr(where, column)
            if value is not None:
                clauses.append(f'"{column}" = {mark}')
                params.append(value)
        if where.since is not None:
            clauses.append(f'"timestamp" >= {mark}')
            params.append(self._time_param(_timestamp(where.since)))
        if where.until is not None:
            clauses.append(f'"timestamp" < {mark}')
            params.append(self._time_param(_timestamp(where.until)))
        if where.after_seq is not None:
            span = f"seq > {mark}"
            params.append(where.after_seq)
            if where.through_seq is not None:
                span += f" AND seq <= {mark}"
                params.append(where.through_seq)
            if where.recheck:
                span = f"({span} OR seq IN ({', '.join([mark] * len(where.recheck))}))"
                params.extend(where.recheck)
            clauses.append(span)
        sql = self._select + (" WHERE " + " AND ".join(clauses) if clauses else "")
        if where.after_seq is not None:
            sql += f" ORDER BY seq LIMIT {mark}"
        else:
            sql += f' ORDER BY "timestamp" DESC, seq DESC LIMIT {mark}'
        params.append(where.limit)
        return sql, params

    def max_seq(self, connection: Any) -> int:
        """The number of the last row written (0: none)."""
        row = connection.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {self.table}").fetchone()
        return int(row[0])

    def seqs(self, connection: Any, after: int, among: Sequence[int], limit: int) -> list[int]:
        """The numbers of the rows after `after` and of those in `among`, ascending."""
        mark = self.placeholder
        sql = f"SELECT seq FROM {self.table} WHERE seq > {mark}"
        if among:
            sql += f" OR seq IN ({', '.join([mark] * len(among))})"
        rows = connection.execute(f"{sql} ORDER BY seq LIMIT {mark}", (after, *among, limit))
        return [int(row[0]) for row in rows.fetchall()]

    def _time_param(self, value: datetime) -> Any:
        return value

    def _time_value(self, value: Any) -> datetime:
        # psycopg answers in the session's time zone; records are in UTC.
        return _timestamp(value)

    def _rows(
        self, fetched: Iterable[Sequence[Any]], where: LogFilter
    ) -> list[tuple[int, IntegrationLogRecord]]:
        found = []
        for row in fetched:
            try:
                found.append((row[0], _record(row[1:], self._time_value(row[2]))))
            except (msgspec.ValidationError, ValueError, TypeError) as exc:
                raise LogUnavailableError(
                    f"row seq={row[0]} of {self.config.table} in {self.config.safe_url} is "
                    f"not an integration-log record ({exc}); was it written by hand?"
                ) from None
        return found if where.after_seq is not None else found[::-1]


class SqliteLog(_SqlLog):
    """The log table in a SQLite file (WAL mode: readers never block the writer)."""

    dialect_index = 1

    @property
    def path(self) -> Path:
        return self.config.sqlite_path

    def connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        if readonly and not self.path.is_file():
            raise LogUnavailableError(
                f"no log database at {self.path}: nothing was logged there yet (a manager "
                'with [observability] loggers = ["sql"] creates it), or the url names another '
                "file"
            )
        try:
            if readonly:
                # Reading never creates the file: a wrong path is an error, not an empty log.
                uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
                connection = sqlite3.connect(
                    uri, uri=True, timeout=self.config.write_timeout, isolation_level=None
                )
            else:
                connection = sqlite3.connect(
                    self.path,
                    timeout=self.config.write_timeout,
                    isolation_level=None,  # transactions are begun and ended explicitly
                )
                _use_wal(connection, self.config.write_timeout)
                connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise LogUnavailableError(
                f"cannot open the log database {self.config.safe_url}: {exc}"
            ) from None
        return connection

    def ensure_schema(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            existing = {
                row[1] for row in connection.execute(f"PRAGMA table_info({self.table})").fetchall()
            }
            for statement in self._create_statements(existing):
                connection.execute(statement)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def insert(self, connection: sqlite3.Connection, rows: Sequence[Row]) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(self._insert, [_sqlite_row(row) for row in rows])
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def select(
        self, connection: sqlite3.Connection, where: LogFilter
    ) -> list[tuple[int, IntegrationLogRecord]]:
        sql, params = self._where(where)
        return self._rows(connection.execute(sql, params).fetchall(), where)

    def _time_param(self, value: datetime) -> Any:
        return _iso(value)

    def _time_value(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)


def _use_wal(connection: sqlite3.Connection, patience: float) -> None:
    """Put the file in WAL mode (once for good: the mode is stored in the file). Switching
    takes a lock SQLite does not wait for, even with a busy timeout, so connections opening a
    new file together retry here, up to `patience` seconds."""
    deadline = time.monotonic() + patience
    pause = 0.001
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        else:
            return


def _iso(value: datetime) -> str:
    # Always UTC and always with microseconds: the text sorts as the time does.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _sqlite_row(row: Row) -> Row:
    return (row[0], _iso(row[1]), *row[2:])


class PostgresLog(_SqlLog):
    """The log table in PostgreSQL (psycopg 3)."""

    placeholder = "%s"
    dialect_index = 2

    def connect(self, *, readonly: bool = False) -> Any:
        try:
            import psycopg
        except ImportError:
            raise LogUnavailableError(
                f"PostgreSQL needs the psycopg driver: pip install '{POSTGRESQL_EXTRA}'"
            ) from None
        config = self.config
        extra: dict[str, Any] = {"connect_timeout": max(1, math.ceil(config.connect_timeout))}
        if config.password is not None:
            extra["password"] = config.password.reveal()
        if "application_name" not in config.url:
            extra["application_name"] = "nexus-connector-log"
        try:
            connection = psycopg.connect(config.url, autocommit=True, **extra)
            timeout = max(1, round(config.write_timeout * 1000))
            # A write (or a read) waits for a lock or a slow server this long, then fails.
            connection.execute(f"SET statement_timeout = {timeout}")
            connection.execute(f"SET lock_timeout = {timeout}")
            if readonly:
                connection.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            raise LogUnavailableError(
                f"cannot connect to the log database {config.safe_url}: {redacted(exc, config)}"
            ) from None
        return connection

    def ensure_schema(self, connection: Any) -> None:
        with connection.transaction():
            # Workers starting together would race to create the table (PostgreSQL's
            # CREATE ... IF NOT EXISTS is not safe against that): one at a time.
            connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"nexus-log:{self.table}",)
            )
            schema, _, table = self.config.table.rpartition(".")
            existing = {
                row[0]
                for row in connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                    " AND table_schema = COALESCE(NULLIF(%s, ''), current_schema())",
                    (table, schema),
                ).fetchall()
            }
            for statement in self._create_statements(existing):
                connection.execute(statement)

    def insert(self, connection: Any, rows: Sequence[Row]) -> None:
        with connection.transaction(), connection.cursor() as cursor:
            cursor.executemany(self._insert, rows)

    def select(self, connection: Any, where: LogFilter) -> list[tuple[int, IntegrationLogRecord]]:
        sql, params = self._where(where)
        return self._rows(connection.execute(sql, params).fetchall(), where)


def redacted(error: BaseException, config: SqlLogConfig) -> str:
    """An error of the driver as a message may quote it: one line, and no password (libpq
    does not quote one, but a message is no place to trust that)."""
    text = " ".join(str(error).split()) or type(error).__name__
    secrets = [config.password.reveal()] if config.password is not None else []
    try:
        parts = urlsplit(config.url)
        if parts.password:
            secrets.append(unquote(parts.password))
        if parts.username:
            secrets.append(config.url)
    except ValueError:
        secrets.append(config.url)
    if secrets:
        from .http._redact import Redactor

        text = Redactor(secrets)(text)
    return text[:500]
