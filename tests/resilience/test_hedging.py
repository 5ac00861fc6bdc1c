"""Hedged reads against a vendor over real sockets: a read slower than the delay gets a
second attempt and the first answer wins; sends are never hedged; the budget caps hedges;
the breaker never counts an abandoned attempt; a round whose attempts all failed is retried;
the deadline and the fallback chain still hold.

Delays run on a `FakeClock` (its sleep is the wait), so a hedge starts as soon as its round
has waited the delay on that clock, and the vendor's stall is what keeps the first attempt
running. Tests that hold for both managers take `flavour`: the async one cancels the losing
attempt; the sync one leaves it to finish on its thread and drops its outcome.
"""

from __future__ import annotations

import doctest
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from nexus_connector_core import (
    CallContext,
    Money,
    PaymentRequest,
    PluginRegistry,
    VendorTimeoutError,
    VendorUnavailableError,
    load_config,
)
from nexus_connector_core._errors import ConfigError
from nexus_connector_core._payment import PAYMENT_GET, PAYMENT_PURCHASE
from nexus_connector_core._resilience import hedging as hedging_module
from nexus_connector_core._resilience.config import HedgingConfig
from nexus_connector_core._resilience.hedge_race import Workers, race_threads
from nexus_connector_core._resilience.hedging import MIN_SAMPLES, HedgedRound, Hedging, hedges
from nexus_connector_core.testing import FakeClock, Fault, FaultServer

