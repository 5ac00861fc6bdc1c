"""The SQL sink of the integration log: records written in batches by a background thread.

`SqlCallLogger.emit` runs inside every call, so it only appends the record to a bounded
buffer (a `collections.deque`: thread-safe, no lock) and returns; when the buffer is full the
record is dropped and counted (`dropped`), never waited for. One writer thread per sink takes
the records in batches and writes each batch in one transaction. The same thread serves the
sync and the async manager: `emit` never awaits and never blocks, and a database driver's
blocking calls stay off the event loop.

When the database cannot be written (down, locked, unreachable), the writer keeps its batch,
reconnects with a growing pause (at most `MAX_RETRY_PAUSE`) and writes it again; meanwhile
new records fill the buffer and then are dropped. Rows the database refuses for what they hold
are dropped one by one, the rest of their batch written. Every record ends up either
``written`` or ``dropped``; `flush` waits until all emitted so far have, and `close` writes
what is left within ``close_timeout``, then counts the rest as dropped.

    >>> sink = SqlCallLogger(SqlLogConfig(url=f"sqlite:///{folder}/log.db"))  # doctest: +SKIP
    >>> manager = ConnectorManager.from_config("connectors.toml", loggers=[sink])  # doctest: +SKIP

The manager builds one itself for ``[observability] loggers = ["sql"]`` and closes it.
"""

from __future__ import annotations

import atexit
import collections
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ._config import ObservabilityConfig
from ._logging import library_logger
from ._observe import CallLogger, IntegrationLogRecord
from ._sql_log_config import SqlLogConfig
from ._sql_log_store import (
    LogDatabase,
    LogUnavailableError,
    Row,
    is_row_problem,
    open_database,
    redacted,
    to_row,
)

__all__ = ["MAX_RETRY_PAUSE", "SINK_LOGGER_NAME", "LogSink", "SqlCallLogger", "open_log_sinks"]

#: The logger the sink reports its own trouble to (never the records themselves).
SINK_LOGGER_NAME = "nexus_connector.sql_log"
#: Seconds between reconnection attempts: from `FIRST_RETRY_PAUSE`, doubling up to this.
MAX_RETRY_PAUSE = 10.0
FIRST_RETRY_PAUSE = 0.05
#: Seconds between two reports of records dropped for a full buffer.
DROP_REPORT_INTERVAL = 60.0

_log = library_logger(SINK_LOGGER_NAME)


@runtime_checkable
class LogSink(CallLogger, Protocol):
    """A `CallLogger` that writes elsewhere in the background: what a manager closes with
    itself and health reports on. `emit` still must be fast and never raise."""

    @property
    def dropped(self) -> int:
        """Records given up on so far."""
        ...

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the records emitted so far are written or dropped; False on timeout."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Write what is left (within a bounded time) and stop; never raises."""
        ...


def open_log_sinks(observability: ObservabilityConfig) -> list[LogSink]:
    """The background sinks ``[observability] loggers`` lists (``sql``), started."""
    if "sql" not in observability.loggers:
        return []
    return [SqlCallLogger(observability.sql or SqlLogConfig())]


