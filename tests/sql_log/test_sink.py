"""The SQL sink: calls never wait for it, every record is written or counted as dropped,
and it comes back after the database does."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from nexus_connector_core import AsyncConnectorManager, ConnectorManager, EmailMessage
from nexus_connector_core._observe import IntegrationLogRecord
from nexus_connector_core._sql_log import SINK_LOGGER_NAME, SqlCallLogger
from nexus_connector_core._sql_log_config import SqlLogConfig
from nexus_connector_core._sql_log_store import (
    LogFilter,
    LogUnavailableError,
    Row,
    open_database,
)

#: The longest any test waits for a thread or a flush: generous, never slept through.
WAIT = 30.0

MESSAGE = EmailMessage(sender="shop@example.com", to=["ada@example.com"], subject="Hi", text="Hi")


def _settings(config: SqlLogConfig, **changes: Any) -> SqlLogConfig:
    return msgspec.structs.replace(config, **changes)


def _rows(config: SqlLogConfig) -> list[IntegrationLogRecord]:
    database = open_database(config)
    connection = database.connect(readonly=True)
    try:
        return [r for _, r in database.select(connection, LogFilter(limit=1_000_000))]
    finally:
        connection.close()


def _manager_config(config: SqlLogConfig, loggers: Sequence[str] = ("sql",)) -> dict[str, Any]:
    sql = msgspec.to_builtins(config)
    sql.pop("password", None)
    return {
        "connectors": {"email": {"vendor": "memory"}},
        "observability": {"loggers": list(loggers), "sql": sql},
    }


def _in_thread(work: Callable[[], None]) -> None:
    """Run `work` in a thread and insist that it ends: a call blocked by the sink fails here
    (after WAIT) instead of hanging the test run."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), "the calls did not finish: something waited for the sink"
    if failure:
        raise failure[0]


# -- the must-show: a stalled database ------------------------------------------------------


def test_a_stalled_database_keeps_calls_flowing_and_counts_the_records_it_drops(
    sql_config: SqlLogConfig, stall: Any
) -> None:
    config = _settings(
        sql_config, buffer_size=20, batch_size=5, write_timeout=WAIT, close_timeout=WAIT
    )
    calls = 200
    with ConnectorManager.from_config(_manager_config(config)) as manager:
        (sink,) = manager.log_sinks
        with stall(config):

            def call_many() -> None:
                for _ in range(calls):
                    manager.email.send(MESSAGE)

            _in_thread(call_many)
            # The writer holds at most one batch, the buffer at most buffer_size: the rest
            # of the 200 records were dropped, and counted, while every call went on.
            assert sink.dropped >= calls - 20 - 5
            assert sink.written == 0
            assert sink.pending > 0
            health = manager.health(checks=False)
            assert health.dropped_log_records == sink.dropped
            assert health.status == "degraded"
        assert sink.flush(WAIT)
    written = _rows(config)
    assert len(written) == sink.written == calls - sink.dropped
    assert {r.connector for r in written} == {"email"}


def test_the_async_manager_never_waits_for_a_stalled_database(
    sqlite_config: SqlLogConfig, stall: Any
) -> None:
    config = _settings(sqlite_config, buffer_size=10, batch_size=5, write_timeout=WAIT)
    manager = AsyncConnectorManager.from_config(_manager_config(config))
    (sink,) = manager.log_sinks

    async def call_many() -> None:
        await asyncio.gather(*(manager.email.send(MESSAGE) for _ in range(100)))

    with stall(config):
        # The event loop runs in a thread of its own: were emit to block, the loop would
        # stop, and the thread would not end.
        _in_thread(lambda: asyncio.run(call_many()))
        assert sink.dropped >= 100 - 10 - 5
    _in_thread(lambda: asyncio.run(manager.aclose()))  # writes the rest, off the loop
    assert len(_rows(config)) == 100 - sink.dropped


class BlockingDatabase:
    """A real database whose writes wait for `release` (and say when one started)."""

    def __init__(self, config: SqlLogConfig) -> None:
        self.inner = open_database(config)
        self.config = config
        self.release = threading.Event()
        self.writing = threading.Event()

    def connect(self, *, readonly: bool = False) -> Any:
        return self.inner.connect(readonly=readonly)

    def ensure_schema(self, connection: Any) -> None:
        self.inner.ensure_schema(connection)

    def insert(self, connection: Any, rows: Sequence[Row]) -> None:
        self.writing.set()
        assert self.release.wait(WAIT)
        self.inner.insert(connection, rows)

    def select(self, connection: Any, where: LogFilter) -> list[tuple[int, IntegrationLogRecord]]:
        return self.inner.select(connection, where)

    def max_seq(self, connection: Any) -> int:
        return self.inner.max_seq(connection)

    def seqs(self, connection: Any, after: int, among: Sequence[int], limit: int) -> list[int]:
        return self.inner.seqs(connection, after, among, limit)


