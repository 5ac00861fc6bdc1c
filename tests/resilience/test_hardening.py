"""Regression tests of issue 9's pipeline findings: double sends, deadlines, request_sent.

Each test is named after the behaviour it pins; over real sockets where the behaviour is
about them (the ``httppay`` vendor of conftest.py, on the core's HTTP toolkit, against a
`FaultServer`). Waits run on a `FakeClock` except where the behaviour is a wall-clock bound.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import types
from collections.abc import Callable
from typing import Any

import pytest

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    ConnectorError,
    ConnectorManager,
    InvalidIdempotencyKeyError,
    Money,
    Payment,
    PaymentRequest,
    PluginRegistry,
    Registrar,
    VendorTimeoutError,
    VendorUnavailableError,
    hookimpl,
)
from nexus_connector_core.testing import FakeClock, Fault, FaultServer

MakeManager = Callable[..., Any]
ORDER = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def call(manager: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
    result = getattr(manager.payment, operation)(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def failure(manager: Any, operation: str, *args: Any, **kwargs: Any) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        await call(manager, operation, *args, **kwargs)
    return caught.value


# -- 1: the retry budget ---------------------------------------------------------------------


async def test_a_budget_refusal_after_a_possible_charge_never_falls_back(
    make_manager: MakeManager,
    fault_server: FaultServer,
    fallback_server: FaultServer,
    clock: FakeClock,
    flavour: str,
) -> None:
    # Attempt 1 may have charged (reset after the request); attempt 2 surely did not (429);
    # the budget refuses attempt 3. The call may have charged: no other vendor may charge.
    fault_server.script(Fault.reset_after_request(), Fault.status(429, retry_after=0))
    resilience = {"retry": {"max_attempts": 3, "budget": {"ratio": 1.0, "min_per_second": 0}}}
    manager = make_manager(
        resilience,
        clock=clock,
        async_=flavour == "async",
        fallback=[("httppay-nokeys", fallback_server)],
    )

    error = await failure(manager, "purchase", ORDER, idempotency_key="order-1")

    assert error.maybe_processed
    assert fault_server.hits == 2
    assert fallback_server.hits == 0
    assert any("retry budget" in note for note in getattr(error, "__notes__", []))


# -- 2: cancellation -------------------------------------------------------------------------


async def test_a_cancelled_keyed_send_keeps_its_key_in_doubt(
    make_manager: MakeManager, fault_server: FaultServer
) -> None:
    fault_server.script(Fault.stall())  # the vendor has the request and says nothing
    manager = make_manager({"retry": {"enabled": False}}, async_=True, vendor="httppay-nokeys")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(manager.payment.purchase(ORDER, idempotency_key="k"), 0.3)
    error = await failure(manager, "purchase", ORDER, idempotency_key="k")

    assert fault_server.hits == 1  # the repeat never reached the vendor
    assert isinstance(error, VendorUnavailableError)
    assert error.maybe_processed
    assert "ended in doubt" in str(error)


async def test_a_cancelled_call_at_a_vendor_that_honours_keys_resumes_there_only(
    make_manager: MakeManager, fault_server: FaultServer, fallback_server: FaultServer
) -> None:
    fault_server.script(Fault.stall())
    manager = make_manager(
        {"retry": {"enabled": False}},
        async_=True,
        fallback=[("httppay-nokeys", fallback_server)],
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(manager.payment.purchase(ORDER, idempotency_key="k"), 0.3)

    payment = await call(manager, "purchase", ORDER, idempotency_key="k")

    assert payment.status == "succeeded"
    keys = [r.headers.get("idempotency-key") for r in fault_server.requests]
    assert keys == ["k", "k"]  # asked again, with the same key: the vendor deduplicates
    assert fallback_server.hits == 0
    again = await call(manager, "purchase", ORDER, idempotency_key="k")
    assert again == payment
    assert fault_server.hits == 2  # the settled outcome is stored: no third request


def test_an_interrupted_sync_call_keeps_its_key_in_doubt(registry: PluginRegistry) -> None:
    plugin = _plugin(_Interrupting)
    registry.register(plugin)
    config = {"connectors": {"payment": {"vendor": "interrupting"}}}
    with ConnectorManager.from_config(config, registry=registry, clock=FakeClock()) as m:
        with pytest.raises(KeyboardInterrupt):
            m.payment.purchase(ORDER, idempotency_key="k")
        with pytest.raises(VendorUnavailableError) as caught:
            m.payment.purchase(ORDER, idempotency_key="k")

        assert caught.value.maybe_processed
        assert m.payment.adapter.received == 1


# -- 3: unknown exceptions -------------------------------------------------------------------


async def test_an_answer_with_a_wrong_content_encoding_keeps_the_key_in_doubt(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    broken = Fault.respond(200, b"not gzip at all", {"Content-Encoding": "gzip"})
    fault_server.script(broken)
    manager = make_manager({}, clock=clock, async_=flavour == "async", vendor="httppay-nokeys")

    first = await failure(manager, "purchase", ORDER, idempotency_key="k")
    repeat = await failure(manager, "purchase", ORDER, idempotency_key="k")

    assert isinstance(first, VendorUnavailableError)
    assert first.maybe_processed
    assert "could not be decoded" in str(first)
    assert isinstance(repeat, VendorUnavailableError)
    assert fault_server.hits == 1


def test_an_unmapped_exception_from_an_adapter_keeps_the_key_in_doubt(
    registry: PluginRegistry,
) -> None:
    registry.register(_plugin(_Buggy))
    config = {"connectors": {"payment": {"vendor": "buggy"}}}
    with ConnectorManager.from_config(config, registry=registry, clock=FakeClock()) as m:
        with pytest.raises(RuntimeError):
            m.payment.purchase(ORDER, idempotency_key="k")
        with pytest.raises(VendorUnavailableError, match="ended in doubt"):
            m.payment.purchase(ORDER, idempotency_key="k")

        assert m.payment.adapter.received == 1


def test_an_exception_before_the_request_went_out_frees_the_key(
    registry: PluginRegistry,
) -> None:
    registry.register(_plugin(_BuggyBeforeSending))
    config = {"connectors": {"payment": {"vendor": "buggy-before-sending"}}}
    with ConnectorManager.from_config(config, registry=registry, clock=FakeClock()) as m:
        with pytest.raises(RuntimeError):
            m.payment.purchase(ORDER, idempotency_key="k")
        with pytest.raises(RuntimeError):  # tried again: nothing had been sent
            m.payment.purchase(ORDER, idempotency_key="k")

        assert m.payment.adapter.attempts == 2


# -- 4: keys that cannot identify a call -----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("", "empty or blank"),
        ("   ", "empty or blank"),
        ("\t\n", "empty or blank"),
        ("x" * 256, "at most 255"),
        ("order\r\n42", "control"),
        ("order\x0042", "control"),
    ],
    ids=["empty", "blank", "whitespace", "too-long", "crlf", "nul"],
)
def test_an_idempotency_key_that_cannot_identify_a_call_is_refused(
    registry: PluginRegistry, key: str, says: str
) -> None:
    config = {"connectors": {"payment": {"vendor": "memory"}}}
    with ConnectorManager.from_config(config, registry=registry) as m:
        with pytest.raises(InvalidIdempotencyKeyError, match=says) as caught:
            m.payment.purchase(ORDER, idempotency_key=key)

        assert isinstance(caught.value, ValueError)
        assert m.payment.adapter.calls == []


def test_a_key_of_255_characters_is_taken(registry: PluginRegistry) -> None:
    config = {"connectors": {"payment": {"vendor": "memory"}}}
    with ConnectorManager.from_config(config, registry=registry) as m:
        m.payment.purchase(ORDER, idempotency_key="x" * 255)
        m.payment.purchase(ORDER, idempotency_key="x" * 255)

        assert len(m.payment.adapter.calls) == 1


def test_a_derived_key_from_a_blank_field_is_no_key(registry: PluginRegistry) -> None:
    resilience = {"idempotency": {"derive_from": ["metadata.order_id"]}}
    config = {"connectors": {"payment": {"vendor": "memory", "resilience": resilience}}}
    blank = PaymentRequest(
        amount=Money(1999, "USD"), payment_method="pm_card_visa", metadata={"order_id": " "}
    )
    with ConnectorManager.from_config(config, registry=registry) as m:
        m.payment.purchase(blank)
        m.payment.purchase(blank)

        assert len(m.payment.adapter.calls) == 2  # two customers, two payments


# -- 5: results that cannot be stored --------------------------------------------------------


def test_a_result_that_cannot_be_stored_keeps_the_key_in_doubt(registry: PluginRegistry) -> None:
    registry.register(_plugin(_Unencodable))
    config = {"connectors": {"payment": {"vendor": "unencodable"}}}
    with ConnectorManager.from_config(config, registry=registry, clock=FakeClock()) as m:
        payment = m.payment.purchase(ORDER, idempotency_key="k")
        with pytest.raises(VendorUnavailableError, match="could not be stored"):
            m.payment.purchase(ORDER, idempotency_key="k")

        assert payment.vendor_id == "pay_1"
        assert m.payment.adapter.received == 1


# -- 6: a sync call's deadline holds on the wall clock ---------------------------------------


@pytest.mark.parametrize("vendor", ["httppay", "httppay-nokeys"])
def test_a_sync_call_to_a_trickling_vendor_ends_at_its_deadline(
    make_manager: MakeManager, fault_server: FaultServer, vendor: str
) -> None:
    # One byte every 0.4 s: each read is well within the 1 s timeout, the answer takes 40 s.
    fault_server.default = Fault.trickle(0.4, 200, {"id": "pi_1", "status": "succeeded"})
    manager = make_manager(
        {"timeout": 1.0, "deadline": 2.0, "retry": {"max_attempts": 5, "base": 0.0}},
        vendor=vendor,
    )

    started = time.monotonic()
    with pytest.raises(VendorTimeoutError) as caught:
        manager.payment.purchase(ORDER, idempotency_key="k")
    took = time.monotonic() - started

    assert took < 2.2
    assert caught.value.maybe_processed


def test_the_in_flight_marker_outlives_a_sync_call_cut_at_its_deadline(
    make_manager: MakeManager, fault_server: FaultServer
) -> None:
    fault_server.default = Fault.trickle(0.4, 200, {"id": "pi_1", "status": "succeeded"})
    resilience = {
        "timeout": 1.0,
        "deadline": 1.5,
        "retry": {"enabled": False},
        "idempotency": {"claim_ttl": 0.5},
    }
    manager = make_manager(resilience, vendor="httppay-nokeys")

    with pytest.raises(VendorTimeoutError):
        manager.payment.purchase(ORDER, idempotency_key="k")
    with pytest.raises(VendorUnavailableError, match="ended in doubt"):
        manager.payment.purchase(ORDER, idempotency_key="k")

    assert fault_server.hits == 1


# -- 7: a request that never went out -------------------------------------------------------


async def test_an_attempt_cut_before_its_request_was_written_falls_back_even_for_a_charge(
    make_manager: MakeManager, fault_server: FaultServer, fallback_server: FaultServer
) -> None:
    # The primary accepts TCP and never completes TLS: the request is never written. The
    # watchdog cuts the attempt (the transport has no timeout of its own here).
    manager = make_manager(
        {"timeout": 0.3, "retry": {"enabled": False}},
        async_=True,
        base_url=fault_server.url.replace("http://", "https://"),
        options={"ignore_timeout": True},
        fallback=[("httppay-nokeys", fallback_server)],
    )

    payment = await manager.payment.purchase(ORDER, idempotency_key="k")

    assert payment.status == "succeeded"
    assert fault_server.hits == 0  # nothing the primary could act on arrived
    assert fallback_server.hits == 1
    assert manager.call_log[-1].fallback_from == ("httppay",)


async def test_request_sent_is_false_until_the_first_byte_is_written(
    make_manager: MakeManager, fault_server: FaultServer, closed_port: int
) -> None:
    # The watchdog cuts each attempt (the transport has no timeout of its own here), so
    # whether the cut call may have been processed is what ctx.request_sent said then.
    def cut_at(base_url: str) -> Any:
        return make_manager(
            {"timeout": 0.3, "retry": {"enabled": False}},
            async_=True,
            vendor="httppay-nokeys",
            base_url=base_url,
            options={"ignore_timeout": True},
        )

    refused = await failure(cut_at(f"http://127.0.0.1:{closed_port}"), "purchase", ORDER)
    # TCP accepted, TLS never completes: connected, and no byte of the request written.
    https = fault_server.url.replace("http://", "https://")
    connected = await failure(cut_at(https), "purchase", ORDER)
    fault_server.script(Fault.stall())  # the request read whole, then no answer
    written = await failure(cut_at(fault_server.url), "purchase", ORDER)

    assert isinstance(refused, VendorUnavailableError)
    assert not refused.maybe_processed
    assert isinstance(connected, VendorTimeoutError)
    assert not connected.maybe_processed, "connected, but nothing of the request was written"
    assert isinstance(written, VendorTimeoutError)
    assert written.maybe_processed, "the request was written: the vendor may have acted"
    assert fault_server.hits == 1


# -- 8: a deadline cut is a slow call, not a failure ----------------------------------------


async def test_an_attempt_cut_by_the_deadline_counts_as_slow_not_failed(
    make_manager: MakeManager, fault_server: FaultServer, flavour: str
) -> None:
    fault_server.default = Fault.stall()
    resilience = {
        "timeout": 5.0,
        "deadline": 0.3,
        "retry": {"enabled": False},
        "circuit_breaker": {"slow_call_duration": 0.25, "min_calls": 1, "window": 5},
    }
    manager = make_manager(resilience, async_=flavour == "async")

    error = await failure(manager, "get", "pi_1")
    plan = manager.connector("payment").guard_plan("get")
    breaker = manager.state.breaker(plan)
    if inspect.isawaitable(breaker):
        breaker = await breaker

    assert isinstance(error, VendorTimeoutError)
    assert error.deadline_exceeded
    assert (breaker.calls, breaker.failures, breaker.slow_calls) == (1, 0, 1)
    assert breaker.state == "open"  # every call slow: the slow-call rate trips it


# -- test vendors ----------------------------------------------------------------------------


class _Vendor:
    """A payment vendor whose `purchase` misbehaves; it counts what it received."""

    def __init__(self, settings: AdapterSettings) -> None:
        self.vendor = settings.vendor
        self.received = 0
        self.attempts = 0

    def _payment(self, raw: Any = None) -> Payment:
        return Payment(
            vendor=self.vendor,
            vendor_id="pay_1",
            status="succeeded",
            amount=ORDER.amount,
            captured=ORDER.amount,
            refunded=Money(0, "USD"),
            raw=raw,
        )

    def __getattr__(self, name: str) -> Any:
        if name in ("authorize", "capture", "refund", "void", "get"):
            return lambda request, ctx: self._payment()
        raise AttributeError(name)


class _Interrupting(_Vendor):
    key = "interrupting"

    def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        self.received += 1
        raise KeyboardInterrupt


class _Buggy(_Vendor):
    key = "buggy"

    def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        self.received += 1
        raise RuntimeError("a bug after the request went out")


class _BuggyBeforeSending(_Vendor):
    key = "buggy-before-sending"

    def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        self.attempts += 1
        ctx.request_sent = False  # as the HTTP toolkit says before the first byte is written
        raise RuntimeError("a bug while building the request")


class _Unencodable(_Vendor):
    key = "unencodable"

    def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        self.received += 1
        return self._payment(raw=object())  # nothing can encode this for replay


def _plugin(vendor: type[_Vendor]) -> Any:
    @hookimpl
    def register_payment_vendors(register: Registrar) -> None:
        key = vendor.key  # type: ignore[attr-defined]
        register(key, vendor, async_impl=vendor, description="misbehaving (test)")

    return types.SimpleNamespace(
        __name__=vendor.__name__, register_payment_vendors=register_payment_vendors
    )


async def test_the_default_slow_call_settings_open_the_breaker_on_a_vendor_that_hangs(
    make_manager: MakeManager, fault_server: FaultServer, flavour: str
) -> None:
    # Every call runs into its (short) deadline: with nothing but the deadline configured,
    # ten such calls make every call of the window slow, and the breaker opens.
    fault_server.default = Fault.stall()
    manager = make_manager(
        {"deadline": 0.05, "retry": {"enabled": False}}, async_=flavour == "async"
    )

    errors = [await failure(manager, "get", "pi_1") for _ in range(11)]
    plan = manager.connector("payment").guard_plan("get")
    breaker = manager.state.breaker(plan)
    if inspect.isawaitable(breaker):
        breaker = await breaker

    assert all(isinstance(e, VendorTimeoutError) and e.deadline_exceeded for e in errors[:10])
    assert type(errors[10]).__name__ == "CircuitOpenError"
    assert (breaker.state, breaker.failures, breaker.slow_calls) == ("open", 0, 10)
    assert fault_server.hits == 10
