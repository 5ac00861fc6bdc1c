"""OpenTelemetry traces and metrics of calls, as an application's SDK collects them."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_connector_core import (
    AsyncConnectorManager,
    CircuitOpenError,
    ConnectorManager,
    Money,
    PaymentRequest,
    PluginRegistry,
    RateLimitExceededError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock

SECRET = "sk_live_telemetry_secret_0123456789"
KEY = "order-42-idempotency-key"
ORDER = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")


def _config(**table: Any) -> dict[str, Any]:
    payment = {
        "vendor": "memory",  # honours idempotency keys, so a keyed purchase is retried
        "credentials": {"api_key": "env:PSP_KEY"},
        "resilience": {"retry": {"max_attempts": 3, "base": 0.5, "jitter": "none"}},
        **table,
    }
    return {"connectors": {"payment": payment}, "observability": {"loggers": ["memory"]}}


def _manager(registry: PluginRegistry, clock: FakeClock, **table: Any) -> ConnectorManager:
    return ConnectorManager.from_config(
        _config(**table), registry=registry, clock=clock, environ={"PSP_KEY": SECRET}
    )


def _everything_shown(otel: Any) -> str:
    """Every name, attribute and event of every span, and every metric attribute."""
    parts = []
    for span in otel.spans():
        parts += [span.name, repr(dict(span.attributes or {})), repr(span.status.description)]
        for event in span.events:
            parts += [event.name, repr(dict(event.attributes or {}))]
    data = otel.metric_reader.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                parts += [repr(dict(p.attributes)) for p in metric.data.data_points]
    return "\n".join(parts)


def test_a_call_failing_twice_then_succeeding_is_one_span_with_three_attempts(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    from opentelemetry.trace import SpanKind, StatusCode

    with _manager(registry, clock, options={"fail_first": 2}) as manager:
        manager.payment.purchase(ORDER, idempotency_key=KEY)
        record = manager.call_log[-1]

    spans = otel.spans()
    (call,) = [s for s in spans if s.name == "payment.purchase"]
    attempts = sorted((s for s in spans if s is not call), key=lambda s: s.start_time)
    assert call.kind is SpanKind.CLIENT
    assert [s.name for s in attempts] == [f"payment.purchase attempt {n}" for n in (1, 2, 3)]
    assert all(s.parent is not None and s.parent.span_id == call.context.span_id for s in attempts)
    assert [s.status.status_code for s in attempts] == [StatusCode.ERROR] * 2 + [StatusCode.UNSET]
    assert [s.attributes["error.type"] for s in attempts[:2]] == ["VendorUnavailableError"] * 2
    assert [s.attributes["nexus_connector.attempt"] for s in attempts] == [1, 2, 3]
    assert call.status.status_code is StatusCode.UNSET
    assert call.attributes["nexus_connector.attempts"] == 3
    assert call.attributes["nexus_connector.connector"] == "payment"
    retries = [e for e in call.events if e.name == "nexus_connector.retry"]
    assert [e.attributes["nexus_connector.wait"] for e in retries] == [0.5, 1.0]
    assert record.trace_id == f"{call.context.trace_id:032x}"


def test_the_metrics_count_the_call_its_attempts_and_retries(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    with _manager(registry, clock, options={"fail_first": 2}) as manager:
        manager.payment.purchase(ORDER)
        (gauge,) = otel.points("nexus_connector.breaker.state")

    assert gauge.value == 0  # closed
    assert gauge.attributes["nexus_connector.vendor"] == "memory"
    (calls,) = otel.points("nexus_connector.calls")
    (attempts,) = otel.points("nexus_connector.attempts")
    (retries,) = otel.points("nexus_connector.retries")
    (duration,) = otel.points("nexus_connector.duration")
    assert (calls.value, attempts.value, retries.value, duration.count) == (1, 3, 2, 1)
    assert dict(calls.attributes) == {
        "nexus_connector.connector": "payment",
        "nexus_connector.vendor": "memory",
        "nexus_connector.operation": "purchase",
        "nexus_connector.outcome": "ok",
    }


def test_a_failed_call_is_an_error_span_and_an_error_outcome(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    from opentelemetry.trace import StatusCode

    with _manager(registry, clock, options={"fail_first": 5}) as manager:
        with pytest.raises(VendorUnavailableError):
            manager.payment.purchase(ORDER)

    (call,) = [s for s in otel.spans() if s.name == "payment.purchase"]
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "VendorUnavailableError"
    assert any(e.name == "exception" for e in call.events)
    (calls,) = otel.points("nexus_connector.calls")
    assert calls.attributes["nexus_connector.outcome"] == "error"
    assert calls.attributes["error.type"] == "VendorUnavailableError"


def test_no_secret_and_no_idempotency_key_appear_in_spans_events_or_metrics(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    with _manager(registry, clock, options={"fail_first": 2}) as manager:
        manager.payment.purchase(ORDER, idempotency_key=KEY)
        manager.payment.purchase(ORDER, idempotency_key=KEY)  # replayed

    shown = _everything_shown(otel)
    assert SECRET not in shown
    assert KEY not in shown
    (replays,) = otel.points("nexus_connector.idempotency.replays")
    assert replays.value == 1
    calls = [s for s in otel.spans() if s.name == "payment.purchase"]
    assert (
        calls[0].attributes["nexus_connector.idempotency_key_hash"]
        == (calls[1].attributes["nexus_connector.idempotency_key_hash"])
    )


def test_a_replayed_and_a_cached_call_say_so_on_their_spans(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    with _manager(registry, clock, resilience={"cache": {"ttl": 30.0}}) as manager:
        payment = manager.payment.purchase(ORDER, idempotency_key=KEY)
        manager.payment.purchase(ORDER, idempotency_key=KEY)  # from the idempotency store
        manager.payment.get(payment.vendor_id)
        manager.payment.get(payment.vendor_id)  # from the read cache

    calls = sorted(
        (s for s in otel.spans() if s.name in ("payment.purchase", "payment.get")),
        key=lambda s: s.start_time,
    )
    shown = [
        (s.name, s.attributes["nexus_connector.replayed"], s.attributes["nexus_connector.cached"])
        for s in calls
    ]
    assert shown == [
        ("payment.purchase", False, False),
        ("payment.purchase", True, False),
        ("payment.get", False, False),
        ("payment.get", False, True),
    ]


async def test_the_async_manager_traces_the_same_way(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    manager = AsyncConnectorManager.from_config(
        _config(options={"fail_first": 1}),
        registry=registry,
        clock=clock,
        environ={"PSP_KEY": SECRET},
    )
    try:
        await manager.payment.purchase(ORDER)
    finally:
        await manager.aclose()

    names = sorted(s.name for s in otel.spans())
    assert names == ["payment.purchase", "payment.purchase attempt 1", "payment.purchase attempt 2"]


def test_without_a_provider_a_call_has_no_trace(registry: PluginRegistry, clock: FakeClock) -> None:
    with _manager(registry, clock) as manager:
        manager.payment.purchase(ORDER)

        assert manager.call_log[-1].trace_id is None


def test_providers_set_or_unset_while_the_manager_runs_are_seen_by_the_next_call(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    """The attempt loop checks the API's providers itself on every call (no call to
    `Telemetry.begin` while none is set): a provider set later, or only one of the two, is
    used from the next call on."""
    from opentelemetry import trace
    from opentelemetry.metrics import _internal as metrics_internal

    tracer_provider, meter_provider = trace._TRACER_PROVIDER, metrics_internal._METER_PROVIDER
    with _manager(registry, clock) as manager:
        trace._TRACER_PROVIDER = metrics_internal._METER_PROVIDER = None  # imported, unset
        manager.payment.purchase(ORDER)
        assert manager.call_log[-1].trace_id is None
        assert otel.spans() == []
        assert otel.points("nexus_connector.calls") == []

        trace._TRACER_PROVIDER = tracer_provider  # traces only
        manager.payment.purchase(ORDER)
        assert manager.call_log[-1].trace_id is not None
        assert [s.name for s in otel.spans()] == ["payment.purchase attempt 1", "payment.purchase"]
        assert otel.points("nexus_connector.calls") == []

        trace._TRACER_PROVIDER, metrics_internal._METER_PROVIDER = None, meter_provider
        manager.payment.purchase(ORDER)  # metrics only
        assert manager.call_log[-1].trace_id is None
        assert len(otel.spans()) == 2
        assert sum(p.value for p in otel.points("nexus_connector.calls")) == 1


class _DroppingSink:
    """A log sink whose buffer was full for some records (as the SQL sink counts them)."""

    def __init__(self) -> None:
        self.dropped = 0

    def emit(self, record: Any) -> None:
        self.dropped += 1


def test_the_records_a_log_sink_dropped_are_a_metric(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    sink = _DroppingSink()
    with ConnectorManager.from_config(
        _config(), registry=registry, clock=clock, environ={"PSP_KEY": SECRET}, loggers=[sink]
    ) as manager:
        manager.payment.purchase(ORDER)
        manager.payment.purchase(ORDER)
        (dropped,) = otel.points("nexus_connector.log.dropped")

    assert dropped.value == 2
    assert dict(dropped.attributes) == {"nexus_connector.sink": "_DroppingSink"}


def test_a_rate_limit_rejection_is_an_event_and_a_count(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    limited = {"retry": {"enabled": False}, "rate_limit": {"rate": 1, "per": 60.0, "burst": 1}}
    with _manager(registry, clock, resilience=limited) as manager:
        manager.payment.purchase(ORDER)
        with pytest.raises(RateLimitExceededError):
            manager.payment.purchase(ORDER)

    first, second = sorted(
        (s for s in otel.spans() if s.name == "payment.purchase"), key=lambda s: s.start_time
    )
    assert not [e for e in first.events if e.name == "nexus_connector.rejected"]
    (rejected,) = [e for e in second.events if e.name == "nexus_connector.rejected"]
    assert rejected.attributes["nexus_connector.vendor"] == "memory"
    assert rejected.attributes["nexus_connector.retry_after"] > 0
    assert second.attributes["error.type"] == "RateLimitExceededError"
    (rejections,) = otel.points("nexus_connector.rate_limit.rejections")
    assert rejections.value == 1
    assert set(rejections.attributes) == {  # bounded: no key, no id
        "nexus_connector.connector",
        "nexus_connector.vendor",
        "nexus_connector.operation",
        "nexus_connector.outcome",
    }


def test_a_rate_limit_wait_is_an_event_with_the_wait(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    waiting = {
        "retry": {"enabled": False},
        "rate_limit": {"rate": 1, "per": 2.0, "burst": 1, "wait": True},
    }
    with _manager(registry, clock, resilience=waiting) as manager:
        manager.payment.purchase(ORDER)
        manager.payment.purchase(ORDER)  # waits for its token on the fake clock

    second = max(
        (s for s in otel.spans() if s.name == "payment.purchase"), key=lambda s: s.start_time
    )
    (wait,) = [e for e in second.events if e.name == "nexus_connector.rate_limit.wait"]
    assert wait.attributes["nexus_connector.wait"] == pytest.approx(2.0)
    assert not otel.points("nexus_connector.rate_limit.rejections")


def test_breaker_transitions_are_events_attributes_and_the_gauge(
    otel: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    from opentelemetry.trace import StatusCode

    breaker = {"window": 2, "min_calls": 2, "failure_rate": 0.5, "open_for": 30.0}
    resilience = {"retry": {"enabled": False}, "circuit_breaker": breaker}
    with _manager(registry, clock, options={"fail_first": 2}, resilience=resilience) as manager:
        for _ in range(2):
            with pytest.raises(VendorUnavailableError):
                manager.payment.purchase(ORDER)
        with pytest.raises(CircuitOpenError):
            manager.payment.purchase(ORDER)
        (open_gauge,) = otel.points("nexus_connector.breaker.state")
        clock.advance(31.0)
        manager.payment.purchase(ORDER)  # a trial call, which succeeds

    calls = sorted(
        (s for s in otel.spans() if s.name == "payment.purchase"), key=lambda s: s.start_time
    )
    seen = [
        (
            e.attributes["nexus_connector.breaker_state_before"],
            e.attributes["nexus_connector.breaker_state"],
        )
        for call in calls
        for e in call.events
        if e.name == "nexus_connector.breaker"
    ]
    assert seen == [("unknown", "closed"), ("closed", "open"), ("open", "half_open")]
    refused = calls[2]
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.attributes["error.type"] == "CircuitOpenError"
    assert any(e.name == "nexus_connector.rejected" for e in refused.events)
    assert open_gauge.value == 2  # open
    trial = [
        s
        for s in otel.spans()
        if s.parent is not None and s.parent.span_id == calls[3].context.span_id
    ]
    assert [s.attributes["nexus_connector.breaker_state"] for s in trial] == ["half_open"]
