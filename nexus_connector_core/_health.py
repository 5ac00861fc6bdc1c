"""Health: what a manager can say about its connectors, for a probe or an operator.

`manager.health()` (``await amanager.health()``) builds a `HealthReport` from three sources:

- the state backend: each vendor's breaker, as every worker of the application shares it
  (on Redis, the whole fleet's view);
- this process's recent calls (`CallStats`, kept by the observe step): error rate, p50/p95
  latency, last success and last failure, and which vendor served last;
- each adapter's own ``health_check()``, run with a timeout of its own.

A connector is *unhealthy* when none of its vendors can be called (every breaker open), or
every adapter's own check fails; *degraded* when a fallback vendor served its last call, a
vendor's breaker is open or half-open, its own check fails, or its recent error rate is at
or above the threshold; else *healthy*. The report is as bad as its worst connector, and
degraded when a log sink dropped records.
"""

from __future__ import annotations

import collections
import inspect
import math
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from ._clock import Clock
from ._state import LimiterSnapshot

__all__ = [
    "CHECK_TIMEOUT",
    "DEGRADED_ERROR_RATE",
    "CallStats",
    "ConnectorHealth",
    "HealthReport",
    "HealthStatus",
    "RecentCalls",
    "VendorHealth",
    "acheck_adapter",
    "check_adapter",
    "connector_status",
    "report_status",
]

HealthStatus = Literal["healthy", "degraded", "unhealthy"]
_ORDER: dict[str, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}

#: A recent error rate at or above this makes a connector degraded.
DEGRADED_ERROR_RATE = 0.25
#: How many recent calls per connector `CallStats` keeps.
RECENT_CALLS = 256
#: Seconds an adapter's own health check may take before it counts as failed.
CHECK_TIMEOUT = 5.0


class VendorHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One vendor of a connector's chain.

    Attributes:
        vendor: the vendor key.
        breaker: ``closed``, ``open`` or ``half_open`` (the worst of its breakers, when an
            operation has one of its own), or None without a breaker.
        retry_after: seconds until an open breaker admits trial calls.
        window_calls / window_failures: the outcomes in the breaker's window, all workers'.
        check: the adapter's own health check: ``ok``, the problem it reports, or None when
            it has none (or was not asked).
        limiter: the headroom of its tightest shared rate limiter (tokens free of the
            capacity, seconds until the next), all workers'; None without a rate limit.
    """

    vendor: str
    breaker: Literal["closed", "open", "half_open"] | None = None
    retry_after: float = 0.0
    window_calls: int = 0
    window_failures: int = 0
    check: str | None = None
    limiter: LimiterSnapshot | None = None


class RecentCalls(msgspec.Struct, frozen=True, kw_only=True):
    """A connector's recent calls in this process (the last 256)."""

    #: The vendor that served the last successful call.
    serving: str | None = None
    calls: int = 0
    error_rate: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    last_success: datetime | None = None
    last_failure: datetime | None = None
    #: The error class of the last failure.
    last_error: str | None = None


class ConnectorHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One connector: its vendors, and its recent calls in this process (`recent`)."""

    name: str
    category: str
    status: HealthStatus
    #: Why the connector is not healthy, in a few words.
    reasons: tuple[str, ...] = ()
    vendors: tuple[VendorHealth, ...] = ()
    recent: RecentCalls = RecentCalls()


class HealthReport(msgspec.Struct, frozen=True, kw_only=True):
    """The health of a manager's connectors (``status`` is the worst of theirs)."""

    status: HealthStatus
    checked_at: datetime
    connectors: dict[str, ConnectorHealth]
    #: Integration-log records the background sinks had to drop (a full buffer).
    dropped_log_records: int = 0

    @property
    def ok(self) -> bool:
        """Whether a probe should pass: healthy or degraded (still serving)."""
        return self.status != "unhealthy"


