"""The resilience pipeline against a misbehaving vendor over real sockets.

Each test scripts what the vendor (a `FaultServer`) does with each request and states what
the caller sees and what reached the vendor. Waits run on a `FakeClock`, so they are
asserted, not slept; only the deadline and timeout tests use the real clock. Tests that hold
for both managers take `flavour` and run once with the sync and once with the async one.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.utils import formatdate
from functools import partial
from typing import Any

import httpx
import pytest

from nexus_connector_core import (
    AsyncConnectorManager,
    AuthenticationError,
    CircuitOpenError,
    ConnectorError,
    IdempotencyConflictError,
    InvalidRequestError,
    Money,
    ObjectNotFoundError,
    PaymentDeclinedError,
    PaymentRequest,
    RateLimitExceededError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock, Fault, FaultServer
from nexus_connector_core.testing._fault_server import ReceivedRequest

MakeManager = Callable[..., Any]

#: Retries without jitter, so the waits asserted are the vendor's Retry-After exactly.
STEADY_RETRY: dict[str, Any] = {"retry": {"max_attempts": 2, "base": 0.1, "jitter": "none"}}
OPEN_FOR = 30.0
#: Opens when half of the last 4 calls failed; then admits 2 trial calls.
BREAKER: dict[str, Any] = {
    "retry": {"enabled": False},
    "circuit_breaker": {
        "window": 4,
        "min_calls": 4,
        "failure_rate": 0.5,
        "open_for": OPEN_FOR,
        "half_open_calls": 2,
    },
}


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def call(manager: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
    """``manager.payment.<operation>(...)``, awaited when the manager is async."""
    result = getattr(manager.payment, operation)(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def faults_seen(server: FaultServer) -> list[str]:
    """What each request got: a status code, or the kind of fault."""
    return [
        str(r.fault.status_code) if r.fault.kind == "respond" else r.fault.kind
        for r in server.requests
        if r.fault is not None
    ]


def keys_sent(server: FaultServer) -> list[str | None]:
    return [r.headers.get("idempotency-key") for r in server.requests]


class HeldAnswers:
    """Makes the server hold back every answer until `release`, counting the arrivals."""

    def __init__(self, server: FaultServer) -> None:
        self._arrived = threading.Semaphore(0)
        self._released = threading.Event()
        answer = server.default

        def held(request: ReceivedRequest) -> Fault:
            self._arrived.release()
            self._released.wait(timeout=5)
            return answer(request) if callable(answer) else answer

        server.default = held

    def wait_for_arrivals(self, count: int) -> None:
        for _ in range(count):
            assert self._arrived.acquire(timeout=5), "a request never reached the server"

    def release(self) -> None:
        self._released.set()


@contextmanager
def held_answers(server: FaultServer) -> Iterator[HeldAnswers]:
    held = HeldAnswers(server)
    try:
        yield held
    finally:
        held.release()  # never leave a server thread waiting


def wait_until(condition: Callable[[], bool]) -> None:
    """Wait (in real time, at most 5 s) for what another thread does."""
    for _ in range(500):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("the condition never came true")


async def open_breaker(manager: Any, server: FaultServer) -> None:
    server.script(*[Fault.status(503)] * 4)
    for _ in range(4):
        with pytest.raises(VendorUnavailableError):
            await call(manager, "get", "pi_1")
    with pytest.raises(CircuitOpenError):
        await call(manager, "get", "pi_1")


# -- the stand-in vendor ------------------------------------------------------------------


async def test_the_http_vendor_serves_every_payment_operation(
    make_manager: MakeManager, fault_server: FaultServer, flavour: str
) -> None:
    manager = make_manager({}, async_=flavour == "async")
    request = PaymentRequest(amount=Money(2500, "EUR"), payment_method="pm_card_visa")

    held = await call(manager, "authorize", request)
    captured = await call(manager, "capture", held.vendor_id, Money(1000, "EUR"))
    bought = await call(manager, "purchase", request)
    refund = await call(manager, "refund", bought.vendor_id, Money(500, "EUR"))
    voided = await call(manager, "void", (await call(manager, "authorize", request)).vendor_id)
    looked_up = await call(manager, "get", bought.vendor_id)

    assert (held.status, held.amount, held.captured) == (
        "authorized",
        request.amount,
        Money(0, "EUR"),
    )
    assert (captured.status, captured.captured) == ("succeeded", Money(1000, "EUR"))
    assert (refund.payment_id, refund.amount) == (bought.vendor_id, Money(500, "EUR"))
    assert voided.status == "canceled"
    assert (looked_up.refunded, looked_up.vendor) == (Money(500, "EUR"), "httppay")
    intents = "/v1/payment_intents"
    assert [(r.method, r.path) for r in fault_server.requests] == [
        ("POST", intents),
        ("POST", f"{intents}/{held.vendor_id}/capture"),
        ("POST", intents),
        ("POST", "/v1/refunds"),
        ("POST", intents),
        ("POST", f"{intents}/{voided.vendor_id}/cancel"),
        ("GET", f"{intents}/{bought.vendor_id}"),
    ]
    assert manager.call_log[-1].vendor_status_code == 200


# -- retry ---------------------------------------------------------------------------------


async def test_a_vendor_that_fails_twice_then_succeeds_is_retried_until_it_answers(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager({"retry": {"max_attempts": 3}}, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.status(503), Fault.status(503))

    payment = await call(manager, "get", "pi_42")

    assert (payment.vendor_id, payment.status) == ("pi_42", "authorized")
    assert faults_seen(fault_server) == ["503", "503", "200"]
    assert len(clock.sleeps) == 2
    assert manager.call_log[-1].attempts == 3


async def test_a_retry_waits_exactly_the_retry_after_seconds_of_a_503(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager(STEADY_RETRY, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.status(503, retry_after=2))

    await call(manager, "get", "pi_1")

    assert clock.sleeps == [2.0]
    assert fault_server.hits == 2


async def test_a_retry_after_given_as_an_http_date_is_waited_until_that_date(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager(STEADY_RETRY, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.status(503, retry_after=formatdate(clock.time() + 3, usegmt=True)))

    await call(manager, "get", "pi_1")

    assert clock.sleeps == [3.0]
    assert fault_server.hits == 2


async def test_a_retry_after_longer_than_max_retry_after_is_not_waited_for(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    resilience = {"retry": {"max_attempts": 3, "max_retry_after": 10.0}}
    manager = make_manager(resilience, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.status(503, retry_after=30))

    with pytest.raises(VendorUnavailableError) as caught:
        await call(manager, "get", "pi_1")

    assert (caught.value.status_code, caught.value.retry_after) == (503, 30.0)
    assert clock.sleeps == []
    assert fault_server.hits == 1
    assert manager.call_log[-1].vendor_status_code == 503


async def test_a_vendors_429_is_retried_after_its_retry_after(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager(STEADY_RETRY, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.status(429, retry_after=3))

    payment = await call(manager, "get", "pi_1")

    assert payment.vendor_id == "pi_1"
    assert clock.sleeps == [3.0]
    assert faults_seen(fault_server) == ["429", "200"]


async def test_our_own_rate_limiters_rejection_is_not_retried(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    resilience = {"retry": {"max_attempts": 3}, "rate_limit": {"rate": 1, "per": 60.0}}
    manager = make_manager(resilience, clock=clock, async_=flavour == "async")
    await call(manager, "get", "pi_1")

    with pytest.raises(RateLimitExceededError) as caught:
        await call(manager, "get", "pi_1")

    assert caught.value.local
    assert caught.value.retry_after == pytest.approx(60.0)
    assert clock.sleeps == []
    assert fault_server.hits == 1


async def test_a_declined_payment_is_not_retried(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager({"retry": {"max_attempts": 3}}, clock=clock, async_=flavour == "async")
    declined = {"error": {"code": "card_declined", "message": "Your card was declined."}}
    fault_server.script(Fault.respond(402, declined))

    with pytest.raises(PaymentDeclinedError) as caught:
        await call(manager, "capture", "pi_1")

    assert (caught.value.code, caught.value.status_code) == ("card_declined", 402)
    assert fault_server.hits == 1


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(400, InvalidRequestError), (401, AuthenticationError), (404, ObjectNotFoundError)],
)
def test_a_vendors_client_error_is_raised_as_ours_and_not_retried(
    make_manager: MakeManager,
    fault_server: FaultServer,
    clock: FakeClock,
    status: int,
    error_class: type[ConnectorError],
) -> None:
    manager = make_manager({"retry": {"max_attempts": 3}}, clock=clock)
    fault_server.script(Fault.status(status))

    with pytest.raises(error_class) as caught:
        manager.payment.get("pi_1")

    assert not caught.value.retryable
    assert fault_server.hits == 1


# -- circuit breaker -----------------------------------------------------------------------


async def test_the_breaker_opens_at_its_threshold_then_rejects_without_calling_the_vendor(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager(BREAKER, clock=clock, async_=flavour == "async")
    await call(manager, "get", "pi_1")
    await call(manager, "get", "pi_1")
    fault_server.script(Fault.status(503), Fault.status(503))
    with pytest.raises(VendorUnavailableError):
        await call(manager, "get", "pi_1")  # 1 failure in 3 calls: below min_calls

    with pytest.raises(VendorUnavailableError):
        await call(manager, "get", "pi_1")  # 2 in 4: the threshold
    with pytest.raises(CircuitOpenError) as caught:
        await call(manager, "get", "pi_1")

    assert fault_server.hits == 4
    assert caught.value.retry_after == OPEN_FOR
    clock.advance(OPEN_FOR - 1)
    with pytest.raises(CircuitOpenError) as still_open:
        await call(manager, "get", "pi_1")
    assert still_open.value.retry_after == pytest.approx(1.0)
    assert fault_server.hits == 4


def test_half_open_admits_exactly_half_open_calls_trials_then_closes_when_they_succeed(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock
) -> None:
    manager = make_manager(BREAKER, clock=clock)
    asyncio.run(open_breaker(manager, fault_server))
    clock.advance(OPEN_FOR)
    hits = fault_server.hits

    with ThreadPoolExecutor(2) as pool, held_answers(fault_server) as held:
        trials = [pool.submit(manager.payment.get, "pi_1") for _ in range(2)]
        held.wait_for_arrivals(2)
        with pytest.raises(CircuitOpenError):
            manager.payment.get("pi_1")  # a third call while both trials are out
        held.release()
        assert [trial.result(timeout=5).vendor_id for trial in trials] == ["pi_1", "pi_1"]

    assert fault_server.hits == hits + 2
    assert manager.payment.get("pi_2").vendor_id == "pi_2"  # closed: no trial limit
    assert manager.payment.get("pi_3").vendor_id == "pi_3"


async def test_half_open_admits_exactly_half_open_calls_trials_async(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock
) -> None:
    manager = make_manager(BREAKER, clock=clock, async_=True)
    await open_breaker(manager, fault_server)
    clock.advance(OPEN_FOR)
    hits = fault_server.hits

    with held_answers(fault_server) as held:
        trials = [asyncio.create_task(manager.payment.get("pi_1")) for _ in range(2)]
        await asyncio.to_thread(held.wait_for_arrivals, 2)
        with pytest.raises(CircuitOpenError):
            await manager.payment.get("pi_1")
        held.release()
        assert [p.vendor_id for p in await asyncio.gather(*trials)] == ["pi_1", "pi_1"]

    assert fault_server.hits == hits + 2
    assert (await manager.payment.get("pi_2")).vendor_id == "pi_2"
    assert (await manager.payment.get("pi_3")).vendor_id == "pi_3"


async def test_half_open_reopens_when_the_trials_fail(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager(BREAKER, clock=clock, async_=flavour == "async")
    await open_breaker(manager, fault_server)
    clock.advance(OPEN_FOR)
    fault_server.script(Fault.status(503), Fault.status(503))

    for _ in range(2):
        with pytest.raises(VendorUnavailableError):
            await call(manager, "get", "pi_1")
    hits = fault_server.hits
    with pytest.raises(CircuitOpenError) as caught:
        await call(manager, "get", "pi_1")

    assert fault_server.hits == hits
    assert caught.value.retry_after == OPEN_FOR


async def test_a_half_open_trial_abandoned_by_cancellation_frees_its_permit(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock
) -> None:
    breaker = {**BREAKER["circuit_breaker"], "half_open_calls": 1, "half_open_max_wait": 0}
    manager = make_manager({**BREAKER, "circuit_breaker": breaker}, clock=clock, async_=True)
    await open_breaker(manager, fault_server)
    clock.advance(OPEN_FOR)
    fault_server.script(Fault.stall())
    hits = fault_server.hits
    trial = asyncio.create_task(manager.payment.get("pi_1"))
    await asyncio.to_thread(wait_until, lambda: fault_server.hits == hits + 1)

    trial.cancel()  # the application gave up (a web request was aborted, a timeout fired)
    with pytest.raises(asyncio.CancelledError):
        await trial
    clock.advance(10 * OPEN_FOR)

    assert (await manager.payment.get("pi_1")).vendor_id == "pi_1"


async def in_background(manager: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
    """Start ``manager.payment.<operation>(...)`` without waiting for it: a task (async
    manager) or a thread (sync); await what it returns for the outcome."""
    method = getattr(manager.payment, operation)
    if isinstance(manager, AsyncConnectorManager):
        return asyncio.ensure_future(method(*args, **kwargs))
    return asyncio.get_running_loop().run_in_executor(None, partial(method, *args, **kwargs))


async def test_a_half_open_trial_refused_by_the_bulkhead_gives_its_permit_back(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    breaker = {
        **BREAKER["circuit_breaker"],
        "scope": "operation",
        "half_open_calls": 1,
        "half_open_max_wait": 0,  # a half-open breaker waits for its trial forever
    }
    resilience = {**BREAKER, "circuit_breaker": breaker, "bulkhead": {"max_concurrent": 1}}
    manager = make_manager(resilience, clock=clock, async_=flavour == "async")
    fault_server.script(*[Fault.status(503)] * 4)
    for _ in range(4):
        with pytest.raises(VendorUnavailableError):
            await call(manager, "capture", "pi_1")
    clock.advance(OPEN_FOR)  # the capture breaker goes half-open; the get breaker is closed

    with held_answers(fault_server) as held:
        holder = await in_background(manager, "get", "pi_1")  # holds the only slot
        await asyncio.to_thread(held.wait_for_arrivals, 1)
        # Admitted as the one trial by the breaker, then refused by the full bulkhead.
        with pytest.raises(RateLimitExceededError, match="bulkhead full"):
            await call(manager, "capture", "pi_1")
    await holder

    payment = await call(manager, "capture", "pi_1")  # the permit came back: a trial

    assert payment.vendor_id == "pi_1"


async def test_a_duplicate_never_takes_over_the_key_of_a_slow_live_call(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    # The deadline (300 s) outlasts claim_ttl (60 s): the first call's in-flight marker
    # must live as long as the call may, or the waiting duplicate would call the vendor.
    resilience = {"deadline": 300.0, "timeout": 300.0, "retry": {"enabled": False}}
    manager = make_manager(resilience, clock=clock, async_=flavour == "async")
    started = clock.monotonic()

    with held_answers(fault_server) as held:
        first = await in_background(manager, "capture", "pi_1", idempotency_key="order-42")
        await asyncio.to_thread(held.wait_for_arrivals, 1)
        # The duplicate polls on the fake clock: it waits its whole deadline in no time.
        with pytest.raises(IdempotencyConflictError, match="still in flight"):
            await call(manager, "capture", "pi_1", idempotency_key="order-42")
        assert clock.monotonic() >= started + 300.0
    await first

    assert fault_server.hits == 1


async def test_waiting_for_a_bulkhead_slot_ends_at_the_deadline(
    make_manager: MakeManager, fault_server: FaultServer, flavour: str
) -> None:
    resilience = {
        "deadline": 0.3,
        "bulkhead": {"max_concurrent": 1, "max_wait": 30.0},
        "operations": {"get": {"deadline": 30.0, "timeout": 30.0}},  # the holder outlasts
    }
    manager = make_manager(resilience, async_=flavour == "async")

    with held_answers(fault_server) as held:
        holder = await in_background(manager, "get", "pi_1")
        await asyncio.to_thread(held.wait_for_arrivals, 1)
        started = time.monotonic()
        with pytest.raises(RateLimitExceededError, match="bulkhead full"):
            await call(manager, "capture", "pi_1")
        waited = time.monotonic() - started
    await asyncio.wait([holder])

    assert waited < 5.0  # the deadline (0.3 s), not the bulkhead's 30 s max_wait
    assert [r.path for r in fault_server.requests] == ["/v1/payment_intents/pi_1"]


# -- deadline and attempt timeout (real time) ----------------------------------------------


async def test_a_deadline_of_one_second_ends_a_call_to_a_stalling_vendor(
    make_manager: MakeManager, fault_server: FaultServer, flavour: str
) -> None:
    manager = make_manager({"deadline": 1.0}, async_=flavour == "async")
    fault_server.default = Fault.stall()

    started = time.monotonic()
    with pytest.raises(VendorTimeoutError):
        await call(manager, "get", "pi_1")
    elapsed = time.monotonic() - started

    assert 0.9 <= elapsed < 2.0
    assert set(faults_seen(fault_server)) == {"stall"}


async def test_an_async_attempt_timeout_cancels_an_adapter_that_ignores_ctx_timeout(
    make_manager: MakeManager, fault_server: FaultServer
) -> None:
    resilience = {"timeout": 0.5, "deadline": None, "retry": {"enabled": False}}
    manager = make_manager(resilience, async_=True, options={"ignore_timeout": True})
    fault_server.script(Fault.stall())

    started = time.monotonic()
    with pytest.raises(VendorTimeoutError):
        await manager.payment.get("pi_1")
    elapsed = time.monotonic() - started

    assert 0.45 <= elapsed < 2.0
    assert faults_seen(fault_server) == ["stall"]
    assert (await manager.payment.get("pi_2")).vendor_id == "pi_2"  # the client still works


# -- non-idempotent operations and idempotency keys ----------------------------------------


async def test_a_capture_without_a_key_is_not_retried_after_a_reset_mid_request(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    resilience = {"retry": {"max_attempts": 3}}
    manager = make_manager(
        resilience, clock=clock, async_=flavour == "async", vendor="httppay-nokeys"
    )
    fault_server.script(Fault.reset_after_request())

    with pytest.raises(VendorUnavailableError) as caught:
        await call(manager, "capture", "pi_1")

    assert caught.value.maybe_processed
    assert faults_seen(fault_server) == ["reset_after_request"]
    assert keys_sent(fault_server) == [None]
    assert clock.sleeps == []


async def test_a_reset_before_the_vendor_read_the_request_looks_sent_so_is_not_retried(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    # The request was written before the reset arrived: the client cannot tell whether the
    # vendor read it, so the truthful answer is "maybe processed", and a capture without a
    # key is not repeated.
    resilience = {"retry": {"max_attempts": 3}}
    manager = make_manager(
        resilience, clock=clock, async_=flavour == "async", vendor="httppay-nokeys"
    )
    fault_server.script(Fault.reset())

    with pytest.raises(VendorUnavailableError) as caught:
        await call(manager, "capture", "pi_1")

    assert caught.value.maybe_processed
    assert isinstance(caught.value.__cause__, httpx.ReadError | httpx.RemoteProtocolError)
    assert faults_seen(fault_server) == ["reset"]


async def test_a_capture_without_a_key_is_retried_when_the_connection_was_refused(
    make_manager: MakeManager, closed_port: int, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager(
        {"retry": {"max_attempts": 3}},
        clock=clock,
        async_=flavour == "async",
        vendor="httppay-nokeys",
        base_url=f"http://127.0.0.1:{closed_port}",
    )

    with pytest.raises(VendorUnavailableError) as caught:
        await call(manager, "capture", "pi_1")

    assert not caught.value.maybe_processed
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert manager.call_log[-1].attempts == 3
    assert len(clock.sleeps) == 2


async def test_a_capture_at_a_vendor_honouring_keys_is_retried_with_the_same_key(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager({"retry": {"max_attempts": 3}}, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.reset_after_request(), Fault.reset_after_request())

    payment = await call(manager, "capture", "pi_1")

    assert payment.status == "succeeded"
    first, *others = keys_sent(fault_server)
    assert first
    assert others == [first, first]


async def test_the_callers_key_is_sent_on_every_attempt(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager({"retry": {"max_attempts": 3}}, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.status(503), Fault.close_after_request())

    await call(manager, "capture", "pi_1", idempotency_key="order-7-capture")

    assert keys_sent(fault_server) == ["order-7-capture"] * 3


async def test_two_identical_captures_carry_different_keys(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager({}, clock=clock, async_=flavour == "async")

    await call(manager, "capture", "pi_1")
    await call(manager, "capture", "pi_1")

    first, second = keys_sent(fault_server)
    assert first
    assert second
    assert first != second


async def test_the_logged_status_code_is_the_last_attempts(
    make_manager: MakeManager,
    fault_server: FaultServer,
    fallback_server: FaultServer,
    clock: FakeClock,
    flavour: str,
) -> None:
    fault_server.script(Fault.status(503))
    fallback_server.script(Fault.reset_after_request())
    manager = make_manager(
        {"retry": {"enabled": False}},
        clock=clock,
        async_=flavour == "async",
        fallback=[("httppay-nokeys", fallback_server)],
    )

    with pytest.raises(VendorUnavailableError) as caught:
        await call(manager, "get", "pi_1")

    record = manager.call_log[-1]
    assert (record.vendor, caught.value.status_code) == ("httppay-nokeys", None)
    assert record.vendor_status_code is None  # the 503 came from httppay, not from it


# -- fallback ------------------------------------------------------------------------------


async def test_an_idempotent_read_falls_back_to_the_next_vendor(
    make_manager: MakeManager,
    fault_server: FaultServer,
    fallback_server: FaultServer,
    clock: FakeClock,
    flavour: str,
) -> None:
    fault_server.default = Fault.status(503)
    manager = make_manager(
        {"retry": {"max_attempts": 2}},
        clock=clock,
        async_=flavour == "async",
        fallback=[("httppay-nokeys", fallback_server)],
    )

    payment = await call(manager, "get", "pi_1")

    assert payment.vendor == "httppay-nokeys"
    assert (fault_server.hits, fallback_server.hits) == (2, 1)
    assert manager.call_log[-1].fallback_from == ("httppay",)


async def test_a_capture_reset_mid_request_does_not_fall_back(
    make_manager: MakeManager,
    fault_server: FaultServer,
    fallback_server: FaultServer,
    clock: FakeClock,
    flavour: str,
) -> None:
    fault_server.script(Fault.reset_after_request())
    manager = make_manager(
        {"retry": {"max_attempts": 2}},
        clock=clock,
        async_=flavour == "async",
        vendor="httppay-nokeys",
        fallback=[("httppay", fallback_server)],
    )

    with pytest.raises(VendorUnavailableError) as caught:
        await call(manager, "capture", "pi_1")

    assert caught.value.maybe_processed
    assert (fault_server.hits, fallback_server.hits) == (1, 0)


async def test_a_capture_refused_by_an_open_breaker_falls_back(
    make_manager: MakeManager,
    fault_server: FaultServer,
    fallback_server: FaultServer,
    clock: FakeClock,
    flavour: str,
) -> None:
    fault_server.default = Fault.status(503)
    breaker = {"window": 2, "min_calls": 2, "failure_rate": 0.5}
    manager = make_manager(
        {"retry": {"enabled": False}, "circuit_breaker": breaker},
        clock=clock,
        async_=flavour == "async",
        vendor="httppay-nokeys",
        fallback=[("httppay", fallback_server)],
    )
    for _ in range(2):  # a 503 may have been processed: a capture does not fall back
        with pytest.raises(VendorUnavailableError):
            await call(manager, "capture", "pi_1")
    assert (fault_server.hits, fallback_server.hits) == (2, 0)

    payment = await call(manager, "capture", "pi_1")

    assert payment.vendor == "httppay"
    assert (fault_server.hits, fallback_server.hits) == (2, 1)
    assert keys_sent(fallback_server)[0]  # the fallback honours keys: it got one


@pytest.mark.parametrize(
    "guard",
    [
        {"circuit_breaker": {"window": 1, "min_calls": 1}},  # the first failure trips it
        {"rate_limit": {"rate": 1, "per": 60.0}},  # the retry finds no token
    ],
    ids=["breaker", "rate_limit"],
)
async def test_a_capture_whose_retry_our_guard_refuses_does_not_fall_back(
    *,
    make_manager: MakeManager,
    fault_server: FaultServer,
    fallback_server: FaultServer,
    clock: FakeClock,
    flavour: str,
    guard: dict[str, Any],
) -> None:
    # The first attempt may have charged (reset after the request); the vendor honours
    # keys, so a retry is allowed, but our own guard refuses it. The call as a whole may
    # have been processed: another vendor must not be asked to charge again.
    fault_server.script(Fault.reset_after_request())
    manager = make_manager(
        {"retry": {"max_attempts": 3}, **guard},
        clock=clock,
        async_=flavour == "async",
        fallback=[("httppay-nokeys", fallback_server)],
    )

    with pytest.raises((CircuitOpenError, RateLimitExceededError)) as caught:
        await call(manager, "capture", "pi_1")

    assert caught.value.maybe_processed
    assert "an earlier attempt of this call may have reached the vendor" in "".join(
        caught.value.__notes__
    )
    assert (fault_server.hits, fallback_server.hits) == (1, 0)


# -- the fault server itself ---------------------------------------------------------------


def test_the_fault_server_keeps_connections_alive() -> None:
    with FaultServer() as server, httpx.Client(base_url=server.url) as client:
        statuses = [client.get(f"/ping/{n}").status_code for n in range(3)]

        assert statuses == [200, 200, 200]
        assert [r.connection for r in server.requests] == [1, 1, 1]


async def test_the_fault_server_serves_many_async_clients_at_once() -> None:
    paths = [f"/v1/items/{n}" for n in range(40)]
    with FaultServer() as server:
        server.default = lambda request: Fault.respond(200, {"path": request.path})
        async with httpx.AsyncClient(base_url=server.url) as client:
            answers = await asyncio.gather(*(client.get(path) for path in paths))

        assert [answer.json()["path"] for answer in answers] == paths
        assert sorted(r.path for r in server.requests) == sorted(paths)
        assert len({r.connection for r in server.requests}) > 1


def test_closing_the_fault_server_ends_stalled_calls_and_joins_its_threads() -> None:
    errors: list[type[BaseException]] = []
    with FaultServer(default=Fault.stall()) as server, ThreadPoolExecutor(3) as pool:

        def stalled_call() -> None:
            try:
                httpx.post(server.url + "/v1/slow", json={}, timeout=10)
            except httpx.HTTPError as exc:
                errors.append(type(exc))

        calls = [pool.submit(stalled_call) for _ in range(3)]
        wait_until(lambda: server.hits == 3)
        started = time.monotonic()
        server.close()
        for stalled in calls:
            stalled.result(timeout=5)

    assert time.monotonic() - started < 1.0
    assert errors == [httpx.RemoteProtocolError] * 3  # closed without an answer
    assert not [t for t in threading.enumerate() if t.name.startswith(f"FaultServer:{server.port}")]