class _Flush:
    """A marker in the buffer: set once every record before it is written or dropped."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class SqlCallLogger:
    """A `CallLogger` writing integration-log records to SQLite or PostgreSQL.

    ``emit`` is fast and never raises or blocks. `dropped` counts records given up on (the
    buffer was full, the database refused the row, or closing ran out of time), `written`
    those in the table, `pending` those still waiting. `flush` waits for what was emitted so
    far; `close` stops the writer after writing what is left (within `close_timeout`). A
    sink that is never closed stops its writer when it is garbage-collected, and at exit the
    interpreter gives it `close_timeout` to write what is left.

    `database` replaces the one `config` names (tests stall or break it on purpose).
    """

    def __init__(self, config: SqlLogConfig, *, database: LogDatabase | None = None) -> None:
        self.config = config
        self._writer = _Writer(database or open_database(config), config)
        self._buffer = self._writer.buffer
        self._capacity = config.buffer_size
        self._batch_size = config.batch_size
        self._wake = self._writer.wake
        self._closed = False
        # A forgotten sink stops its thread (without waiting: a collection may happen
        # anywhere); the writer then drains the buffer and exits by itself.
        weakref.finalize(self, self._writer.stop, config.close_timeout).atexit = False
        self._writer.start()

    def emit(self, record: IntegrationLogRecord) -> None:
        buffer = self._buffer
        if self._closed or len(buffer) >= self._capacity:
            self._writer.drop(1)
            return
        buffer.append(record)
        if len(buffer) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    @property
    def dropped(self) -> int:
        """Records given up on: a full buffer, a row the database refused, or left unwritten
        when `close` ran out of time."""
        return self._writer.dropped

    @property
    def written(self) -> int:
        """Records written to the table."""
        return self._writer.written

    @property
    def pending(self) -> int:
        """Records emitted but neither written nor dropped yet."""
        return self._writer.pending()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record emitted so far is written or dropped; False when
        `timeout` seconds (default: ``close_timeout``) passed first."""
        if not self._writer.alive():
            return self._writer.pending() == 0
        marker = _Flush()
        self._buffer.append(marker)
        self._wake.set()
        return marker.done.wait(self.config.close_timeout if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write what is left and stop the writer, waiting at most `timeout` seconds (default:
        ``close_timeout``); records still unwritten then are counted as dropped. Later
        records are dropped. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._writer.close(self.config.close_timeout if timeout is None else timeout)

    def __repr__(self) -> str:
        return (
            f"<SqlCallLogger {self.config.safe_url} table={self.config.table} "
            f"written={self.written} dropped={self.dropped} pending={self.pending}>"
        )


class _Writer:
    """The background thread's side: takes batches from the buffer and writes them."""

    def __init__(self, database: LogDatabase, config: SqlLogConfig) -> None:
        self.database = database
        self.config = config
        self.buffer: collections.deque[IntegrationLogRecord | _Flush] = collections.deque()
        #: Set by the emitting side when a batch is full, by flush and by close.
        self.wake = threading.Event()
        #: Set by close: a pause between reconnection attempts ends early.
        self._interrupt = threading.Event()
        self._count_lock = threading.Lock()
        self.dropped = 0
        self.written = 0
        self._in_hand = 0
        self._stopping = False
        self._deadline = float("inf")  # monotonic: after it, nothing more is tried
        self._connection: Any = None
        self._down_since: float | None = None
        self._dropped_reported = 0
        self._drops_reported_at = float("-inf")
        self._thread = threading.Thread(target=self._run, name="nexus-connector-sql-log")
        self._thread.daemon = True

    # -- the emitting side --------------------------------------------------------------

    def start(self) -> None:
        atexit.register(self._at_exit)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def drop(self, count: int) -> None:
        with self._count_lock:
            self.dropped += count

    def pending(self) -> int:
        # A flush marker waiting in the buffer counts too: close enough, and O(1).
        return len(self.buffer) + self._in_hand

    def stop(self, timeout: float) -> None:
        """Ask the writer to write what is left within `timeout` seconds, then exit."""
        self._deadline = min(self._deadline, time.monotonic() + timeout)
        self._stopping = True
        self.wake.set()
        self._interrupt.set()

    def close(self, timeout: float) -> None:
        self.stop(timeout)
        if self._thread is not threading.current_thread():
            self._thread.join(max(0.0, self._deadline - time.monotonic()))
        if self._thread.is_alive():
            # The writer is stuck in a database call: what it has not taken is dropped
            # here (each record is taken by one side only: deque.popleft is atomic).
            self._discard_buffer()

    def _at_exit(self) -> None:
        self.close(self.config.close_timeout)

    # -- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                if not self._stopping and len(self.buffer) < self.config.batch_size:
                    self.wake.wait(self.config.flush_interval)
                self.wake.clear()
                while self.buffer:
                    self._write_next()
                if self._stopping:
                    break
        except BaseException:  # pragma: no cover - a bug here must not end logging silently
            _log.exception("the integration-log writer stopped; later records are dropped")
            self._discard_buffer()
            raise
        finally:
            self._disconnect()
            atexit.unregister(self._at_exit)

    def _write_next(self) -> None:
        """Write the records up to the next flush marker (at most a batch), then release it."""
        records: list[IntegrationLogRecord] = []
        marker = None
        while len(records) < self.config.batch_size:
            try:
                item = self.buffer.popleft()
            except IndexError:
                break
            if isinstance(item, _Flush):
                marker = item
                break
            records.append(item)
        self._in_hand = len(records)
        try:
            if records:
                self._write(self._rows(records))
        finally:
            self._in_hand = 0
            # Said here, not once the buffer is empty: under a steady overload it never is.
            self._report_drops()
            if marker is not None:
                marker.done.set()

    def _rows(self, records: Sequence[IntegrationLogRecord]) -> list[Row]:
        rows = []
        for record in records:
            try:
                rows.append(to_row(record))
            except Exception as exc:  # noqa: BLE001 - one bad record, not the whole batch
                self.drop(1)
                _log.warning("an integration-log record cannot be stored and is dropped: %s", exc)
        return rows

    def _write(self, rows: list[Row]) -> None:
        pause = FIRST_RETRY_PAUSE
        while rows:
            if time.monotonic() >= self._deadline:
                self.drop(len(rows))
                return
            try:
                connection = self._connect()
                self.database.insert(connection, rows)
            except Exception as exc:  # noqa: BLE001 - any failure: retry or drop, never raise
                if self._connection is not None and is_row_problem(exc):
                    self._write_one_by_one(rows)
                    return
                self._went_down(exc)
                if self._interrupt.wait(min(pause, max(0.0, self._deadline - time.monotonic()))):
                    self._interrupt.clear()  # close asked for one attempt now, not a spin
                pause = min(pause * 2, MAX_RETRY_PAUSE)
                continue
            self._count_written(len(rows))
            return

    def _write_one_by_one(self, rows: list[Row]) -> None:
        for index, row in enumerate(rows):
            try:
                self.database.insert(self._connect(), [row])
            except Exception as exc:  # noqa: BLE001
                if not is_row_problem(exc):
                    # The database went away midway: the rest waits for the next attempt.
                    self._write(rows[index:])
                    return
                self.drop(1)
                _log.warning(
                    "the log database refused an integration-log record (id %s), dropped: %s",
                    row[0],
                    redacted(exc, self.config),
                )
            else:
                self._count_written(1)

    def _count_written(self, count: int) -> None:
        with self._count_lock:
            self.written += count
        if self._down_since is not None:
            _log.warning(
                "the integration log is written to %s again, after %.1f s",
                self.config.safe_url,
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def _connect(self) -> Any:
        if self._connection is None:
            connection = self.database.connect()
            try:
                self.database.ensure_schema(connection)
            except BaseException:
                _close_quietly(connection)
                raise
            self._connection = connection
        return self._connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            _close_quietly(connection)

    def _went_down(self, error: Exception) -> None:
        self._disconnect()
        if self._down_since is None:
            self._down_since = time.monotonic()
            reason = (
                str(error)
                if isinstance(error, LogUnavailableError)
                else f"{type(error).__name__}: {redacted(error, self.config)}"
            )
            _log.warning(
                "cannot write the integration log to %s (%s); retrying, while up to %d "
                "records wait (more are dropped and counted)",
                self.config.safe_url,
                reason,
                self.config.buffer_size,
            )

    def _report_drops(self) -> None:
        now = time.monotonic()
        if self.dropped > self._dropped_reported and (
            now - self._drops_reported_at >= DROP_REPORT_INTERVAL or self._stopping
        ):
            _log.warning(
                "%d integration-log records dropped so far (%s): the buffer of %d was full, "
                "or the database refused them",
                self.dropped,
                self.config.safe_url,
                self.config.buffer_size,
            )
            self._dropped_reported = self.dropped
            self._drops_reported_at = now

    def _discard_buffer(self) -> None:
        while True:
            try:
                item = self.buffer.popleft()
            except IndexError:
                return
            if isinstance(item, _Flush):
                item.done.set()
            else:
                self.drop(1)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is gone
        _log.debug("closing a log database connection failed", exc_info=True)
