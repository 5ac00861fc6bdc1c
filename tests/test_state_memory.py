"""The memory state backend: the conformance suite on a fake clock and on the real one, and
what only the memory backend promises (bounded memory, a non-blocking async face)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, strategies as st

from nexus_connector_core import (
    SYSTEM_CLOCK,
    AsyncConnectorManager,
    ConnectorManager,
    SmsMessage,
)
from nexus_connector_core._resilience.budget import BudgetRecord
from nexus_connector_core._resilience.ratelimit import gcra
from nexus_connector_core._state_memory import SWEEP_EVERY
from nexus_connector_core.state import (
    AsyncMemoryStateBackend,
    BackendSettings,
    BreakerPolicy,
    BudgetPolicy,
    GuardPlan,
    LimitPolicy,
    MemoryStateBackend,
)
from nexus_connector_core.testing import FakeClock, StateBackendConformance
from nexus_connector_core.testing._state_conformance import BackendHarness


class TestMemoryStateBackend(StateBackendConformance):
    @pytest.fixture
    def harness(self) -> BackendHarness:
        clock = FakeClock()
        backend = MemoryStateBackend(clock=clock)
        return BackendHarness(
            sync=backend, async_=AsyncMemoryStateBackend(shared=backend), advance=clock.advance
        )


@pytest.mark.slow
class TestMemoryStateBackendOnRealClock(TestMemoryStateBackend):
    """The suite as a server-clock backend (Redis) runs it: real waits, tolerances."""

    @pytest.fixture
    def harness(self) -> BackendHarness:
        backend = MemoryStateBackend(clock=SYSTEM_CLOCK)
        return BackendHarness.on_server_clock(backend, AsyncMemoryStateBackend(shared=backend))


# -- memory only -----------------------------------------------------------------------------


@pytest.fixture
def backend(clock: FakeClock) -> MemoryStateBackend:
    return MemoryStateBackend(clock=clock)


def test_sweep_drops_expired_idempotency_claims(
    backend: MemoryStateBackend, clock: FakeClock
) -> None:
    for n in range(100):
        backend.idempotency_begin(f"old-{n}", b"request", ttl=1.0)
    clock.advance(SWEEP_EVERY)
    backend.idempotency_begin("new", b"request", ttl=1.0)
    assert list(backend._claims) == ["new"]


def test_sweep_drops_idle_limiter_keys(backend: MemoryStateBackend, clock: FakeClock) -> None:
    policy = LimitPolicy(rate=1, per=1.0)
    for n in range(100):
        assert backend.admit(GuardPlan(limit_key=f"tenant-{n}", limit=policy)).allowed
    clock.advance(SWEEP_EVERY)  # every bucket is full again: nothing worth keeping
    backend.admit(GuardPlan(limit_key="user", limit=policy))
    assert list(backend._tats) == ["user"]


def test_sweep_waits_for_its_time_not_for_a_number_of_calls(
    backend: MemoryStateBackend, clock: FakeClock
) -> None:
    policy = LimitPolicy(rate=1, per=1.0)
    backend.admit(GuardPlan(limit_key="idle", limit=policy))
    clock.advance(SWEEP_EVERY / 2)  # "idle" is full again, but no sweep is due
    for n in range(5000):
        backend.admit(GuardPlan(limit_key=f"user-{n}", limit=policy))
    assert "idle" in backend._tats
    clock.advance(SWEEP_EVERY / 2)
    backend.admit(GuardPlan(limit_key="user-0", limit=policy))
    assert list(backend._tats) == ["user-0"]


def test_sweep_keeps_live_state(backend: MemoryStateBackend, clock: FakeClock) -> None:
    backend.idempotency_begin("live", b"request", ttl=3600.0)
    limited = GuardPlan(limit_key="busy", limit=LimitPolicy(rate=1, per=3600.0))
    assert backend.admit(limited).allowed
    for n in range(100):
        backend.idempotency_begin(f"short-{n}", b"request", ttl=1.0)
    clock.advance(SWEEP_EVERY)
    backend.idempotency_begin("again", b"request", ttl=1.0)
    assert sorted(backend._claims) == ["again", "live"]
    assert backend.idempotency_begin("live", b"request", ttl=3600.0).status == "in_flight"
    assert backend.admit(limited).reason == "rate_limited"


@given(
    rate=st.sampled_from([0.5, 1.0, 3.0, 7.5, 1000.0]),
    burst=st.integers(0, 5),
    calls=st.lists(
        st.tuples(st.floats(0.0, 2.0), st.sampled_from([0.0, 0.1, 0.5, 5.0])), max_size=40
    ),
)
def test_the_limiter_decides_as_gcra(
    rate: float, burst: int, calls: list[tuple[float, float]]
) -> None:
    # The backend inlines `gcra` on its hot path: the rule's own function is the reference.
    clock = FakeClock()
    backend = MemoryStateBackend(clock=clock)
    policy = LimitPolicy(rate=rate, burst=burst)
    plan = GuardPlan(limit_key="k", limit=policy)
    tat: float | None = None
    for advance, max_wait in calls:
        clock.advance(advance)
        now = clock.monotonic()
        allowed, wait, new_tat = gcra(now if tat is None else tat, now, policy, max_wait)
        admission = backend.admit(plan, max_wait=max_wait)
        assert admission.allowed == allowed
        assert (admission.wait if allowed else admission.retry_after) == wait
        if allowed:
            tat = new_tat


def test_async_face_is_nonblocking_over_the_shared_backend(backend: MemoryStateBackend) -> None:
    twin = AsyncMemoryStateBackend(shared=backend)
    assert twin.sync is backend
    assert twin.nonblocking is backend


def test_async_face_builds_its_own_backend_on_the_given_clock(clock: FakeClock) -> None:
    twin = AsyncMemoryStateBackend(clock=clock)
    claim = twin.nonblocking.idempotency_begin("k", b"request", ttl=1.0)
    clock.advance(2.0)
    assert twin.nonblocking.idempotency_begin("k", b"request", ttl=1.0).owner != claim.owner


def test_backend_takes_its_clock_from_settings(clock: FakeClock) -> None:
    backend = MemoryStateBackend(BackendSettings(clock=clock))
    owner = backend.token_lock("k", ttl=1.0)
    clock.advance(2.0)
    assert backend.token_lock("k", ttl=1.0) not in (None, owner)


@given(
    parts=st.sampled_from(["breaker", "limit", "budget", "breaker+limit+budget", "none"]),
    steps=st.lists(
        st.tuples(
            st.floats(0.0, 3.0),  # clock advance
            st.booleans(),  # a retry
            st.sampled_from([0.0, 0.3, 5.0]),  # max_wait
            st.sampled_from([False, True, None, "slow"]),  # the outcome recorded
            st.booleans(),  # the caller passes its reading of the clock
        ),
        max_size=60,
    ),
)
def test_the_admitter_decides_as_admit(
    parts: str, steps: list[tuple[float, bool, float, bool | str | None, bool]]
) -> None:
    # The attempt loop admits through `admitter(plan)` (what it reads bound once): a second
    # copy of `admit`'s rules, which must agree with it call for call, state included.
    plan = GuardPlan(
        scope="c:v",
        breaker_key="c:v",
        breaker=BreakerPolicy(window=4, min_calls=2, open_for=2.0, slow_call_duration=1.0)
        if "breaker" in parts
        else None,
        limit_key="c:v",
        limit=LimitPolicy(rate=2.0, burst=2) if "limit" in parts else None,
        budget_key="c:v",
        budget=BudgetPolicy(ratio=0.2, window=2.0, min_per_second=0.5)
        if "budget" in parts
        else None,
    )
    clocks = FakeClock(), FakeClock()
    by_admit, by_admitter = (MemoryStateBackend(clock=clock) for clock in clocks)
    admitter = by_admitter.admitter(plan)
    assert admitter is not None
    admit_plan, reads = admitter
    assert reads is clocks[1]
    for advance, retry, max_wait, outcome, passes_now in steps:
        for clock in clocks:
            clock.advance(advance)
        now = clocks[1].monotonic() if passes_now else None
        first = by_admit.admit(plan, retry=retry, max_wait=max_wait)
        second = admit_plan(retry, max_wait, now)
        assert first == second
        if first.allowed:
            failed = outcome is True
            duration = 1.5 if outcome == "slow" else 0.1
            for backend, admission in ((by_admit, first), (by_admitter, second)):
                backend.record(
                    plan, admission, failed=None if outcome is None else failed, duration=duration
                )
    if plan.breaker is not None:
        assert by_admit.breaker(plan) == by_admitter.breaker(plan)
    if plan.limit is not None:
        assert by_admit.limiter(plan) == by_admitter.limiter(plan)
    # (`admitter` makes the plan's budget record at once: `admit`, on its first call.)
    assert by_admit._budgets.keys() <= by_admitter._budgets.keys()
    for key, other in by_admitter._budgets.items():
        budget = by_admit._budgets.get(key) or BudgetRecord()
        assert (budget.counts(), list(budget.buckets)) == (other.counts(), list(other.buckets))


class _CountingAdmissions(MemoryStateBackend):
    """A test double that admits its own way (here: counting)."""

    admitted = 0

    def admit(self, plan: GuardPlan, *, retry: bool = False, max_wait: float = 0.0) -> Any:
        self.admitted += 1
        return super().admit(plan, retry=retry, max_wait=max_wait)


async def test_a_subclass_that_admits_its_own_way_is_asked_by_the_pipeline(
    clock: FakeClock,
) -> None:
    # The attempt loop admits through `admitter` (bypassing `admit`) only when `admit` is
    # the memory backend's own.
    plan = GuardPlan(limit_key="k", limit=LimitPolicy(rate=1.0))
    assert _CountingAdmissions(clock=clock).admitter(plan) is None
    assert MemoryStateBackend(clock=clock).admitter(plan) is not None
    config = {
        "connectors": {"sms": {"vendor": "memory", "resilience": {"rate_limit": {"rate": 100.0}}}}
    }
    message = SmsMessage("+14155550100", "hello")
    backend = _CountingAdmissions(clock=clock)
    with ConnectorManager.from_config(config, clock=clock, state=backend) as manager:
        manager.sms.send(message)
        manager.sms.send(message)
    assert backend.admitted == 2
    shared = _CountingAdmissions(clock=clock)
    twin = AsyncMemoryStateBackend(shared=shared)
    async with AsyncConnectorManager.from_config(config, clock=clock, state=twin) as manager:
        await manager.sms.send(message)
    assert shared.admitted == 1