def test_a_full_buffer_drops_new_records_and_counts_them(
    sqlite_config: SqlLogConfig,
    make_record: Callable[..., IntegrationLogRecord],
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = BlockingDatabase(sqlite_config)
    config = _settings(sqlite_config, buffer_size=3, batch_size=2, flush_interval=0.001)
    sink = SqlCallLogger(config, database=database)
    try:
        sink.emit(make_record())
        sink.emit(make_record())
        assert database.writing.wait(WAIT)  # the writer holds those two
        _in_thread(lambda: [sink.emit(make_record()) for _ in range(10)])
        assert (sink.dropped, sink.pending) == (7, 5)
        database.release.set()
        with caplog.at_level(logging.WARNING, SINK_LOGGER_NAME):
            assert sink.flush(WAIT)
        assert (sink.written, sink.dropped, sink.pending) == (5, 7, 0)
        assert "7 integration-log records dropped so far" in caplog.text
    finally:
        database.release.set()
        sink.close()


def test_flush_gives_up_after_its_timeout_and_close_counts_what_is_left_as_dropped(
    sqlite_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord]
) -> None:
    database = BlockingDatabase(sqlite_config)
    sink = SqlCallLogger(_settings(sqlite_config, batch_size=2), database=database)
    for _ in range(5):
        sink.emit(make_record())
    assert not sink.flush(timeout=0.05)
    assert database.writing.wait(WAIT)
    sink.close(timeout=0.05)  # the writer stays stuck in its write
    assert sink.dropped == 3  # the buffered ones; the batch in hand is still the writer's
    sink.emit(make_record())
    assert sink.dropped == 4  # closed: later records are dropped
    database.release.set()  # the stuck write ends: its two rows are written after all
    sink._writer._thread.join(WAIT)
    assert (sink.written, sink.dropped, sink.pending) == (2, 4, 0)


# -- what is written ----------------------------------------------------------------------


def test_every_field_of_a_record_comes_back_as_it_was_emitted(
    sql_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord]
) -> None:
    records = [
        make_record(),
        make_record(
            status="error",
            attempts=3,
            duration_ms=1234.5,
            vendor_status_code=503,
            error_class="VendorUnavailableError",
            error_message="twilio answered 503: try later",
            retryable=True,
            idempotency_key="order-42",
            trace_id="0af7651916cd43dd8448eb211c80319c",
            fallback_from=("twilio", "vonage"),
        ),
        make_record(replayed=True, retryable=False),
        make_record(cached=True, operation="track", connector="shipping"),
    ]
    sink = SqlCallLogger(sql_config)
    for record in records:
        sink.emit(record)
    sink.close()
    assert (sink.written, sink.dropped) == (4, 0)
    assert _rows(sql_config) == records


def test_text_no_database_would_store_is_made_storable_not_dropped(
    sql_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord]
) -> None:
    record = make_record(
        status="error",
        error_class="VendorError",
        error_message="nul \x00 and a lone surrogate \udcff " + "x" * 10_000,
        vendor_status_code=2**70,  # a vendor's nonsense: no column holds it
        duration_ms=math.inf,
    )
    sink = SqlCallLogger(sql_config)
    sink.emit(record)
    sink.close()
    (stored,) = _rows(sql_config)
    assert sink.dropped == 0
    assert stored.error_message is not None
    assert stored.error_message.startswith("nul \ufffd and a lone surrogate ? x")
    assert len(stored.error_message) == 4096
    assert stored.vendor_status_code is None
    assert math.isnan(stored.duration_ms)


def test_a_row_the_database_refuses_is_dropped_alone(
    sql_config: SqlLogConfig,
    admin: Callable[[SqlLogConfig], Any],
    make_record: Callable[..., IntegrationLogRecord],
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = open_database(sql_config)
    connection = database.connect()
    database.ensure_schema(connection)
    connection.close()
    with admin(sql_config) as refusing:
        table = f'"{sql_config.table}"'
        if sql_config.dialect == "sqlite":
            refusing.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} WHEN NEW.connector = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            refusing.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT refuse CHECK (connector <> 'poison')"
            )
    good = [make_record(), make_record()]
    sink = SqlCallLogger(_settings(sql_config, batch_size=10))
    with caplog.at_level(logging.WARNING, SINK_LOGGER_NAME):
        sink.emit(good[0])
        sink.emit(make_record(connector="poison"))
        sink.emit(good[1])
        sink.close()
    assert (sink.written, sink.dropped) == (2, 1)
    assert _rows(sql_config) == good
    assert "refused an integration-log record" in caplog.text


def test_records_emitted_twice_are_written_once(
    sqlite_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord]
) -> None:
    # A batch whose commit was lost with the connection is written again after the
    # reconnect; the rows that made it are not doubled.
    record = make_record()
    sink = SqlCallLogger(sqlite_config)
    sink.emit(record)
    assert sink.flush(WAIT)
    sink.emit(record)
    sink.close()
    assert _rows(sqlite_config) == [record]


