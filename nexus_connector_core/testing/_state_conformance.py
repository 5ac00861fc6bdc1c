"""The conformance suite every state backend passes, whatever keeps its state.

A backend's tests subclass `StateBackendConformance` and provide one fixture, ``harness``,
that returns a `BackendHarness`. The suite then checks the circuit breaker, the rate limiter,
the retry budget, idempotency claims, token locks, SLO counters and leases through the
`StateBackend` protocol and its async twin, including under concurrent callers. It needs
pytest and pytest-asyncio.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import pytest

from .._state import (
    Admission,
    AsyncStateBackend,
    BreakerPolicy,
    BreakerSnapshot,
    BudgetPolicy,
    GuardPlan,
    IdempotencyClaim,
    LimitPolicy,
    SloCounts,
    SloQuery,
    StateBackend,
    StoredToken,
)

__all__ = ["BackendHarness", "StateBackendConformance"]

_T = TypeVar("_T")

#: Durations the suite waits out (open times, TTLs): cheap even on a real clock.
_SHORT = 0.2
#: Durations the suite never waits out, so a real clock is as good as a frozen one.
_LONG = 3600.0
#: Extra time after a wait, so that no test pins what happens exactly at a deadline (the
#: contract does not); larger on a real clock, where the suite's own calls take time too.
_MARGIN = 0.001
_REAL_MARGIN = 0.05
#: On a real clock, how far a duration the backend reports may be from the expected one.
_TOLERANCE = 0.15

_TOKEN = StoredToken(value=b"secret", expires_at=1_767_229_200.0)


@dataclass(frozen=True)
class BackendHarness:
    """One backend under test, as `StateBackendConformance` drives it.

    Attributes:
        sync: the backend.
        async_: its asynchronous twin over the same state: what one writes the other reads.
        advance: makes `seconds` pass on the clock the backend decides by:
            `FakeClock.advance` for a backend built on an injected clock, `time.sleep`
            for one that reads a server's clock (see `on_server_clock`).
        real_time: `advance` really sleeps, so time also passes while the suite runs; the
            suite then allows a little slack in the durations it checks.
        record_delay: the longest (real) time an outcome recorded through one of `sync`
            and `async_` takes to show through the other, for a backend that defers
            `record` (see `StateBackend.record`); 0 for one that records at once. The
            suite checks the bound: it waits this long, never longer, before reading.
    """

    sync: StateBackend
    async_: AsyncStateBackend
    advance: Callable[[float], None]
    real_time: bool = False
    record_delay: float = 0.0

    @classmethod
    def on_server_clock(
        cls, sync: StateBackend, async_: AsyncStateBackend, *, record_delay: float = 0.0
    ) -> BackendHarness:
        """A harness for a backend whose clock cannot be faked: waits really sleep."""
        return cls(
            sync=sync,
            async_=async_,
            advance=time.sleep,
            real_time=True,
            record_delay=record_delay,
        )


def _breaker(key: str, **policy: Any) -> GuardPlan:
    """A plan with only a breaker: by default a count window of 4 calls, opening at a 50 %
    failure rate once 4 calls are in, open for `_SHORT`, with 2 half-open trials."""
    defaults: dict[str, Any] = {
        "window": 4,
        "min_calls": 4,
        "failure_rate": 0.5,
        "open_for": _SHORT,
        "half_open_calls": 2,
    }
    return GuardPlan(
        scope=_scope(key), breaker_key=key, breaker=BreakerPolicy(**(defaults | policy))
    )


def _limit(key: str, rate: float, per: float = _LONG, burst: int = 0) -> GuardPlan:
    return GuardPlan(
        scope=_scope(key), limit_key=key, limit=LimitPolicy(rate=rate, per=per, burst=burst)
    )


def _budget(key: str, **policy: Any) -> GuardPlan:
    return GuardPlan(scope=_scope(key), budget_key=key, budget=BudgetPolicy(**policy))


def _scope(key: str) -> str:
    """The test's key prefix: every plan of one test shares it, as a connector's do."""
    return key.rsplit(":", 1)[0]


def _merged(*plans: GuardPlan) -> GuardPlan:
    """One plan checking everything the given plans check."""
    fields: dict[str, Any] = {}
    for plan in plans:
        fields |= {name: value for name, value in msgspec.structs.asdict(plan).items() if value}
    return GuardPlan(**fields)


def _refused(admission: Admission) -> tuple[str | None, str]:
    """Why `admission` was refused, and the breaker's state then (it must be a refusal)."""
    assert not admission.allowed, admission
    return admission.reason, admission.state


def _race(threads: int, action: Callable[[], _T]) -> list[_T]:
    """Run `action` once in each of `threads` threads, all released at the same moment."""
    barrier = threading.Barrier(threads)

    def run() -> _T:
        barrier.wait()
        return action()

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(run) for _ in range(threads)]
        return [future.result() for future in futures]


