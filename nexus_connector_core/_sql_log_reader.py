"""Reading the integration-log table back: ``nexus-connector log tail|query`` (and whatever
else wants recent records, such as a status page).

    >>> with LogReader(config.observability.sql) as log:  # doctest: +SKIP
    ...     for seq, record in log.records(LogFilter(connector="email", status="error")):
    ...         print(record.timestamp, record.error_class)

A reader only reads: it opens SQLite read-only (a wrong path is an error, never a new empty
file) and never creates the table. Every failure is a `LogUnavailableError` whose message
says what to check and quotes no secret.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Self

import msgspec

from ._observe import IntegrationLogRecord
from ._sql_log_config import SqlLogConfig
from ._sql_log_store import LogDatabase, LogFilter, LogUnavailableError, open_database, redacted

__all__ = ["FOLLOW_INTERVAL", "LogReader"]

#: Seconds between two looks for new rows when following the log.
FOLLOW_INTERVAL = 1.0
#: Rows read per look when following.
FOLLOW_BATCH = 1000
#: A row number skipped while following (its transaction had not committed, or never will:
#: PostgreSQL spends numbers on rolled-back and conflicting inserts) is looked for again
#: this many seconds, and at most this many such numbers are kept.
GAP_WAIT = 60.0
MAX_GAPS = 10_000


class LogReader:
    """A read-only connection to the integration-log table `config` names."""

    def __init__(self, config: SqlLogConfig, *, database: LogDatabase | None = None) -> None:
        self.config = config
        self._database = database or open_database(config)
        self._connection: Any = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection is gone either way
                connection.close()

    def records(self, where: LogFilter) -> list[tuple[int, IntegrationLogRecord]]:
        """The matching records as ``(seq, record)``: see `LogFilter` for which and in what
        order."""
        found: list[tuple[int, IntegrationLogRecord]] = self._run(
            lambda c: self._database.select(c, where)
        )
        return found

    def last_seq(self) -> int:
        """The number of the last row written (0: none)."""
        last: int = self._run(self._database.max_seq)
        return last

    def follow(
        self,
        where: LogFilter,
        after_seq: int,
        *,
        wait: Callable[[float], object] = time.sleep,
        interval: float = FOLLOW_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> Iterator[IntegrationLogRecord | LogUnavailableError]:
        """The matching records written after row `after_seq`, as they come, forever.

        Between looks it calls ``wait(interval)``. Rows are read in the order they were
        written, and a row whose number was skipped (written by a transaction that committed
        later: several workers write at once) is still found. A look that fails yields the
        `LogUnavailableError` (once per outage) and the next look tries again.
        """
        last = after_seq
        gaps: dict[int, float] = {}  # skipped row number -> when it was first missed
        failing = False
        while True:
            try:
                found, last, more = self._look(where, last, gaps, clock())
            except LogUnavailableError as exc:
                self.close()
                if not failing:
                    yield exc
                failing = True
            else:
                failing = False
                yield from found
                if more:
                    continue  # a whole batch: more are waiting
            wait(interval)

    def _look(
        self, where: LogFilter, last: int, gaps: dict[int, float], now: float
    ) -> tuple[list[IntegrationLogRecord], int, bool]:
        database = self._database
        for seq, since in list(gaps.items()):
            if now - since > GAP_WAIT:
                del gaps[seq]
        numbers = self._run(lambda c: database.seqs(c, last, tuple(gaps), FOLLOW_BATCH))
        filled = tuple(n for n in numbers if n in gaps)
        newer = [n for n in numbers if n > last]
        for n in filled:
            del gaps[n]
        previous = last
        for n in newer:
            for missing in range(previous + 1, min(n, previous + 1 + MAX_GAPS)):
                gaps[missing] = now
            previous = n
        while len(gaps) > MAX_GAPS:
            del gaps[next(iter(gaps))]
        more = len(numbers) == FOLLOW_BATCH
        if not newer and not filled:
            return [], last, more
        span = msgspec.structs.replace(
            where,
            after_seq=last,
            through_seq=newer[-1] if newer else last,
            recheck=filled,
            limit=FOLLOW_BATCH + len(filled),
        )
        rows = self._run(lambda c: database.select(c, span))
        return [record for _, record in rows], newer[-1] if newer else last, more

    def _run(self, read: Callable[[Any], Any]) -> Any:
        if self._connection is None:
            self._connection = self._database.connect(readonly=True)
        try:
            return read(self._connection)
        except LogUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver's error, said without secrets
            self.close()
            raise LogUnavailableError(self._explain(exc)) from None

    def _explain(self, error: Exception) -> str:
        config = self.config
        text = redacted(error, config)
        if type(error).__name__ == "UndefinedTable" or "no such table" in text:
            return (
                f"no table {config.table} in {config.safe_url}: a manager with [observability] "
                'loggers = ["sql"] creates it at its first write; check [observability.sql] '
                "table and url"
            )
        return f"cannot read the log table {config.table} in {config.safe_url}: {text}"