MakeManager = Callable[..., Any]
DELAY = 0.05
#: Hedge after DELAY, and let every call hedge once (the budget of one call is one hedge).
HEDGING: dict[str, Any] = {"hedging": {"delay": DELAY, "budget_ratio": 1.0}}
ORDER = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")
INTENT = {
    "id": "pi_1",
    "object": "payment_intent",
    "status": "requires_capture",
    "amount": 1999,
    "amount_received": 0,
    "amount_refunded": 0,
    "currency": "usd",
}
#: A slow answer that comes (about 0.3 s: one byte a millisecond).
SLOW = Fault.trickle(0.001, 200, INTENT)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def call(manager: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
    """``manager.payment.<operation>(...)``, awaited when the manager is async."""
    result = getattr(manager.payment, operation)(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def resolved(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def faults_seen(server: FaultServer) -> list[str]:
    """What each request got, in the order the server recorded them (the attempts of one
    round race each other there too: tests compare them sorted)."""
    return [
        str(r.fault.status_code) if r.fault.kind == "respond" else r.fault.kind
        for r in server.requests
        if r.fault is not None
    ]


def wait_until(condition: Callable[[], bool]) -> None:
    """Wait (in real time, at most 5 s) for what another thread does."""
    for _ in range(500):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("the condition never came true")


class Records:
    """The outcomes the state backend was asked to record (``failed``: True, False, or
    None for an attempt with no outcome), seen through the real backend."""

    def __init__(self, manager: Any) -> None:
        self.failed: list[bool | None] = []
        self.abandoned = threading.Event()
        state = manager.state
        record = state.record

        def seen(failed: bool | None) -> None:
            self.failed.append(failed)
            if failed is None:
                self.abandoned.set()

        if inspect.iscoroutinefunction(record):

            async def arecord(plan: Any, admission: Any, *, failed: Any, duration: Any) -> None:
                seen(failed)
                await record(plan, admission, failed=failed, duration=duration)

            state.record = arecord
        else:

            def srecord(plan: Any, admission: Any, *, failed: Any, duration: Any) -> None:
                seen(failed)
                record(plan, admission, failed=failed, duration=duration)

            state.record = srecord


# -- the rules, without sockets ---------------------------------------------------------------


def test_only_idempotent_reads_that_do_not_stream_are_hedged() -> None:
    assert hedges(PAYMENT_GET)
    assert not hedges(PAYMENT_PURCHASE)


def test_the_budget_lets_hedge_at_most_its_ratio_of_calls() -> None:
    hedging = Hedging(HedgingConfig(delay=DELAY, budget_ratio=0.1))
    allowed = 0
    for second in range(100):
        now = 1000.0 + second * 0.05  # 100 calls over 5 s: one budget window
        hedging.call_started(now)
        allowed += hedging.allow(now)

    assert allowed == 10


def test_the_budget_counts_the_last_ten_seconds() -> None:
    hedging = Hedging(HedgingConfig(delay=DELAY, budget_ratio=0.5))
    for _ in range(4):
        hedging.call_started(1000.0)
    assert [hedging.allow(1000.0) for _ in range(3)] == [True, True, False]
    # Ten seconds on, those calls and hedges are out of the window.
    hedging.call_started(1011.0)
    hedging.call_started(1011.0)
    assert [hedging.allow(1011.0) for _ in range(2)] == [True, False]


def test_a_p95_delay_waits_for_enough_successful_attempts() -> None:
    hedging = Hedging(HedgingConfig(delay="p95"))
    for index in range(MIN_SAMPLES - 1):
        hedging.observe(0.010 + index * 0.001)
    assert hedging.delay() is None  # too few: no hedge at all

    for _ in range(16):
        hedging.observe(0.010)
    hedging.observe(1.0)  # one stall in 36: beyond the 95th percentile
    assert hedging.delay() == pytest.approx(0.028)


def test_a_fixed_delay_is_the_delay() -> None:
    assert Hedging(HedgingConfig(delay=0.25)).delay() == 0.25


def test_the_examples_of_the_hedging_rules_hold() -> None:
    assert doctest.testmod(hedging_module).failed == 0


def test_worker_threads_are_bounded_reused_and_end_when_idle() -> None:
    workers = Workers(limit=1, idle=0.05)
    threads: list[threading.Thread] = []
    done = threading.Semaphore(0)

    def job() -> None:
        threads.append(threading.current_thread())
        done.release()

    assert workers.reserve() is False  # a thread to start
    assert workers.reserve() is None  # the limit: the caller runs its attempt itself
    workers.run(False, job)
    assert done.acquire(timeout=5)
    promised: list[bool | None] = []
    wait_until(lambda: promised.append(workers.reserve()) or promised[-1] is not None)
    assert promised[-1] is True  # the idle thread, promised the next job
    workers.run(True, job)
    assert done.acquire(timeout=5)
    assert threads[1] is threads[0]

    wait_until(lambda: not threads[0].is_alive())  # idle past `idle`: it ended
    assert workers.reserve() is False
    workers.unreserve(False)


def test_a_sync_round_without_a_free_thread_runs_on_the_callers_thread() -> None:
    round_ = HedgedRound(CallContext("c", "v", PAYMENT_GET, FakeClock()), request=None)
    ctx = round_.fork(1.0)
    ran_on: list[threading.Thread] = []

    def first() -> str:
        ran_on.append(threading.current_thread())
        return "answer"

    def no_hedge() -> None:
        raise AssertionError("no hedge is asked for without a thread")

    result = race_threads(
        round_,
        (ctx, first),
        no_hedge,
        delay=0.0,
        most=1,
        transient=lambda error: True,
        deadline_error=TimeoutError,
        workers=Workers(limit=0),
    )

    assert (result, ran_on) == ("answer", [threading.current_thread()])


# -- the configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hedging", "key", "detail"),
    [
        ({"delay": float("inf")}, "delay", "must be a number from 0 to 86400, got inf"),
        ({"delay": float("nan")}, "delay", "must be a number from 0 to 86400, got nan"),
        ({"delay": -0.1}, "delay", "must be a number from 0 to 86400, got -0.1"),
        ({"delay": "p99"}, "delay", "p95"),
        ({"max_hedged_attempts": 0}, "max_hedged_attempts", "from 1 to 10"),
        ({"max_hedged_attempts": 2**70}, "max_hedged_attempts", "from 1 to 10"),
        ({"budget_ratio": 0}, "budget_ratio", "above 0 and at most 10"),
        ({"budget_ratio": float("inf")}, "budget_ratio", "above 0 and at most 10"),
        ({"budget_ratio": -1}, "budget_ratio", "above 0 and at most 10"),
    ],
)
def test_hedging_settings_out_of_range_are_refused_naming_the_key(
    registry: PluginRegistry, hedging: dict[str, Any], key: str, detail: str
) -> None:
    config = {"connectors": {"payment": {"vendor": "memory", "resilience": {"hedging": hedging}}}}
    with pytest.raises(ConfigError) as caught:
        load_config(config, registry=registry, environ={})

    problems = {p.path: p.detail for p in caught.value.problems}
    assert list(problems) == [f"connectors.payment.resilience.hedging.{key}"]
    assert detail in problems[f"connectors.payment.resilience.hedging.{key}"]


def test_hedging_set_on_an_operation_that_is_not_a_read_is_refused(
    registry: PluginRegistry,
) -> None:
    resilience = {"operations": {"purchase": {"hedging": {"delay": 0.1}}}}
    config = {"connectors": {"payment": {"vendor": "memory", "resilience": resilience}}}
    with pytest.raises(ConfigError) as caught:
        load_config(config, registry=registry, environ={})

    (problem,) = caught.value.problems
    assert problem.path == "connectors.payment.resilience.operations.purchase.hedging"
    assert "not an idempotent read" in problem.detail


def test_the_connectors_hedging_applies_to_its_reads_only(registry: PluginRegistry) -> None:
    config = {
        "connectors": {"payment": {"vendor": "memory", "resilience": {"hedging": {}}}},
    }
    manager_config = load_config(config, registry=registry, environ={})

    resilience = manager_config.connectors["payment"].resilience
    assert resilience["purchase"].hedging == resilience["get"].hedging == HedgingConfig()


# -- over sockets -----------------------------------------------------------------------------


async def test_a_read_slower_than_the_delay_is_hedged_and_the_first_answer_wins(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager(HEDGING, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.stall(5.0))

    payment = await call(manager, "get", "pi_7")

    assert payment.vendor_id == "pi_7"
    assert sorted(faults_seen(fault_server)) == ["200", "stall"]
    assert clock.sleeps == [DELAY]
    (record,) = manager.call_log
    assert (record.status, record.attempts) == ("ok", 2)


async def test_a_round_starts_up_to_max_hedged_attempts_one_delay_apart(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    hedging = {"delay": DELAY, "max_hedged_attempts": 2, "budget_ratio": 2.0}
    manager = make_manager({"hedging": hedging}, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.stall(5.0), Fault.stall(5.0))

    payment = await call(manager, "get", "pi_8")

    assert payment.vendor_id == "pi_8"
    assert sorted(faults_seen(fault_server)) == ["200", "stall", "stall"]
    assert clock.sleeps == [DELAY, DELAY]
    (record,) = manager.call_log
    assert record.attempts == 3


async def test_the_async_loser_is_cancelled_and_the_vendor_sees_it_hang_up(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock
) -> None:
    manager = make_manager(HEDGING, clock=clock, async_=True)
    records = Records(manager)
    fault_server.script(Fault.stall(5.0))

    await manager.payment.get("pi_7")

    # The losing attempt was cancelled and awaited before the call returned: its request's
    # connection is closed, and its admission given back without an outcome.
    assert records.abandoned.is_set()
    wait_until(lambda: fault_server.hangups == 1)


async def test_a_send_is_never_hedged(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    resilience = {**HEDGING, "timeout": 0.3, "retry": {"enabled": False}}
    manager = make_manager(resilience, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.stall(5.0))

    with pytest.raises(VendorTimeoutError):
        await call(manager, "purchase", ORDER)

    assert faults_seen(fault_server) == ["stall"]
    assert clock.sleeps == []
    (record,) = manager.call_log
    assert record.attempts == 1


async def test_the_budget_caps_hedges(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    resilience = {"hedging": {"delay": DELAY, "budget_ratio": 0.1}, "retry": {"enabled": False}}
    manager = make_manager(resilience, clock=clock, async_=flavour == "async")

    # The first call: a tenth of a hedge in the budget, so none, though the vendor is slow.
    fault_server.script(SLOW)
    await call(manager, "get", "pi_1")
    assert faults_seen(fault_server) == ["trickle"]

    # Nine more calls make one hedge's worth: the tenth call is hedged, the eleventh not.
    for _ in range(8):
        await call(manager, "get", "pi_1")
    fault_server.script(Fault.stall(5.0))
    await call(manager, "get", "pi_1")
    fault_server.script(SLOW)
    await call(manager, "get", "pi_1")

    assert sorted(faults_seen(fault_server)[9:11]) == ["200", "stall"]
    assert faults_seen(fault_server)[11:] == ["trickle"]
    assert [r.attempts for r in manager.call_log] == [1] * 9 + [2, 1]


async def test_the_breaker_does_not_count_an_abandoned_attempt(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    # Two calls whose losers would be two failures in a window of four: enough to open the
    # breaker, were they counted.
    breaker = {"window": 4, "min_calls": 4, "failure_rate": 0.5}
    resilience = {**HEDGING, "circuit_breaker": breaker, "retry": {"enabled": False}}
    manager = make_manager(resilience, clock=clock, async_=flavour == "async")
    records = Records(manager)

    for _ in range(2):
        records.abandoned.clear()
        # The loser ends with a vendor fault (a connection closed without an answer) after
        # the hedge won: the sync one on its thread, the async one cancelled before that.
        fault_server.script(Fault.stall(0.2))
        await call(manager, "get", "pi_1")
        assert records.abandoned.wait(5)

    assert records.failed.count(True) == 0
    assert records.failed.count(None) == 2
    plan = manager.payment.guard_plan("get")
    snapshot = await resolved(manager.state.breaker(plan))
    assert (snapshot.state, snapshot.failures) == ("closed", 0)


async def test_when_every_attempt_of_a_round_fails_the_call_is_retried(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    retry = {"max_attempts": 2, "base": 0.1, "jitter": "none", "backoff": "fixed"}
    manager = make_manager({**HEDGING, "retry": retry}, clock=clock, async_=flavour == "async")
    # The first attempt stalls then hangs up; its hedge gets a 503 meanwhile; the retry's
    # round answers (and, the budget spent, is not hedged).
    fault_server.script(Fault.stall(0.2), Fault.status(503))

    payment = await call(manager, "get", "pi_3")

    assert payment.vendor_id == "pi_3"
    assert sorted(faults_seen(fault_server)[:2]) == ["503", "stall"]
    assert faults_seen(fault_server)[2:] == ["200"]
    assert clock.sleeps == [DELAY, 0.1]
    (record,) = manager.call_log
    assert record.attempts == 3


async def test_an_answer_that_is_not_a_vendor_fault_ends_the_round_at_once(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    from nexus_connector_core import ObjectNotFoundError, VendorError

    manager = make_manager(HEDGING, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.stall(5.0), Fault.respond(404, {"error": {"message": "none"}}))

    started = time.monotonic()
    with pytest.raises((ObjectNotFoundError, VendorError)):
        await call(manager, "get", "pi_404")

    assert time.monotonic() - started < 4.0  # the 404 is the answer: no wait for the stall
    assert sorted(faults_seen(fault_server)) == ["404", "stall"]


async def test_the_deadline_bounds_a_hedged_read(
    make_manager: MakeManager, fault_server: FaultServer, flavour: str
) -> None:
    resilience = {**HEDGING, "deadline": 0.5}
    manager = make_manager(resilience, async_=flavour == "async")
    fault_server.default = Fault.stall()

    started = time.monotonic()
    with pytest.raises(VendorTimeoutError) as caught:
        await call(manager, "get", "pi_1")
    elapsed = time.monotonic() - started

    assert caught.value.deadline_exceeded
    assert 0.45 <= elapsed < 2.0
    assert faults_seen(fault_server) == ["stall", "stall"]


async def test_a_vendor_whose_hedged_round_failed_falls_back(
    make_manager: MakeManager,
    fault_server: FaultServer,
    fallback_server: FaultServer,
    clock: FakeClock,
    flavour: str,
) -> None:
    resilience = {**HEDGING, "retry": {"enabled": False}}
    manager = make_manager(
        resilience,
        clock=clock,
        async_=flavour == "async",
        fallback=[("httppay-nokeys", fallback_server)],
    )
    fault_server.script(Fault.stall(0.2), Fault.status(503))

    payment = await call(manager, "get", "pi_5")

    assert (payment.vendor, payment.vendor_id) == ("httppay-nokeys", "pi_5")
    assert sorted(faults_seen(fault_server)) == ["503", "stall"]
    # The fallback vendor hedges too, by its own budget: whether its first answer came
    # before its delay passed on the fake clock is up to the scheduler.
    assert set(faults_seen(fallback_server)) == {"200"}


async def test_a_p95_delay_hedges_once_enough_reads_were_seen(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    manager = make_manager({"hedging": {"delay": "p95"}}, clock=clock, async_=flavour == "async")
    for _ in range(MIN_SAMPLES):
        await call(manager, "get", "pi_1")
    assert clock.sleeps == []  # too few samples until now: no hedge, no wait

    fault_server.script(Fault.stall(5.0))
    await call(manager, "get", "pi_1")

    # The fake clock does not move while the vendor answers: the p95 of the reads seen is 0.
    assert clock.sleeps == [0.0]
    assert sorted(faults_seen(fault_server)[MIN_SAMPLES:]) == ["200", "stall"]


async def test_an_operation_that_switches_hedging_off_is_not_hedged(
    make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock, flavour: str
) -> None:
    resilience = {
        **HEDGING,
        "timeout": 0.3,
        "retry": {"enabled": False},
        "operations": {"get": {"hedging": {"enabled": False}}},
    }
    manager = make_manager(resilience, clock=clock, async_=flavour == "async")
    fault_server.script(Fault.stall(5.0))

    with pytest.raises(VendorUnavailableError):
        await call(manager, "get", "pi_1")

    assert faults_seen(fault_server) == ["stall"]


def test_a_hedge_is_an_event_on_the_call_and_a_count_not_a_retry(
    otel: Any, make_manager: MakeManager, fault_server: FaultServer, clock: FakeClock
) -> None:
    manager = make_manager(HEDGING, clock=clock)
    fault_server.script(Fault.stall(5.0))

    manager.payment.get("pi_1")

    (call_span,) = [s for s in otel.spans() if s.name == "payment.get"]
    (event,) = [e for e in call_span.events if e.name == "nexus_connector.hedge"]
    assert dict(event.attributes) == {
        "nexus_connector.vendor": "httppay",
        "nexus_connector.attempt": 2,
        "nexus_connector.delay": DELAY,
    }
    (hedges_point,) = otel.points("nexus_connector.hedges")
    assert hedges_point.value == 1
    (attempts_point,) = otel.points("nexus_connector.attempts")
    assert attempts_point.value == 2
    assert otel.points("nexus_connector.retries") == []