# -- outages ---------------------------------------------------------------------------


def test_the_sink_reconnects_after_a_postgresql_outage_and_loses_nothing(
    postgres_config: SqlLogConfig,
    admin: Callable[[SqlLogConfig], Any],
    make_record: Callable[..., IntegrationLogRecord],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = _settings(postgres_config, url=postgres_config.url + "?application_name=nxlog_outage")
    sink = SqlCallLogger(config)
    sink.emit(make_record())
    assert sink.flush(WAIT)
    with admin(postgres_config) as connection:
        # The server ends the writer's session, as a restart or a failover would.
        ended = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'nxlog_outage'"
        ).fetchall()
    assert ended == [(True,)]
    with caplog.at_level(logging.WARNING, SINK_LOGGER_NAME):
        for _ in range(3):
            sink.emit(make_record())
        assert sink.flush(WAIT)
    sink.close()
    assert (sink.written, sink.dropped) == (4, 0)
    assert len(_rows(config)) == 4
    assert "cannot write the integration log" in caplog.text
    assert "written to postgresql://127.0.0.1:5432/test again" in caplog.text


def test_the_sink_waits_for_a_sqlite_file_that_cannot_be_opened_yet(
    tmp_path: Path, make_record: Callable[..., IntegrationLogRecord]
) -> None:
    folder = tmp_path / "not-yet"
    config = SqlLogConfig(url=f"sqlite:///{folder}/log.db")
    sink = SqlCallLogger(config)
    sink.emit(make_record())
    assert not sink.flush(timeout=0.05)  # the folder is missing: the record waits
    folder.mkdir()
    assert sink.flush(WAIT)
    sink.close()
    assert (sink.written, sink.dropped) == (1, 0)


def test_no_password_appears_in_what_the_sink_logs(
    make_record: Callable[..., IntegrationLogRecord], caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("psycopg")
    secret = "s3cr3t-Pa55"
    # Port 1: nothing listens; the connection is refused at once.
    config = SqlLogConfig(
        url=f"postgresql://logger:{secret}@127.0.0.1:1/test", flush_interval=0.001
    )
    warned = threading.Event()
    handler = logging.Handler()
    handler.emit = lambda record: warned.set()  # type: ignore[method-assign]
    logging.getLogger(SINK_LOGGER_NAME).addHandler(handler)
    try:
        with caplog.at_level(logging.DEBUG, SINK_LOGGER_NAME):
            sink = SqlCallLogger(config)
            sink.emit(make_record())
            assert warned.wait(WAIT)  # it tried, failed and said so
            sink.close(timeout=0)
            sink._writer._thread.join(WAIT)
    finally:
        logging.getLogger(SINK_LOGGER_NAME).removeHandler(handler)
    assert "cannot write the integration log to postgresql://127.0.0.1:1/test" in caplog.text
    assert sink.dropped == 1
    assert secret not in caplog.text
    assert secret not in repr(sink) + repr(config)


# -- life cycle -------------------------------------------------------------------------


def test_the_managers_close_their_sql_sink_and_write_every_record_first(
    sql_config: SqlLogConfig,
) -> None:
    manager = ConnectorManager.from_config(_manager_config(sql_config, ("memory", "sql")))
    for _ in range(7):
        manager.email.send(MESSAGE)
    manager.close()
    assert _rows(sql_config) == manager.call_log
    (sink,) = manager.log_sinks
    assert not sink._writer.alive()


async def test_the_async_manager_closes_its_sql_sink(sqlite_config: SqlLogConfig) -> None:
    async with AsyncConnectorManager.from_config(
        _manager_config(sqlite_config, ("memory", "sql"))
    ) as manager:
        for _ in range(3):
            await manager.email.send(MESSAGE)
    assert _rows(sqlite_config) == manager.call_log


def test_a_forgotten_sink_writes_what_it_holds_and_stops_its_thread(
    sqlite_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord]
) -> None:
    sink = SqlCallLogger(_settings(sqlite_config, flush_interval=3600))
    sink.emit(make_record())
    thread = sink._writer._thread
    del sink
    gc.collect()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert len(_rows(sqlite_config)) == 1


def test_a_missing_driver_is_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, make_record: Callable[..., IntegrationLogRecord]
) -> None:
    from nexus_connector_core._sql_log_store import PostgresLog

    pytest.importorskip("psycopg")
    config = SqlLogConfig(url="postgresql://127.0.0.1/test")  # checked while psycopg is there
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg: ImportError
    with pytest.raises(ValueError, match=r"pip install 'nexus-connector-core\[postgresql\]'"):
        SqlLogConfig(url="postgresql://127.0.0.1/test")
    with pytest.raises(LogUnavailableError, match=r"nexus-connector-core\[postgresql\]"):
        PostgresLog(config).connect()
