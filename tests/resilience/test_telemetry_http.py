"""Telemetry of HTTP vendors: the trace context travels to the vendor (unless switched off),
the attempt span names the server, and a fallback is an event and a count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nexus_connector_core import Money, PaymentRequest
from nexus_connector_core.testing import FakeClock, Fault, FaultServer

MakeManager = Callable[..., Any]
ORDER = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")


def test_the_vendor_receives_the_attempts_traceparent(
    otel: Any, make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock
) -> None:
    manager = make_manager({}, clock=clock)

    manager.payment.get("pi_1")

    (attempt,) = [s for s in otel.spans() if s.name.endswith("attempt 1")]
    traceparent = fault_server.requests[0].headers["traceparent"]
    _version, trace_id, span_id, _flags = traceparent.split("-")
    assert (trace_id, span_id) == (
        f"{attempt.context.trace_id:032x}",
        f"{attempt.context.span_id:016x}",
    )
    assert attempt.attributes["server.address"] == "127.0.0.1"
    assert attempt.attributes["http.response.status_code"] == 200


def test_a_connector_can_keep_the_trace_context_from_its_vendor(
    otel: Any, make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock
) -> None:
    manager = make_manager({}, clock=clock, propagate_trace=False)

    manager.payment.get("pi_1")

    assert "traceparent" not in fault_server.requests[0].headers
    assert otel.spans()  # still traced on our side


def test_without_a_provider_nothing_is_propagated(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock
) -> None:
    make_manager({}, clock=clock).payment.get("pi_1")

    assert "traceparent" not in fault_server.requests[0].headers


def test_a_fallback_is_an_event_on_the_call_and_a_count(
    otel: Any,
    make_manager: MakeManager,
    fault_server: FaultServer,
    fallback_server: FaultServer,
    clock: FakeClock,
) -> None:
    fault_server.default = Fault.status(503)
    manager = make_manager(
        {"retry": {"enabled": False}},
        clock=clock,
        fallback=[("httppay-nokeys", fallback_server)],
    )

    manager.payment.get("pi_1")

    (call,) = [s for s in otel.spans() if s.name == "payment.get"]
    (event,) = [e for e in call.events if e.name == "nexus_connector.fallback"]
    assert dict(event.attributes) == {
        "nexus_connector.vendor": "httppay",
        "nexus_connector.fallback_to": "httppay-nokeys",
    }
    assert call.attributes["nexus_connector.fallback_from"] == ("httppay",)
    (fallbacks,) = otel.points("nexus_connector.fallbacks")
    assert fallbacks.value == 1
