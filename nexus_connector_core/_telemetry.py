"""OpenTelemetry traces and metrics of every call, through ``opentelemetry-api`` only.

The SDK is the application's choice. Nothing here imports OpenTelemetry until the
application has: a provider can only be set (``trace.set_tracer_provider``,
``metrics.set_meter_provider``, or ``opentelemetry-instrument``) by a program that imported
the API, so each call first asks ``sys.modules`` whether it is there at all and then reads
the provider the API keeps, a few dictionary lookups in all. With no provider set, a call
costs that and nothing more.

Traces: one span per call, ``{connector}.{operation}`` (kind CLIENT), with one child span per
attempt; events for retries (with the wait), rate-limit waits, breaker states met, hedges and
fallbacks; status ERROR with the exception recorded on failed attempts and calls. Attributes
follow the semantic conventions where they apply (``error.type``,
``http.response.status_code``, ``server.address``) and sit under ``nexus_connector.``
otherwise; the idempotency key is hashed, never shown. The call span's trace id fills the
integration-log record's ``trace_id``, and HTTP vendors built on the toolkit send the
attempt span's ``traceparent``.

Metrics, instruments made once per meter provider, attributes bounded (connector, vendor,
operation, outcome, error type: never an id or a key): ``nexus_connector.calls``,
``nexus_connector.duration`` (seconds), ``nexus_connector.attempts``,
``nexus_connector.retries``, ``nexus_connector.hedges``, ``nexus_connector.fallbacks``,
``nexus_connector.rate_limit.rejections``, ``nexus_connector.idempotency.replays``, the
observable gauge ``nexus_connector.breaker.state`` (0 closed, 1 half-open, 2 open) and the
observable counter ``nexus_connector.log.dropped`` (records a log sink had to drop).
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from ._errors import ConnectorError, RateLimitExceededError
from ._version import __version__

if TYPE_CHECKING:
    from ._context import CallContext
    from ._resilience.attempts import VendorPolicy

__all__ = [
    "BREAKER_STATES",
    "METRICS_API",
    "TRACE_API",
    "CallTrace",
    "Telemetry",
    "hashed_key",
]

_SCOPE = "nexus_connector"
_modules = sys.modules
#: The gauge's value of each breaker state.
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


def hashed_key(key: str | None) -> str | None:
    """An idempotency key as telemetry may show it: its SHA-256, first 16 hex digits."""
    if key is None:
        return None
    import hashlib  # here, not at import: only a traced call with a key needs it

    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


#: The modules of the OpenTelemetry API that keep the providers an application set.
TRACE_API = "opentelemetry.trace"
METRICS_API = "opentelemetry.metrics._internal"


def _meter_provider() -> Any:
    api = _modules.get(METRICS_API)
    if api is None:
        return None
    return getattr(api, "_METER_PROVIDER", None)


class _Instruments:
    """The metric instruments of one meter provider."""

    def __init__(self, provider: Any, telemetry: Telemetry) -> None:
        meter = provider.get_meter(_SCOPE, __version__)
        self.calls = meter.create_counter(
            "nexus_connector.calls", unit="{call}", description="Calls through the pipeline"
        )
        self.duration = meter.create_histogram(
            "nexus_connector.duration", unit="s", description="Duration of calls, retries included"
        )
        self.attempts = meter.create_counter(
            "nexus_connector.attempts", unit="{attempt}", description="Attempts at vendors"
        )
        self.retries = meter.create_counter(
            "nexus_connector.retries", unit="{retry}", description="Attempts after the first"
        )
        self.hedges = meter.create_counter(
            "nexus_connector.hedges",
            unit="{attempt}",
            description="Attempts started alongside a slow one (hedged reads)",
        )
        self.fallbacks = meter.create_counter(
            "nexus_connector.fallbacks", unit="{call}", description="Calls a fallback served"
        )
        self.rejections = meter.create_counter(
            "nexus_connector.rate_limit.rejections",
            unit="{call}",
            description="Calls our own rate limiter or bulkhead refused",
        )
        self.replays = meter.create_counter(
            "nexus_connector.idempotency.replays",
            unit="{call}",
            description="Calls answered from the idempotency store",
        )
        meter.create_observable_gauge(
            "nexus_connector.breaker.state",
            callbacks=[telemetry.observe_breakers],
            description="Circuit breaker state: 0 closed, 1 half-open, 2 open",
        )
        meter.create_observable_counter(
            "nexus_connector.log.dropped",
            callbacks=[telemetry.observe_dropped],
            unit="{record}",
            description="Integration-log records a sink dropped (its buffer was full)",
        )


class Telemetry:
    """The tracer and instruments of one manager, made when the application sets providers.

    `policies` are the attempt policies of the manager's pipelines, whose last breaker
    states the breaker gauge reports.
    """

    __slots__ = (
        "_instruments",
        "_meter_provider",
        "_tracer",
        "_tracer_provider",
        "policies",
        "propagate",
        "sinks",
    )

    def __init__(self) -> None:
        self._tracer_provider: Any = None
        self._tracer: Any = None
        self._meter_provider: Any = None
        self._instruments: _Instruments | None = None
        self.policies: MutableMapping[int, VendorPolicy] = weakref.WeakValueDictionary()
        #: The integration-log sinks that count the records they drop (``dropped``).
        self.sinks: tuple[Any, ...] = ()

    def begin(self, ctx: CallContext) -> CallTrace | None:
        """Start observing a call: None (two dictionary lookups) when OpenTelemetry is not
        even imported."""
        # The providers read as the API keeps them (`get_tracer_provider()` would cost a
        # microsecond a call, reading the environment), `_meter_provider()` inlined: with the
        # API imported (by any library) and no provider set, this is every call's cost.
        trace_api = _modules.get(TRACE_API)
        metrics_api = _modules.get(METRICS_API)
        if trace_api is None and metrics_api is None:
            return None
        tracer_provider = getattr(trace_api, "_TRACER_PROVIDER", None)
        meter_provider = getattr(metrics_api, "_METER_PROVIDER", None)
        if tracer_provider is None and meter_provider is None:
            return None
        tracer = None
        if tracer_provider is not None:
            if tracer_provider is not self._tracer_provider:
                self._tracer = tracer_provider.get_tracer(_SCOPE, __version__)
                self._tracer_provider = tracer_provider
            tracer = self._tracer
        instruments = None
        if meter_provider is not None:
            if meter_provider is not self._meter_provider:
                self._instruments = _Instruments(meter_provider, self)
                self._meter_provider = meter_provider
            instruments = self._instruments
        return CallTrace(tracer, instruments, ctx)

    def watch(self, policy: VendorPolicy) -> None:
        """Report `policy`'s breaker in the breaker gauge."""
        self.policies[id(policy)] = policy

    def observe_dropped(self, options: Any) -> Iterable[Any]:
        """The dropped-records counter's callback: each counting sink's total so far."""
        from opentelemetry.metrics import Observation

        return [
            Observation(sink.dropped, {"nexus_connector.sink": type(sink).__name__})
            for sink in self.sinks
        ]

    def observe_breakers(self, options: Any) -> Iterable[Any]:
        """The breaker gauge's callback: the last state each watched breaker was seen in."""
        from opentelemetry.metrics import Observation

        seen: dict[tuple[str, str, str], int] = {}
        for policy in list(self.policies.values()):
            state = policy.last_breaker_state
            if state is None:
                continue
            key = (policy.connector, policy.vendor, policy.breaker_scope)
            seen[key] = max(seen.get(key, 0), BREAKER_STATES.get(state, 0))
        return [
            Observation(
                value,
                {
                    "nexus_connector.connector": connector,
                    "nexus_connector.vendor": vendor,
                    "nexus_connector.breaker": scope,
                },
            )
            for (connector, vendor, scope), value in seen.items()
        ]


