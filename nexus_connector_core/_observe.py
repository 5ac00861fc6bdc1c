"""The observe step: one integration-log record per call, handed to the configured loggers."""

from __future__ import annotations

import collections
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from ._clock import Clock
from ._context import CallContext
from ._errors import ConnectorError
from ._health import CallStats
from ._logging import library_logger
from ._telemetry import METRICS_API, TRACE_API, Telemetry

__all__ = [
    "CallLogger",
    "IntegrationLogRecord",
    "LoggingCallLogger",
    "MemoryCallLogger",
    "Observer",
]

LOGGER_NAME = "nexus_connector.calls"


class IntegrationLogRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What happened in one call, for audit and debugging. Holds no secret and no payload.

    Attributes:
        id: unique id of this record.
        timestamp: when the call started (UTC).
        connector / vendor / operation: where it ran; `vendor` is the one that answered last.
        status: ``ok`` or ``error``.
        attempts: how many times a vendor was called (0: rejected before any attempt).
        duration_ms: wall time of the whole call, retries and waits included.
        vendor_status_code: the vendor's last HTTP or protocol status, when known.
        error_class / error_message: the error the caller received.
        retryable: whether that error was marked retryable.
        idempotency_key: the key the call carried.
        trace_id: the OpenTelemetry trace id, when a span was recording.
        fallback_from: the vendors that were given up on before `vendor` answered.
        replayed: the outcome was replayed from the idempotency store (no vendor call).
        cached: the result came from the read cache (no vendor call).
    """

    id: str
    timestamp: datetime
    connector: str
    vendor: str
    operation: str
    status: Literal["ok", "error"]
    attempts: int
    duration_ms: float
    vendor_status_code: int | None = None
    error_class: str | None = None
    error_message: str | None = None
    retryable: bool | None = None
    idempotency_key: str | None = None
    trace_id: str | None = None
    fallback_from: tuple[str, ...] = ()
    replayed: bool = False
    cached: bool = False


@runtime_checkable
class CallLogger(Protocol):
    """Receives every integration-log record; must be fast and must not raise."""

    def emit(self, record: IntegrationLogRecord) -> None: ...


_encoder = msgspec.json.Encoder()


class LoggingCallLogger:
    """Writes records as one JSON line each to the stdlib logger ``nexus_connector.calls``.

    Successful calls log at INFO, failed ones at WARNING; the record itself is attached to
    the `logging.LogRecord` as ``record.integration`` for structured handlers.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or library_logger(LOGGER_NAME)
        #: The logger's `isEnabledFor`, bound once: the observe step asks it on every call
        #: (the level may change at run time).
        self.enabled_for = self.logger.isEnabledFor

    def enabled(self, ok: bool = True) -> bool:
        """Whether the record of a successful (or failed) call would be written at all, so
        that building it can be skipped."""
        return self.enabled_for(logging.INFO if ok else logging.WARNING)

    def emit(self, record: IntegrationLogRecord) -> None:
        level = logging.INFO if record.status == "ok" else logging.WARNING
        if self.logger.isEnabledFor(level):
            self.logger.log(level, _encoder.encode(record).decode(), extra={"integration": record})


class MemoryCallLogger:
    """Keeps the most recent records in memory (``nexus-connector call``, health, tests)."""

    def __init__(self, size: int = 1000) -> None:
        self._records: collections.deque[IntegrationLogRecord] = collections.deque(maxlen=size)

    def emit(self, record: IntegrationLogRecord) -> None:
        self._records.append(record)

    def records(self) -> list[IntegrationLogRecord]:
        """The kept records, oldest first."""
        return list(self._records)

    def clear(self) -> None:
        self._records.clear()


def _record_id() -> str:
    return os.urandom(12).hex()


