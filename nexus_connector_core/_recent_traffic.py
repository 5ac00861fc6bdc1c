"""A connector's traffic over the last minutes as the whole fleet made it, for
``nexus-connector status``: calls, error rate and p50/p95 latency.

A status command runs in a process of its own, which has made no call: what it shows comes
from what every worker shares. That is the call counts in a shared state backend (Redis)
when calls are counted (an SLO, an alert rule or ``[alerting] count_calls``), else the
integration log's SQL table when the ``sql`` logger is on, else nothing.

Counts give latency as histogram buckets, so a percentile there is the upper bound of its
bucket over the successful calls (``<= 250 ms``); the log gives each call's duration, so a
percentile there is a call's (nearest rank, failures included, as `RecentCalls` computes it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

import msgspec

from ._config import Config
from ._health import nearest_rank
from ._observe import IntegrationLogRecord
from ._slo import WindowCounts, window_query
from ._state import StateBackend

__all__ = ["RECENT_WINDOW", "RecentTraffic", "recent_traffic", "traffic_from_counts"]

#: The window status reads: the last 5 minutes.
RECENT_WINDOW = 300.0
#: At most this many of a connector's most recent log records are read.
LOG_RECORDS = 10_000


class RecentTraffic(msgspec.Struct, frozen=True, kw_only=True):
    """One connector's calls over the last `window` seconds, every worker's."""

    #: ``counts`` (the state backend's call counts) or ``log`` (the SQL log's records).
    source: Literal["counts", "log"]
    window: float
    calls: int = 0
    #: Failed calls / calls, whoever caused the failure (None without calls).
    error_rate: float | None = None
    #: Milliseconds; with ``source = "counts"`` the upper bound of the bucket holding the
    #: percentile of the successful calls (``inf`` beyond the last bound).
    p50_ms: float | None = None
    p95_ms: float | None = None


def traffic_from_counts(sums: Mapping[str, int], window: float) -> RecentTraffic:
    """The traffic in a `slo_read` answer for one connector's window."""
    counts = WindowCounts.from_sums(sums)
    calls = counts.ok + counts.failed + counts.excluded

    def ms(share: float) -> float | None:
        bound = counts.percentile(share)
        return None if bound is None else bound * 1000.0

    return RecentTraffic(
        source="counts",
        window=window,
        calls=calls,
        error_rate=(counts.failed + counts.excluded) / calls if calls else None,
        p50_ms=ms(0.50),
        p95_ms=ms(0.95),
    )


def traffic_from_records(records: Sequence[IntegrationLogRecord], window: float) -> RecentTraffic:
    """The traffic the log's `records` of one connector show.

    >>> from datetime import datetime, UTC
    >>> def record(ms, status="ok"):
    ...     return IntegrationLogRecord(id="r", timestamp=datetime.now(UTC), connector="sms",
    ...         vendor="memory", operation="send", status=status, attempts=1, duration_ms=ms)
    >>> records = [record(10.0), record(20.0), record(30.0, "error"), record(40.0)]
    >>> traffic_from_records(records, 300.0)
    RecentTraffic(source='log', window=300.0, calls=4, error_rate=0.25, p50_ms=20.0, p95_ms=40.0)
    """
    durations = sorted(record.duration_ms for record in records)
    failed = sum(1 for record in records if record.status == "error")

    return RecentTraffic(
        source="log",
        window=window,
        calls=len(durations),
        error_rate=failed / len(durations) if durations else None,
        p50_ms=nearest_rank(durations, 0.50),
        p95_ms=nearest_rank(durations, 0.95),
    )


def recent_traffic(
    config: Config, state: StateBackend, now: float, window: float = RECENT_WINDOW
) -> dict[str, RecentTraffic] | None:
    """Each connector's traffic over the `window` seconds before `now` (epoch seconds), from
    the shared counts or the SQL log; None when neither holds it.

    A memory backend's counts are its own process's only (none in a status command's), so they
    are never read. Raises `StateBackendUnavailableError` or `LogUnavailableError` when the
    source cannot be read.
    """
    names = list(config.connectors)
    shared = config.state.backend.key != "memory"
    sql = config.observability.sql if "sql" in config.observability.loggers else None
    if config.alerting.counting and shared:
        sums = state.slo_read([window_query(name, window, now) for name in names])
        return {
            name: traffic_from_counts(found, window)
            for name, found in zip(names, sums, strict=True)
        }
    if sql is None:
        return None
    from ._sql_log_reader import LogReader  # the driver is loaded only here
    from ._sql_log_store import LogFilter

    since = datetime.fromtimestamp(now - window, UTC)
    with LogReader(sql) as log:
        return {
            name: traffic_from_records(
                [
                    record
                    for _, record in log.records(
                        LogFilter(connector=name, since=since, limit=LOG_RECORDS)
                    )
                ],
                window,
            )
            for name in names
        }