class _Recent:
    """The recent calls of one connector (thread-safe: a deque and one lock)."""

    __slots__ = ("durations", "failures", "last_error", "last_failure", "last_success", "serving")

    def __init__(self) -> None:
        # (ok, seconds): the last RECENT_CALLS calls.
        self.durations: collections.deque[tuple[bool, float]] = collections.deque(
            maxlen=RECENT_CALLS
        )
        self.failures = 0
        self.last_success: float | None = None
        self.last_failure: float | None = None
        self.last_error: str | None = None
        self.serving: str | None = None


class CallStats:
    """Every connector's recent calls in this process, as the observe step sees them end.

    With `events` set (a deque, by `count_into`), each call also leaves one small tuple
    there for the SLO counters (`_slo_counts`), which a background thread drains.
    """

    __slots__ = ("_by_connector", "_lock", "events")

    def __init__(self) -> None:
        self._by_connector: dict[str, _Recent] = {}
        self._lock = threading.Lock()
        self.events: collections.deque[tuple[Any, ...]] | None = None

    def count_into(self, events: collections.deque[tuple[Any, ...]] | None) -> None:
        """Leave an event of every call in `events` from now on (None: stop)."""
        self.events = events

    def _recent(self, connector: str) -> _Recent:
        recent = self._by_connector.get(connector)
        if recent is None:
            with self._lock:
                recent = self._by_connector.setdefault(connector, _Recent())
        return recent

    def recent(self, connector: str) -> _Recent:
        """`connector`'s record of recent calls, made on first use (and never replaced), for
        a caller that keeps it (`Observer.success_for`)."""
        return self._recent(connector)

    def succeeded(
        self, connector: str, vendor: str, seconds: float, ended: float, operation: str = ""
    ) -> None:
        """A call of `connector` (`operation`) that `vendor` served in `seconds`, ending at
        `ended` (the clock's monotonic time). `Observer.success_for` inlines this: change
        both."""
        recent = self._by_connector.get(connector) or self._recent(connector)
        recent.durations.append((True, seconds))
        recent.last_success = ended
        recent.serving = vendor
        events = self.events
        if events is not None:
            events.append((connector, operation, seconds, ended))

    def failed(
        self,
        connector: str,
        error: BaseException,
        seconds: float,
        ended: float,
        operation: str = "",
    ) -> None:
        """A call of `connector` (`operation`) that failed with `error`."""
        recent = self._recent(connector)
        recent.durations.append((False, seconds))
        recent.last_failure = ended
        recent.last_error = type(error).__name__
        events = self.events
        if events is not None:
            from ._slo_counts import failure_event  # loaded by the monitor that counts

            event = failure_event(connector, operation, error, seconds, ended)
            if event is not None:
                events.append(event)

    def summary(self, connector: str, clock: Clock) -> RecentCalls:
        """What this process knows of `connector`'s recent calls."""
        recent = self._by_connector.get(connector)
        if recent is None:
            return RecentCalls()
        calls = list(recent.durations)
        durations = sorted(seconds for _, seconds in calls)
        failures = sum(1 for ok, _ in calls if not ok)
        return RecentCalls(
            serving=recent.serving,
            calls=len(calls),
            error_rate=failures / len(calls) if calls else None,
            p50_ms=_percentile(durations, 0.50),
            p95_ms=_percentile(durations, 0.95),
            last_success=_when(recent.last_success, clock),
            last_failure=_when(recent.last_failure, clock),
            last_error=recent.last_error,
        )