class Observer:
    """The outermost step of every pipeline: times the call and emits its record.

    It also fills in the connector, vendor and operation of any `ConnectorError` that passes
    through, so errors from adapters say where they happened.
    """

    def __init__(self, loggers: Sequence[CallLogger], telemetry: Telemetry | None = None) -> None:
        self.loggers = tuple(loggers)
        #: OpenTelemetry traces and metrics, when the application set a provider.
        self.telemetry = telemetry or Telemetry()
        self.telemetry.sinks = tuple(lg for lg in self.loggers if hasattr(lg, "dropped"))
        #: Every connector's recent calls in this process, for health.
        self.stats = CallStats()
        # Stdlib loggers are asked on each call whether they would write (their level can
        # change at run time); the others always take records.
        self._conditional = tuple(lg for lg in self.loggers if isinstance(lg, LoggingCallLogger))
        self._always = tuple(lg for lg in self.loggers if not isinstance(lg, LoggingCallLogger))
        # The usual set-up, one stdlib logger, asked without a frame of ours.
        self._one_enabled_for = (
            self._conditional[0].enabled_for if len(self._conditional) == 1 else None
        )
        self._always_and_one = self._always + self._conditional

    def _active(self, ok: bool) -> tuple[CallLogger, ...]:
        conditional = self._conditional
        if not conditional:
            return self._always
        if len(conditional) == 1:  # the usual set-up: one stdlib logger
            return self._always + conditional if conditional[0].enabled(ok) else self._always
        enabled = tuple(lg for lg in conditional if lg.enabled(ok))
        return self._always + enabled if enabled else self._always

    def _emit(
        self,
        loggers: tuple[CallLogger, ...],
        ctx: CallContext,
        clock: Clock,
        duration: float,
        error: BaseException | None,
    ) -> None:
        record = IntegrationLogRecord(
            id=_record_id(),
            timestamp=datetime.fromtimestamp(clock.time() - duration, UTC),
            connector=ctx.connector,
            vendor=ctx.vendor,
            operation=ctx.operation.name,
            status="ok" if error is None else "error",
            attempts=ctx.attempt,
            duration_ms=round(duration * 1000.0, 3),
            vendor_status_code=ctx.status_code
            if ctx.status_code is not None
            else getattr(error, "status_code", None),
            error_class=type(error).__name__ if error is not None else None,
            error_message=str(error) if error is not None else None,
            retryable=getattr(error, "retryable", None) if error is not None else None,
            idempotency_key=ctx.idempotency_key,
            trace_id=ctx.trace.trace_id if ctx.trace is not None else None,
            fallback_from=tuple(ctx.extra("fallback_from") or ()),
            replayed=bool(ctx.extra("idempotent_replay")),
            cached=bool(ctx.extra("cache_hit")),
        )
        for logger in loggers:
            try:
                logger.emit(record)
            except Exception:
                logging.getLogger(LOGGER_NAME).exception("call logger %r failed", logger)

    @staticmethod
    def _contextualise(error: BaseException, ctx: CallContext) -> None:
        if isinstance(error, ConnectorError):
            error.with_context(
                connector=ctx.connector, vendor=ctx.vendor, operation=ctx.operation.name
            )

    def succeeded(self, ctx: CallContext, clock: Clock, start: float, ended: float) -> None:
        """A call that began at `start` succeeded at `ended` (the clock's monotonic time):
        the whole success side of the observe step, in one call (`wrap`; the attempt loop
        that observes the call itself uses `success_for`, which does the same: change both)."""
        duration = ended - start
        self.stats.succeeded(ctx.connector, ctx.vendor, duration, ended, ctx.operation.name)
        trace = ctx.trace
        if trace is not None:
            trace.finish(ctx, duration, None)
        enabled_for = self._one_enabled_for
        if enabled_for is not None:
            loggers = self._always_and_one if enabled_for(logging.INFO) else self._always
        else:
            loggers = self._active(True)
        if loggers:
            self._emit(loggers, ctx, clock, duration, None)

    def success_for(self, connector: str) -> Callable[[CallContext, Clock, float, float], None]:
        """`succeeded` for the calls of one connector, what it reads bound once (its record
        of recent calls taken on its first success): the attempt loop that observes the
        call itself calls it on every success. Its body is `succeeded`'s and
        `CallStats.succeeded`'s, inlined: change them together."""
        stats = self.stats
        recent: Any = None
        enabled_for = self._one_enabled_for
        always, always_and_one = self._always, self._always_and_one
        active, emit = self._active, self._emit
        info = logging.INFO

        def succeeded(ctx: CallContext, clock: Clock, start: float, ended: float) -> None:
            nonlocal recent
            duration = ended - start
            if recent is None:
                recent = stats.recent(connector)
            recent.durations.append((True, duration))
            recent.last_success = ended
            recent.serving = ctx.vendor
            events = stats.events
            if events is not None:
                events.append((connector, ctx.operation.name, duration, ended))
            trace = ctx.trace
            if trace is not None:
                trace.finish(ctx, duration, None)
            if enabled_for is not None:
                loggers = always_and_one if enabled_for(info) else always
            else:
                loggers = active(True)
            if loggers:
                emit(loggers, ctx, clock, duration, None)

        return succeeded

    def failed(self, ctx: CallContext, clock: Clock, start: float, error: BaseException) -> None:
        """A call that began at `start` raised `error`: the failure side of the step."""
        self._contextualise(error, ctx)
        ended = clock.monotonic()
        duration = ended - start
        self.stats.failed(ctx.connector, error, duration, ended, ctx.operation.name)
        trace = ctx.trace
        if trace is not None:
            trace.finish(ctx, duration, error)
        loggers = self._active(False)
        if loggers:
            self._emit(loggers, ctx, clock, duration, error)

    def wrap(self, handler: Callable[[Any, CallContext], Any]) -> Callable[[Any, CallContext], Any]:
        """The synchronous observe step around `handler`."""
        begin = self.telemetry.begin
        modules = sys.modules
        succeeded, failed = self.succeeded, self.failed

        def observe(request: Any, ctx: CallContext) -> Any:
            clock = ctx.clock
            start = clock.monotonic()
            if TRACE_API in modules or METRICS_API in modules:  # else no provider can be set
                ctx.trace = begin(ctx)
            try:
                result = handler(request, ctx)
            except BaseException as error:
                failed(ctx, clock, start, error)
                raise
            succeeded(ctx, clock, start, clock.monotonic())
            return result

        return observe

    def wrap_async(
        self, handler: Callable[[Any, CallContext], Awaitable[Any]]
    ) -> Callable[[Any, CallContext], Awaitable[Any]]:
        """The asynchronous observe step around `handler`."""
        begin = self.telemetry.begin
        modules = sys.modules
        succeeded, failed = self.succeeded, self.failed

        async def observe(request: Any, ctx: CallContext) -> Any:
            clock = ctx.clock
            start = clock.monotonic()
            if TRACE_API in modules or METRICS_API in modules:  # else no provider can be set
                ctx.trace = begin(ctx)
            try:
                result = await handler(request, ctx)
            except BaseException as error:
                failed(ctx, clock, start, error)
                raise
            succeeded(ctx, clock, start, clock.monotonic())
            return result

        return observe