class StateBackendConformance:
    """The behaviour every state backend must show: subclass it and provide ``harness``.

    A backend built on an injected clock runs the suite on a `FakeClock`, so nothing
    sleeps::

        import pytest
        from nexus_connector_core.testing import (
            BackendHarness, FakeClock, StateBackendConformance,
        )

        class TestMemoryBackend(StateBackendConformance):
            @pytest.fixture
            def harness(self):
                clock = FakeClock()
                backend = MemoryStateBackend(clock=clock)
                twin = AsyncMemoryStateBackend(shared=backend)
                return BackendHarness(sync=backend, async_=twin, advance=clock.advance)

    A backend that decides by its server's clock (Redis ``TIME``) cannot fake time: build
    the harness with `BackendHarness.on_server_clock` and the suite waits for real, using
    durations of a fraction of a second (two tests wait out a window of 2 s). Every test
    names its keys with a random prefix, so one server serves every test without flushing.
    A backend that defers `record` gives the bound it promises (``record_delay``). Close
    connections in the fixture::

        class TestRedisBackend(StateBackendConformance):
            @pytest.fixture
            async def harness(self, redis_url):
                sync, twin = RedisStateBackend(redis_url), AsyncRedisStateBackend(redis_url)
                yield BackendHarness.on_server_clock(sync, twin, record_delay=0.05)
                sync.close()
                await twin.aclose()

    Each test is one behaviour of the `StateBackend` contract, named for it. To record a
    known deviation of your backend, override that test in your subclass, decorate it with
    ``@pytest.mark.xfail(strict=True, reason=...)`` and call ``super()``. Your own extra tests
    in the subclass can use ``self.sync``, ``self.twin`` and the helpers (`key`, `wait_out`,
    `outcomes`, `trip`, ...).
    """

    #: The backend under test and its async twin, for the running test.
    sync: StateBackend
    twin: AsyncStateBackend

    @pytest.fixture
    def harness(self) -> BackendHarness | Iterator[BackendHarness]:
        """The backend under test: override this fixture in your subclass."""
        pytest.fail(f"{type(self).__name__} must provide a `harness` fixture")

    @pytest.fixture(autouse=True)
    def _use_harness(self, harness: BackendHarness) -> None:
        self._harness = harness
        self.sync = harness.sync
        self.twin = harness.async_
        self._prefix = f"conformance-{os.urandom(6).hex()}"

    # -- helpers ---------------------------------------------------------------------------

    def key(self, name: str) -> str:
        """A key name no other test uses."""
        return f"{self._prefix}:{name}"

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass on the backend's clock."""
        self._harness.advance(seconds)

    def wait_out(self, seconds: float) -> None:
        """Let `seconds` pass and a little more, so a deadline `seconds` away is past."""
        self.advance(seconds + (_REAL_MARGIN if self._harness.real_time else _MARGIN))

    async def outcomes_land(self) -> None:
        """Wait until outcomes recorded through one backend of the harness show through the
        other: the harness's `record_delay` (and the margin of a real clock), while the
        event loop runs, so an async backend's flush can."""
        delay = self._harness.record_delay
        if delay:
            await asyncio.sleep(delay + (_REAL_MARGIN if self._harness.real_time else _MARGIN))

    def approx(self, seconds: float) -> object:
        """Equal to a duration the backend reports, give or take the clock's slack."""
        return pytest.approx(seconds, abs=_TOLERANCE if self._harness.real_time else 1e-6)

    def outcomes(self, plan: GuardPlan, outcomes: str) -> None:
        """Admit one call per letter and record it: ``F`` failed, ``S`` a fast success,
        ``L`` a slow (10 s) success."""
        for outcome in outcomes:
            admission = self.sync.admit(plan)
            assert admission.allowed, f"call {outcome!r} of {outcomes!r} refused: {admission}"
            duration = 10.0 if outcome == "L" else 0.0
            self.sync.record(plan, admission, failed=outcome == "F", duration=duration)

    def snapshot(self, plan: GuardPlan) -> BreakerSnapshot:
        return self.sync.breaker(plan)

    def trip(self, plan: GuardPlan) -> None:
        """Fail calls until the breaker opens."""
        assert plan.breaker is not None
        self.outcomes(plan, "F" * plan.breaker.min_calls)
        assert self.snapshot(plan).state == "open"

    def half_open(self, plan: GuardPlan) -> Admission:
        """Open the breaker, wait out its open time and take the first trial."""
        assert plan.breaker is not None
        self.trip(plan)
        self.wait_out(plan.breaker.open_for)
        trial = self.sync.admit(plan)
        assert (trial.allowed, trial.trial, trial.state) == (True, True, "half_open"), trial
        return trial

    def begin(self, fingerprint: bytes = b"request", *, ttl: float = _LONG) -> IdempotencyClaim:
        return self.sync.idempotency_begin(self.key("i"), fingerprint, ttl=ttl)

    def acquire(self, *, ttl: float = _LONG) -> str:
        """Claim the test's idempotency key for ``b"request"``; the owner."""
        claim = self.begin(ttl=ttl)
        assert claim.status == "acquired", claim
        assert claim.owner
        return claim.owner

    def complete(self, owner: str, outcome: bytes, *, ttl: float = _LONG) -> None:
        self.sync.idempotency_complete(self.key("i"), owner, b"request", outcome, ttl=ttl)

    # -- the protocol ----------------------------------------------------------------------

    def test_backends_implement_the_protocols(self) -> None:
        assert isinstance(self.sync, StateBackend)
        assert isinstance(self.twin, AsyncStateBackend)

    def test_empty_plan_admits(self) -> None:
        assert self.sync.admit(GuardPlan()).allowed

    def test_ping_answers_when_the_backend_is_up(self) -> None:
        self.sync.ping()  # raises StateBackendUnavailableError when it does not answer

    @pytest.mark.asyncio
    async def test_async_ping_answers_when_the_backend_is_up(self) -> None:
        await self.twin.ping()

    def test_the_async_twin_says_whether_it_can_be_called_without_awaiting(self) -> None:
        # None for a backend that does I/O; else a StateBackend over the same state.
        nonblocking = self.twin.nonblocking
        assert nonblocking is None or isinstance(nonblocking, StateBackend)

    # -- circuit breaker -------------------------------------------------------------------

    def test_closed_breaker_admits(self) -> None:
        admission = self.sync.admit(_breaker(self.key("b")))
        assert admission.allowed
        assert (admission.state, admission.trial, admission.wait) == ("closed", False, 0.0)

    def test_breaker_stays_closed_before_min_calls(self) -> None:
        plan = _breaker(self.key("b"))
        self.outcomes(plan, "FFF")
        assert self.snapshot(plan).state == "closed"
        assert self.sync.admit(plan).allowed

    def test_breaker_opens_when_failure_rate_reaches_threshold(self) -> None:
        plan = _breaker(self.key("b"))
        self.outcomes(plan, "SSF")
        assert self.snapshot(plan).state == "closed"
        self.outcomes(plan, "F")  # 2 of 4: exactly the threshold
        assert self.snapshot(plan).state == "open"

    def test_breaker_opens_when_min_calls_is_reached_by_a_success(self) -> None:
        plan = _breaker(self.key("b"))
        self.outcomes(plan, "FFFS")  # 3 of 4 failed: Resilience4j opens on the 4th call
        assert self.snapshot(plan).state == "open"

    def test_count_window_forgets_older_calls(self) -> None:
        plan = _breaker(self.key("b"))
        self.outcomes(plan, "FSSSSF")  # the window holds S S S F
        assert self.snapshot(plan).state == "closed"
        self.outcomes(plan, "F")  # S S F F
        assert self.snapshot(plan).state == "open"

    def test_breaker_opens_when_slow_call_rate_reaches_threshold(self) -> None:
        plan = _breaker(self.key("b"), failure_rate=1.0, slow_call_duration=5.0, slow_call_rate=0.5)
        self.outcomes(plan, "SSL")
        assert self.snapshot(plan).state == "closed"
        self.outcomes(plan, "L")
        assert self.snapshot(plan).state == "open"

    def test_no_call_is_slow_when_slow_call_duration_is_zero(self) -> None:
        plan = _breaker(self.key("b"), slow_call_rate=0.5)
        self.outcomes(plan, "LLLL")
        snapshot = self.snapshot(plan)
        assert (snapshot.state, snapshot.slow_calls) == ("closed", 0)

    def test_open_breaker_rejects_with_the_remaining_open_time(self) -> None:
        plan = _breaker(self.key("b"), open_for=60.0)
        self.trip(plan)
        self.advance(_SHORT)
        rejected = self.sync.admit(plan)
        assert _refused(rejected) == ("circuit_open", "open")
        assert rejected.retry_after == self.approx(60.0 - _SHORT)

    def test_breaker_admits_a_half_open_trial_after_open_for(self) -> None:
        plan = _breaker(self.key("b"))
        assert self.half_open(plan).trial
        assert self.snapshot(plan).state == "half_open"

    def test_half_open_grants_exactly_half_open_calls_trials(self) -> None:
        plan = _breaker(self.key("b"), half_open_calls=2)
        self.half_open(plan)
        assert self.sync.admit(plan).trial
        assert _refused(self.sync.admit(plan)) == ("circuit_open", "half_open")

    def test_breaker_closes_when_all_trials_succeed(self) -> None:
        plan = _breaker(self.key("b"))
        first = self.half_open(plan)
        second = self.sync.admit(plan)
        self.sync.record(plan, first, failed=False, duration=0.0)
        assert self.snapshot(plan).state == "half_open"
        self.sync.record(plan, second, failed=False, duration=0.0)
        assert self.snapshot(plan).state == "closed"
        assert not self.sync.admit(plan).trial

    def test_failed_trials_reopen_for_longer_up_to_open_for_max(self) -> None:
        policy = {"open_for_multiplier": 2.0, "open_for_max": 3 * _SHORT}
        plan = _breaker(self.key("b"), **policy)
        self.trip(plan)
        self.wait_out(_SHORT)
        for open_for in (2 * _SHORT, 3 * _SHORT):  # doubled, then capped
            self.outcomes(plan, "FF")  # both trials fail
            rejected = self.sync.admit(plan)
            assert _refused(rejected) == ("circuit_open", "open")
            assert rejected.retry_after == self.approx(open_for)
            self.wait_out(open_for)

    def test_closing_resets_the_open_time(self) -> None:
        plan = _breaker(self.key("b"), open_for_multiplier=2.0)
        trial = self.half_open(plan)
        self.sync.record(plan, trial, failed=True, duration=0.0)
        self.outcomes(plan, "F")  # both trials failed: open for 2 x _SHORT
        self.wait_out(2 * _SHORT)
        self.outcomes(plan, "SS")
        assert self.snapshot(plan).state == "closed"
        self.trip(plan)
        assert self.sync.admit(plan).retry_after == self.approx(_SHORT)

    def test_abandoned_trial_gives_back_its_permit(self) -> None:
        plan = _breaker(self.key("b"), half_open_calls=2)
        first = self.half_open(plan)
        self.outcomes(plan, "S")  # the second trial
        assert not self.sync.admit(plan).allowed
        self.sync.record(plan, first, failed=None, duration=0.0)  # cancelled: no outcome
        assert self.snapshot(plan).state == "half_open"
        self.outcomes(plan, "S")  # the permit again: now two trials have succeeded
        assert self.snapshot(plan).state == "closed"

    def test_abandoned_call_counts_nothing(self) -> None:
        plan = _breaker(self.key("b"))
        self.outcomes(plan, "FFF")
        self.sync.record(plan, self.sync.admit(plan), failed=None, duration=10.0)
        snapshot = self.snapshot(plan)
        assert (snapshot.state, snapshot.calls, snapshot.failures) == ("closed", 3, 3)

    def test_half_open_reopens_after_half_open_max_wait(self) -> None:
        plan = _breaker(self.key("b"), half_open_max_wait=_SHORT)
        trial = self.half_open(plan)
        self.wait_out(_SHORT)  # the second trial was never asked for
        assert _refused(self.sync.admit(plan)) == ("circuit_open", "open")
        self.sync.record(plan, trial, failed=False, duration=0.0)  # too late to count
        assert self.snapshot(plan).state == "open"

    def test_breaker_ignores_outcomes_admitted_before_it_opened(self) -> None:
        plan = _breaker(self.key("b"), half_open_calls=2)
        early = self.sync.admit(plan)  # admitted while closed; its outcome comes late
        trial = self.half_open(plan)
        self.sync.record(plan, early, failed=True, duration=0.0)
        self.sync.record(plan, trial, failed=False, duration=0.0)
        assert self.snapshot(plan).state == "half_open"  # one trial of two done, no failure
        self.outcomes(plan, "S")
        assert self.snapshot(plan).state == "closed"

    def test_time_window_forgets_calls_older_than_the_window(self) -> None:
        policy: dict[str, Any] = {"window_type": "time", "window": 2, "min_calls": 2}
        recent = _breaker(self.key("recent"), **policy)
        self.outcomes(recent, "FF")
        assert self.snapshot(recent).state == "open"
        old = _breaker(self.key("old"), **policy)
        self.outcomes(old, "F")
        self.wait_out(2 + 1.0)  # a window and a second: bucketed windows have counted it out
        self.outcomes(old, "F")
        snapshot = self.snapshot(old)
        assert (snapshot.state, snapshot.calls, snapshot.failures) == ("closed", 1, 1)

    def test_breaker_snapshot_reports_state_and_counts(self) -> None:
        plan = _breaker(self.key("b"), slow_call_duration=5.0, open_for=60.0)
        fresh = self.snapshot(plan)
        assert (fresh.state, fresh.calls, fresh.failures, fresh.slow_calls) == ("closed", 0, 0, 0)
        self.outcomes(plan, "SLF")
        counted = self.snapshot(plan)
        assert (counted.calls, counted.failures, counted.slow_calls) == (3, 1, 1)
        self.outcomes(plan, "F")
        opened = self.snapshot(plan)
        assert (opened.state, opened.retry_after) == ("open", self.approx(60.0))
        assert opened.generation > fresh.generation

    # -- rate limiter ----------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("rate", "burst", "capacity"), [(3, 0, 3), (2.5, 0, 3), (0.5, 0, 1), (1, 4, 4)]
    )
    def test_limiter_admits_its_capacity_at_once_then_rejects(
        self, rate: float, burst: int, capacity: int
    ) -> None:
        plan = _limit(self.key("l"), rate, burst=burst)
        assert all(self.sync.admit(plan).allowed for _ in range(capacity))
        rejected = self.sync.admit(plan)
        assert _refused(rejected) == ("rate_limited", "closed")
        assert rejected.retry_after == self.approx(_LONG / rate)

    def test_an_unused_limiters_snapshot_shows_a_full_bucket(self) -> None:
        snapshot = self.sync.limiter(_limit(self.key("l"), 3))
        assert (snapshot.available, snapshot.capacity, snapshot.retry_after) == (3, 3, 0.0)

    def test_a_limiters_snapshot_counts_the_tokens_taken_and_takes_none(self) -> None:
        plan = _limit(self.key("l"), 3)
        assert self.sync.admit(plan).allowed
        assert self.sync.admit(plan).allowed
        for _ in range(3):  # reading takes nothing
            assert self.sync.limiter(plan).available == 1
        assert self.sync.admit(plan).allowed

    def test_an_empty_limiters_snapshot_says_when_a_token_comes(self) -> None:
        plan = _limit(self.key("l"), 3)
        for _ in range(3):
            self.sync.admit(plan)
        snapshot = self.sync.limiter(plan)
        assert (snapshot.available, snapshot.capacity) == (0, 3)
        assert snapshot.retry_after == self.approx(_LONG / 3)

    def test_limiter_gives_back_one_token_per_interval(self) -> None:
        interval = 2 * _SHORT
        plan = _limit(self.key("l"), 1, per=interval)
        assert self.sync.admit(plan).allowed
        self.advance(interval / 4)
        assert not self.sync.admit(plan).allowed
        self.wait_out(interval * 3 / 4)
        assert self.sync.admit(plan).allowed
        assert not self.sync.admit(plan).allowed

    def test_limiter_reserves_evenly_spaced_slots_within_max_wait(self) -> None:
        plan = _limit(self.key("l"), 1, per=10.0)
        assert self.sync.admit(plan).wait == 0.0
        waits = [self.sync.admit(plan, max_wait=25.0) for _ in range(3)]
        assert [w.allowed for w in waits] == [True, True, False]
        assert [w.wait for w in waits[:2]] == [self.approx(10.0), self.approx(20.0)]
        assert (waits[2].reason, waits[2].retry_after) == ("rate_limited", self.approx(30.0))

    def test_rejected_limiter_spends_no_half_open_trial(self) -> None:
        breaker, limit = _breaker(self.key("b"), half_open_calls=2), _limit(self.key("l"), 1)
        assert self.sync.admit(limit).allowed  # the limiter's only token
        self.trip(breaker)
        self.wait_out(_SHORT)
        rejected = self.sync.admit(_merged(breaker, limit))
        assert (_refused(rejected), rejected.trial) == (("rate_limited", "half_open"), False)
        assert [self.sync.admit(breaker).trial for _ in range(2)] == [True, True]
        assert not self.sync.admit(breaker).allowed

    def test_open_breaker_spends_no_limiter_token(self) -> None:
        breaker, limit = _breaker(self.key("b"), open_for=60.0), _limit(self.key("l"), 1)
        self.trip(breaker)
        assert _refused(self.sync.admit(_merged(breaker, limit))) == ("circuit_open", "open")
        assert self.sync.admit(limit).allowed

    # -- retry budget ----------------------------------------------------------------------

    def test_retry_budget_admits_a_ratio_of_first_attempts(self) -> None:
        plan = _budget(self.key("r"), ratio=0.2, window=60.0, min_per_second=0.0)
        assert all(self.sync.admit(plan).allowed for _ in range(10))
        retries = [self.sync.admit(plan, retry=True) for _ in range(3)]
        assert [r.allowed for r in retries] == [True, True, False]
        assert retries[2].reason == "retry_budget"

    def test_retry_budget_floor_allows_retries_without_first_attempts(self) -> None:
        plan = _budget(self.key("r"), ratio=0.2, window=10.0, min_per_second=0.5)
        retries = [self.sync.admit(plan, retry=True).allowed for _ in range(6)]
        assert retries == [True] * 5 + [False]

    def test_retry_budget_window_slides(self) -> None:
        plan = _budget(self.key("r"), ratio=0.2, window=2.0, min_per_second=0.0)
        assert all(self.sync.admit(plan).allowed for _ in range(10))
        assert self.sync.admit(plan, retry=True).allowed
        self.wait_out(2.0 + 1.0)  # a window and a second, as for the breaker's time window
        assert _refused(self.sync.admit(plan, retry=True)) == ("retry_budget", "closed")

    def test_retry_refused_by_the_budget_spends_no_limiter_token(self) -> None:
        budget = _budget(self.key("r"), ratio=0.0, min_per_second=0.0)
        plan = _merged(_limit(self.key("l"), 1), budget)
        assert _refused(self.sync.admit(plan, retry=True)) == ("retry_budget", "closed")
        assert self.sync.admit(plan).allowed
        assert _refused(self.sync.admit(plan)) == ("rate_limited", "closed")

    # -- idempotency -----------------------------------------------------------------------

    def test_idempotency_begin_acquires_a_free_key(self) -> None:
        claim = self.begin()
        assert claim.status == "acquired"
        assert claim.owner

    def test_idempotency_same_request_while_in_flight_is_in_flight(self) -> None:
        self.acquire()
        again = self.begin()
        assert (again.status, again.owner) == ("in_flight", None)

    def test_idempotency_different_request_conflicts(self) -> None:
        owner = self.acquire()
        assert self.begin(b"other").status == "conflict"
        self.complete(owner, b"ok")
        assert self.begin(b"other").status == "conflict"

    def test_idempotency_complete_stores_the_outcome(self) -> None:
        self.complete(self.acquire(), b"\x00ok")
        done = self.begin()
        assert (done.status, done.outcome) == ("done", b"\x00ok")

    def test_idempotency_release_frees_the_key(self) -> None:
        owner = self.acquire()
        self.sync.idempotency_release(self.key("i"), owner)
        assert self.acquire() != owner

    def test_idempotency_claim_expires_after_its_ttl(self) -> None:
        crashed = self.acquire(ttl=_SHORT)
        self.wait_out(_SHORT)
        assert self.acquire() != crashed

    def test_idempotency_another_owner_can_neither_complete_nor_release(self) -> None:
        owner = self.acquire()
        self.complete("intruder", b"forged")
        self.sync.idempotency_release(self.key("i"), "intruder")
        assert self.begin().status == "in_flight"
        self.complete(owner, b"real")
        assert self.begin().outcome == b"real"

    def test_idempotency_outcome_expires_after_its_ttl(self) -> None:
        self.complete(self.acquire(), b"ok", ttl=_SHORT)
        self.wait_out(_SHORT)
        assert self.begin(b"other").status == "acquired"

    def test_idempotency_extend_keeps_the_owners_claim_past_its_ttl(self) -> None:
        owner = self.acquire(ttl=_SHORT)
        assert self.sync.idempotency_extend(self.key("i"), owner, ttl=_LONG)
        self.wait_out(_SHORT)
        assert self.begin().status == "in_flight"
        self.complete(owner, b"ok")
        assert self.begin().outcome == b"ok"

    def test_idempotency_extend_shortens_a_claim_too(self) -> None:
        owner = self.acquire()
        assert self.sync.idempotency_extend(self.key("i"), owner, ttl=_SHORT)
        self.wait_out(_SHORT)
        assert self.acquire() != owner

    def test_idempotency_extend_changes_nothing_but_the_owners_claim(self) -> None:
        owner = self.acquire(ttl=_SHORT)
        assert not self.sync.idempotency_extend(self.key("i"), "intruder", ttl=_LONG)
        self.wait_out(_SHORT)
        assert self.acquire() != owner

    def test_idempotency_extend_of_a_lost_claim_is_false(self) -> None:
        key = self.key("i")
        expired = self.acquire(ttl=_SHORT)
        self.wait_out(_SHORT)
        assert not self.sync.idempotency_extend(key, expired, ttl=_LONG)
        assert self.begin().status == "acquired"  # nothing was taken back
        released = self.sync.idempotency_begin(self.key("j"), b"request", ttl=_LONG).owner
        assert released
        self.sync.idempotency_release(self.key("j"), released)
        assert not self.sync.idempotency_extend(self.key("j"), released, ttl=_LONG)

    def test_idempotency_extend_leaves_a_stored_outcome_alone(self) -> None:
        owner = self.acquire()
        self.complete(owner, b"ok", ttl=_SHORT)
        assert not self.sync.idempotency_extend(self.key("i"), owner, ttl=_LONG)
        self.wait_out(_SHORT)
        assert self.begin(b"other").status == "acquired"

    # -- OAuth tokens ----------------------------------------------------------------------

    def test_token_get_is_none_when_nothing_is_stored(self) -> None:
        assert self.sync.token_get(self.key("t")) is None

    def test_token_lock_is_held_until_its_ttl(self) -> None:
        key = self.key("t")
        owner = self.sync.token_lock(key, ttl=_SHORT)
        assert owner
        assert self.sync.token_lock(key, ttl=_SHORT) is None
        self.wait_out(_SHORT)
        successor = self.sync.token_lock(key, ttl=_SHORT)
        assert successor
        assert successor != owner

    def test_token_set_stores_the_token_and_releases_the_lock(self) -> None:
        key = self.key("t")
        owner = self.sync.token_lock(key, ttl=_LONG)
        assert owner is not None
        self.sync.token_set(key, owner, _TOKEN)
        assert self.sync.token_get(key) == _TOKEN
        assert self.sync.token_lock(key, ttl=_LONG)

    def test_token_unlock_releases_only_the_owners_lock(self) -> None:
        key = self.key("t")
        owner = self.sync.token_lock(key, ttl=_LONG)
        assert owner is not None
        self.sync.token_unlock(key, "intruder")
        assert self.sync.token_lock(key, ttl=_LONG) is None
        self.sync.token_unlock(key, owner)
        assert self.sync.token_lock(key, ttl=_LONG)

    # -- SLO counters ----------------------------------------------------------------------

    def counts(
        self, bucket: int, keep: float = _LONG, resolution: int = 60, **fields: int
    ) -> SloCounts:
        """Counts to add to bucket `bucket` of the test's series."""
        return SloCounts(
            series=self.key("s"), resolution=resolution, bucket=bucket, counts=fields, keep=keep
        )

    def sums(self, first: int, last: int, resolution: int = 60) -> dict[str, int]:
        """The test's series summed over buckets `first` to `last`."""
        query = SloQuery(series=self.key("s"), resolution=resolution, first=first, last=last)
        return self.sync.slo_read([query])[0]

    def test_slo_read_of_buckets_never_added_to_is_empty(self) -> None:
        assert self.sums(100, 200) == {}

    def test_slo_read_sums_each_field_over_the_buckets_in_its_range(self) -> None:
        self.sync.slo_add(
            self.key("b1"),
            [
                self.counts(10, **{"send|s": 3, "send|f": 1}),
                self.counts(11, **{"send|s": 2}),
                self.counts(12, **{"send|s": 7, "send|0.5": 4}),
            ],
        )
        assert self.sums(10, 12) == {"send|s": 12, "send|f": 1, "send|0.5": 4}
        assert self.sums(11, 11) == {"send|s": 2}
        assert self.sums(13, 20) == {}

    def test_slo_add_adds_to_what_is_there(self) -> None:
        self.sync.slo_add(self.key("b1"), [self.counts(10, **{"send|s": 3})])
        self.sync.slo_add(self.key("b2"), [self.counts(10, **{"send|s": 4, "send|f": 1})])
        assert self.sums(10, 10) == {"send|s": 7, "send|f": 1}

    def test_slo_add_of_a_batch_sent_again_adds_nothing(self) -> None:
        batch = [self.counts(10, **{"send|s": 3})]
        self.sync.slo_add(self.key("b1"), batch)
        self.sync.slo_add(self.key("b1"), batch)
        assert self.sums(10, 10) == {"send|s": 3}

    def test_slo_series_and_resolutions_are_kept_apart(self) -> None:
        other = SloCounts(
            series=self.key("other"), resolution=60, bucket=10, counts={"x": 5}, keep=_LONG
        )
        self.sync.slo_add(
            self.key("b1"),
            [self.counts(10, x=1), self.counts(10, resolution=3600, x=2), other],
        )
        assert self.sums(10, 10) == {"x": 1}
        assert self.sums(10, 10, resolution=3600) == {"x": 2}

    def test_slo_bucket_expires_after_keep(self) -> None:
        self.sync.slo_add(self.key("b1"), [self.counts(10, keep=_SHORT, x=1)])
        self.sync.slo_add(self.key("b2"), [self.counts(11, x=1)])
        self.wait_out(_SHORT)
        assert self.sums(10, 11) == {"x": 1}

    def test_threads_racing_slo_add_lose_no_count(self) -> None:
        batches = iter(range(1000))

        def add() -> None:
            for _ in range(5):
                self.sync.slo_add(self.key(f"b{next(batches)}"), [self.counts(10, x=1, y=2)])

        _race(8, add)
        assert self.sums(10, 10) == {"x": 40, "y": 80}

    # -- leases ----------------------------------------------------------------------------

    def test_a_free_lease_goes_to_the_first_owner_who_asks(self) -> None:
        lease = self.sync.lease_acquire(self.key("l"), "a", ttl=_LONG)
        assert lease.holder == "a"
        assert lease.expires_in == self.approx(_LONG)
        assert self.sync.lease_acquire(self.key("l"), "b", ttl=_LONG).holder == "a"
        assert self.sync.lease_read(self.key("l")).holder == "a"

    def test_a_lease_nobody_took_is_free(self) -> None:
        lease = self.sync.lease_read(self.key("l"))
        assert (lease.holder, lease.data, lease.expires_in) == (None, None, 0.0)

    def test_a_lease_not_renewed_passes_to_another_owner_after_its_ttl(self) -> None:
        self.sync.lease_acquire(self.key("l"), "a", ttl=_SHORT)
        self.wait_out(_SHORT)
        assert self.sync.lease_read(self.key("l")).holder is None
        assert self.sync.lease_acquire(self.key("l"), "b", ttl=_LONG).holder == "b"

    def test_the_holder_renews_its_lease(self) -> None:
        self.sync.lease_acquire(self.key("l"), "a", ttl=_SHORT)
        assert self.sync.lease_acquire(self.key("l"), "a", ttl=_LONG).holder == "a"
        self.wait_out(_SHORT)
        assert self.sync.lease_acquire(self.key("l"), "b", ttl=_LONG).holder == "a"

    def test_only_the_holder_stores_data_with_a_lease(self) -> None:
        name = self.key("l")
        self.sync.lease_acquire(name, "a", ttl=_LONG)
        assert self.sync.lease_store(name, "a", b"state-1", keep=_LONG)
        assert not self.sync.lease_store(name, "b", b"intruder", keep=_LONG)
        assert self.sync.lease_read(name).data == b"state-1"

    def test_a_successor_reads_the_data_its_predecessor_stored(self) -> None:
        name = self.key("l")
        self.sync.lease_acquire(name, "a", ttl=_SHORT)
        self.sync.lease_store(name, "a", b"state-1", keep=_LONG)
        self.wait_out(_SHORT)
        assert not self.sync.lease_store(name, "a", b"stale", keep=_LONG)
        successor = self.sync.lease_acquire(name, "b", ttl=_LONG)
        assert (successor.holder, successor.data) == ("b", b"state-1")

    def test_lease_data_expires_after_keep(self) -> None:
        name = self.key("l")
        self.sync.lease_acquire(name, "a", ttl=_LONG)
        self.sync.lease_store(name, "a", b"state-1", keep=_SHORT)
        self.wait_out(_SHORT)
        assert self.sync.lease_read(name).data is None

    def test_only_the_holder_releases_a_lease_and_its_data_stays(self) -> None:
        name = self.key("l")
        self.sync.lease_acquire(name, "a", ttl=_LONG)
        self.sync.lease_store(name, "a", b"state-1", keep=_LONG)
        self.sync.lease_release(name, "b")
        assert self.sync.lease_read(name).holder == "a"
        self.sync.lease_release(name, "a")
        lease = self.sync.lease_read(name)
        assert (lease.holder, lease.data) == (None, b"state-1")
        assert self.sync.lease_acquire(name, "b", ttl=_LONG).holder == "b"

    def test_threads_racing_for_a_lease_get_one_holder(self) -> None:
        owners = iter(f"owner-{n}" for n in range(8))
        leases = _race(8, lambda: self.sync.lease_acquire(self.key("l"), next(owners), ttl=_LONG))
        assert len({lease.holder for lease in leases}) == 1

    # -- concurrent callers ----------------------------------------------------------------

    def test_threads_racing_a_limiter_get_exactly_its_capacity(self) -> None:
        plan = _limit(self.key("l"), 20)
        admitted = _race(8, lambda: sum(self.sync.admit(plan).allowed for _ in range(10)))
        assert sum(admitted) == 20

    @pytest.mark.asyncio
    async def test_tasks_racing_a_limiter_get_exactly_its_capacity(self) -> None:
        plan = _limit(self.key("l"), 20)
        admissions = await asyncio.gather(*(self.twin.admit(plan) for _ in range(50)))
        assert sum(a.allowed for a in admissions) == 20

    def test_threads_racing_idempotency_begin_get_one_owner(self) -> None:
        claims = _race(16, self.begin)
        assert sorted(c.status for c in claims) == ["acquired"] + ["in_flight"] * 15

    def test_threads_racing_half_open_get_exactly_the_trials(self) -> None:
        plan = _breaker(self.key("b"), half_open_calls=3)
        self.trip(plan)
        self.wait_out(_SHORT)
        admissions = _race(8, lambda: self.sync.admit(plan))
        assert sum(a.trial for a in admissions) == 3
        assert sum(a.allowed for a in admissions) == 3

    def test_threads_racing_token_lock_get_one_owner(self) -> None:
        owners = _race(8, lambda: self.sync.token_lock(self.key("t"), ttl=_LONG))
        assert len([owner for owner in owners if owner is not None]) == 1

    # -- the async twin --------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_async_twin_shares_breaker_state(self) -> None:
        plan = _breaker(self.key("b"), open_for=60.0)
        assert plan.breaker is not None
        for _ in range(4):
            admission = await self.twin.admit(plan)
            await self.twin.record(plan, admission, failed=True, duration=0.0)
        await self.outcomes_land()
        assert self.snapshot(plan).state == "open"
        assert (await self.twin.breaker(plan)).state == "open"
        assert (await self.twin.admit(plan)).reason == "circuit_open"

    @pytest.mark.asyncio
    async def test_async_twin_sees_the_outcomes_the_sync_backend_records(self) -> None:
        plan = _breaker(self.key("b"), open_for=60.0)
        self.outcomes(plan, "FFF")
        assert (await self.twin.breaker(plan)).state == "closed"
        self.outcomes(plan, "F")
        await self.outcomes_land()
        assert (await self.twin.breaker(plan)).state == "open"
        assert (await self.twin.admit(plan)).reason == "circuit_open"

    @pytest.mark.asyncio
    async def test_async_twin_keeps_idempotency_claims(self) -> None:
        key, other = self.key("i"), self.key("j")
        claim = await self.twin.idempotency_begin(key, b"request", ttl=_LONG)
        assert claim.owner is not None
        assert self.begin().status == "in_flight"
        await self.twin.idempotency_complete(key, claim.owner, b"request", b"ok", ttl=_LONG)
        assert (await self.twin.idempotency_begin(key, b"request", ttl=_LONG)).outcome == b"ok"
        released = await self.twin.idempotency_begin(other, b"request", ttl=_LONG)
        assert released.owner is not None
        await self.twin.idempotency_release(other, released.owner)
        assert (await self.twin.idempotency_begin(other, b"x", ttl=_LONG)).status == "acquired"

    @pytest.mark.asyncio
    async def test_async_twin_extends_idempotency_claims(self) -> None:
        claim = await self.twin.idempotency_begin(self.key("i"), b"request", ttl=_SHORT)
        assert claim.owner is not None
        assert await self.twin.idempotency_extend(self.key("i"), claim.owner, ttl=_LONG)
        assert not await self.twin.idempotency_extend(self.key("i"), "intruder", ttl=_LONG)
        self.wait_out(_SHORT)
        assert self.begin().status == "in_flight"

    @pytest.mark.asyncio
    async def test_async_twin_reads_the_same_limiter(self) -> None:
        plan = _limit(self.key("l"), 3)
        await self.twin.admit(plan)
        assert (await self.twin.limiter(plan)).available == 2
        assert self.sync.limiter(plan).available == 2

    @pytest.mark.asyncio
    async def test_async_twin_shares_slo_counters(self) -> None:
        await self.twin.slo_add(self.key("b1"), [self.counts(10, x=1)])
        self.sync.slo_add(self.key("b2"), [self.counts(10, x=2)])
        await self.twin.slo_add(self.key("b1"), [self.counts(10, x=100)])
        query = SloQuery(series=self.key("s"), resolution=60, first=10, last=10)
        assert await self.twin.slo_read([query, query]) == [{"x": 3}, {"x": 3}]

    @pytest.mark.asyncio
    async def test_async_twin_shares_leases(self) -> None:
        name = self.key("l")
        assert (await self.twin.lease_acquire(name, "a", ttl=_LONG)).holder == "a"
        assert self.sync.lease_acquire(name, "b", ttl=_LONG).holder == "a"
        assert await self.twin.lease_store(name, "a", b"state-1", keep=_LONG)
        assert not await self.twin.lease_store(name, "b", b"intruder", keep=_LONG)
        assert (await self.twin.lease_read(name)).data == b"state-1"
        await self.twin.lease_release(name, "a")
        assert self.sync.lease_acquire(name, "b", ttl=_LONG).holder == "b"

    @pytest.mark.asyncio
    async def test_async_twin_keeps_tokens_and_locks(self) -> None:
        key = self.key("t")
        assert await self.twin.token_get(key) is None
        owner = await self.twin.token_lock(key, ttl=_LONG)
        assert owner is not None
        assert self.sync.token_lock(key, ttl=_LONG) is None
        await self.twin.token_set(key, owner, _TOKEN)
        assert self.sync.token_get(key) == _TOKEN
        again = await self.twin.token_lock(key, ttl=_LONG)
        assert again is not None
        await self.twin.token_unlock(key, again)
        assert await self.twin.token_lock(key, ttl=_LONG)