class CallTrace:
    """One call under observation: its span (with a tracer), its attempt spans, and the
    instruments its outcome is recorded on (with a meter)."""

    __slots__ = ("attempt_span", "instruments", "span", "tracer")

    def __init__(self, tracer: Any, instruments: _Instruments | None, ctx: CallContext) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.attempt_span: Any = None
        self.span: Any = None
        if tracer is not None:
            from opentelemetry.trace import SpanKind

            attributes: dict[str, Any] = {
                "nexus_connector.connector": ctx.connector,
                "nexus_connector.vendor": ctx.vendor,
                "nexus_connector.operation": ctx.operation.name,
            }
            if ctx.idempotency_key is not None:
                attributes["nexus_connector.idempotency_key_hash"] = hashed_key(ctx.idempotency_key)
            self.span = tracer.start_span(
                f"{ctx.connector}.{ctx.operation.name}",
                kind=SpanKind.CLIENT,
                attributes=attributes,
            )

    @property
    def trace_id(self) -> str | None:
        """The call span's trace id (32 hex digits), when a span is recording."""
        span = self.span
        if span is None:
            return None
        context = span.get_span_context()
        return f"{context.trace_id:032x}" if context.is_valid else None

    # -- attempts ----------------------------------------------------------------------------

    def branch(self) -> CallTrace:
        """The same call (its span and instruments) for one of several attempts in flight
        at once (a hedged read): with an attempt span of its own."""
        twin = object.__new__(CallTrace)
        twin.tracer = self.tracer
        twin.instruments = self.instruments
        twin.span = self.span
        twin.attempt_span = None
        return twin

    def hedged(self, ctx: CallContext, delay: float) -> None:
        """A hedge starts, attempt `ctx.attempt`, after its round ran `delay` seconds: an
        event on the call's span, and the hedges counter."""
        if self.span is not None:
            self.span.add_event(
                "nexus_connector.hedge",
                {
                    "nexus_connector.vendor": ctx.vendor,
                    "nexus_connector.attempt": ctx.attempt,
                    "nexus_connector.delay": delay,
                },
            )
        if self.instruments is not None:
            self.instruments.hedges.add(
                1,
                {
                    "nexus_connector.connector": ctx.connector,
                    "nexus_connector.vendor": ctx.vendor,
                    "nexus_connector.operation": ctx.operation.name,
                },
            )

    def attempt_started(self, ctx: CallContext, breaker_state: str | None) -> None:
        """An attempt begins: a child span of the call's (with a tracer)."""
        if self.tracer is None:
            return
        from opentelemetry.trace import SpanKind, set_span_in_context

        attributes: dict[str, Any] = {
            "nexus_connector.connector": ctx.connector,
            "nexus_connector.vendor": ctx.vendor,
            "nexus_connector.operation": ctx.operation.name,
            "nexus_connector.attempt": ctx.attempt,
        }
        if breaker_state is not None:
            attributes["nexus_connector.breaker_state"] = breaker_state
        self.attempt_span = self.tracer.start_span(
            f"{ctx.connector}.{ctx.operation.name} attempt {ctx.attempt}",
            context=set_span_in_context(self.span),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    def attempt_ended(self, ctx: CallContext, error: BaseException | None) -> None:
        """An attempt ends, with `error` or not."""
        span = self.attempt_span
        if span is None:
            return
        self.attempt_span = None
        if ctx.status_code is not None:
            span.set_attribute("http.response.status_code", ctx.status_code)
        if error is not None:
            _failed(span, error)
        span.end()

    def attempt_attribute(self, name: str, value: Any) -> None:
        """An attribute of the attempt in flight (``server.address`` for HTTP vendors)."""
        if self.attempt_span is not None:
            self.attempt_span.set_attribute(name, value)

    def inject(self, headers: MutableMapping[str, str]) -> None:
        """The attempt's trace context (W3C ``traceparent``) into `headers`."""
        span = self.attempt_span or self.span
        if span is None:
            return
        from opentelemetry.propagate import inject
        from opentelemetry.trace import set_span_in_context

        inject(headers, context=set_span_in_context(span))

    # -- events ------------------------------------------------------------------------------

    def event(self, name: str, attributes: dict[str, Any]) -> None:
        """An event on the call's span (``retry``, ``rate_limit.wait``, ``fallback``...)."""
        if self.span is not None:
            self.span.add_event(f"nexus_connector.{name}", attributes)

    # -- the end -----------------------------------------------------------------------------

    def finish(self, ctx: CallContext, duration: float, error: BaseException | None) -> None:
        """The call is over: its span ended, its outcome counted."""
        span = self.span
        fallback_from = ctx.extra("fallback_from")
        replayed = bool(ctx.extra("idempotent_replay"))
        cached = bool(ctx.extra("cache_hit"))
        if self.attempt_span is not None:  # cancelled or interrupted mid-attempt
            self.attempt_ended(ctx, error)
        if span is not None:
            span.set_attribute("nexus_connector.vendor", ctx.vendor)
            span.set_attribute("nexus_connector.attempts", ctx.attempt)
            span.set_attribute("nexus_connector.replayed", replayed)
            span.set_attribute("nexus_connector.cached", cached)
            if fallback_from:
                span.set_attribute("nexus_connector.fallback_from", list(fallback_from))
            if ctx.status_code is not None:
                span.set_attribute("http.response.status_code", ctx.status_code)
            if error is not None:
                _failed(span, error)
            span.end()
        instruments = self.instruments
        if instruments is None:
            return
        attributes = {
            "nexus_connector.connector": ctx.connector,
            "nexus_connector.vendor": ctx.vendor,
            "nexus_connector.operation": ctx.operation.name,
            "nexus_connector.outcome": "ok" if error is None else "error",
        }
        if error is not None:
            attributes["error.type"] = type(error).__name__
        instruments.calls.add(1, attributes)
        instruments.duration.record(duration, attributes)
        base = {k: v for k, v in attributes.items() if k != "error.type"}
        if ctx.attempt:
            instruments.attempts.add(ctx.attempt, base)
        if ctx.attempt > 1:
            # A hedge is an attempt, not a retry.
            retries = ctx.attempt - 1 - (ctx.extra("hedges") or 0)
            if retries > 0:
                instruments.retries.add(retries, base)
        if fallback_from:
            instruments.fallbacks.add(1, base)
        if replayed:
            instruments.replays.add(1, base)
        if isinstance(error, RateLimitExceededError) and error.local:
            instruments.rejections.add(1, base)


def _failed(span: Any, error: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    kind = type(error).__name__
    span.set_attribute("error.type", kind)
    if isinstance(error, ConnectorError):
        span.record_exception(error)  # our messages hold no secret, by design
    else:
        # Another library's text (and so its traceback's last line) may quote a header
        # value: only the class is recorded.
        span.add_event("exception", {"exception.type": kind})
    span.set_status(Status(StatusCode.ERROR, kind))