def nearest_rank(ordered: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (`fraction` of 1) of sorted `ordered`; None if empty.

    >>> nearest_rank([10.0, 20.0, 30.0, 40.0], 0.5), nearest_rank([], 0.5)
    (20.0, None)
    """
    if not ordered:
        return None
    return ordered[min(max(math.ceil(fraction * len(ordered)) - 1, 0), len(ordered) - 1)]


def _percentile(ordered: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of sorted `ordered` seconds, in milliseconds.

    >>> _percentile([0.1, 0.2, 0.3, 0.4], 0.5), _percentile([0.1, 0.2, 0.3, 0.4], 0.95)
    (200.0, 400.0)
    """
    seconds = nearest_rank(ordered, fraction)
    return None if seconds is None else round(seconds * 1000.0, 3)


def _when(monotonic: float | None, clock: Clock) -> datetime | None:
    if monotonic is None:
        return None
    return datetime.fromtimestamp(clock.time() - (clock.monotonic() - monotonic), UTC)


def connector_status(
    vendors: tuple[VendorHealth, ...],
    serving: str | None,
    error_rate: float | None,
    threshold: float = DEGRADED_ERROR_RATE,
) -> tuple[HealthStatus, tuple[str, ...]]:
    """A connector's status and the reasons for it (pure: the rules of the module's
    docstring)."""
    reasons: list[str] = []
    if vendors and all(v.breaker == "open" for v in vendors):
        return "unhealthy", ("every vendor's circuit breaker is open",)
    checked = [v for v in vendors if v.check is not None]
    if checked and all(v.check != "ok" for v in checked) and len(checked) == len(vendors):
        return "unhealthy", tuple(f"{v.vendor}: {v.check}" for v in checked)
    primary = vendors[0].vendor if vendors else None
    if serving is not None and primary is not None and serving != primary:
        reasons.append(f"fallback vendor {serving!r} is serving")
    for vendor in vendors:
        if vendor.breaker in ("open", "half_open"):
            reasons.append(f"{vendor.vendor}: breaker {vendor.breaker.replace('_', '-')}")
        if vendor.check not in (None, "ok"):
            reasons.append(f"{vendor.vendor}: {vendor.check}")
    if error_rate is not None and error_rate >= threshold:
        reasons.append(f"recent error rate {error_rate:.0%}")
    return ("degraded" if reasons else "healthy"), tuple(reasons)


def tightest(limiters: Iterable[LimiterSnapshot]) -> LimiterSnapshot | None:
    """The limiter with the smallest share of its capacity free, or None without one."""
    return min(limiters, key=lambda seen: seen.available / seen.capacity, default=None)


def report_status(connectors: dict[str, ConnectorHealth], dropped: int) -> HealthStatus:
    """The worst connector's status; degraded at best when log records were dropped."""
    worst: HealthStatus = "healthy"
    for health in connectors.values():
        if _ORDER[health.status] > _ORDER[worst]:
            worst = health.status
    if dropped and worst == "healthy":
        return "degraded"
    return worst


def check_adapter(adapter: object, timeout: float = CHECK_TIMEOUT) -> str | None:
    """Run a sync adapter's own ``health_check()`` within `timeout` seconds: ``ok``, the
    problem it reports, or None when it has none. A check that raises or outlives its
    timeout is a problem, named by its class only (another library's text may quote a
    secret). The check runs in a thread of its own, which a hung check leaves behind."""
    check = getattr(adapter, "health_check", None)
    if not callable(check):
        return None
    done: list[object] = []

    def run() -> None:
        try:
            done.append(check())
        except Exception as exc:  # noqa: BLE001 - reported by class, see above
            done.append(exc)

    worker = threading.Thread(target=run, name="nexus-health-check", daemon=True)
    worker.start()
    worker.join(timeout)
    if not done:
        return f"health check gave no answer within {timeout:g} s"
    return _verdict(done[0])


async def acheck_adapter(adapter: object, timeout: float = CHECK_TIMEOUT) -> str | None:
    """`check_adapter` for an async adapter, whose ``health_check`` may be a coroutine."""
    import asyncio  # here: synchronous programs never load it

    check = getattr(adapter, "health_check", None)
    if not callable(check):
        return None
    try:
        async with asyncio.timeout(timeout):
            result = check()
            if inspect.isawaitable(result):
                result = await result
    except TimeoutError:
        return f"health check gave no answer within {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - reported by class, see check_adapter
        result = exc
    return _verdict(result)


def _verdict(result: object) -> str:
    if result is None:
        return "ok"
    if isinstance(result, BaseException):
        return f"health check failed ({type(result).__name__})"
    return str(result)
