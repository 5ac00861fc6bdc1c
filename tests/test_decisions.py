"""The pure decision rules, without a backend or a clock: backoff and Retry-After, the
breaker's record, GCRA and the retry budget. Time is a plain number passed in."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import get_args

import pytest
from hypothesis import given, strategies as st

from nexus_connector_core._resilience.backoff import Backoff, Jitter, Strategy, parse_retry_after
from nexus_connector_core._resilience.breaker import BreakerRecord
from nexus_connector_core._resilience.budget import BudgetRecord
from nexus_connector_core._resilience.ratelimit import gcra
from nexus_connector_core._state import Admission, BreakerPolicy, BudgetPolicy, LimitPolicy

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z

strategies: st.SearchStrategy[Strategy] = st.sampled_from(get_args(Strategy))
jitters: st.SearchStrategy[Jitter] = st.sampled_from(get_args(Jitter))


# -- backoff -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("fixed", [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        ("linear", [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
        ("exponential", [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]),
        ("fibonacci", [0.5, 0.5, 1.0, 1.5, 2.5, 4.0]),
    ],
)
def test_backoff_sequence_without_jitter(strategy: Strategy, expected: list[float]) -> None:
    backoff = Backoff(strategy, base=0.5, max_delay=100.0, jitter="none")
    assert backoff.delays(6) == pytest.approx(expected)


def test_exponential_backoff_uses_its_multiplier() -> None:
    backoff = Backoff("exponential", base=1.0, multiplier=3.0, max_delay=100.0, jitter="none")
    assert backoff.delays(4) == pytest.approx([1.0, 3.0, 9.0, 27.0])


@pytest.mark.parametrize("strategy", ["fixed", "linear", "exponential", "fibonacci"])
def test_backoff_is_capped_at_max_delay(strategy: Strategy) -> None:
    backoff = Backoff(strategy, base=2.0, max_delay=3.0, jitter="none")
    assert backoff.delays(8)[-1] == (2.0 if strategy == "fixed" else 3.0)
    assert max(backoff.delays(8)) <= 3.0


@pytest.mark.parametrize("strategy", ["linear", "exponential", "fibonacci"])
def test_huge_retry_numbers_do_not_overflow(strategy: Strategy) -> None:
    backoff = Backoff(strategy, base=0.2, max_delay=5.0, jitter="none")
    assert backoff.delay(10**9) == 5.0
    assert backoff.delay(10**18) == 5.0


def test_large_multiplier_does_not_overflow() -> None:
    backoff = Backoff("exponential", base=0.2, multiplier=1e6, max_delay=5.0, jitter="none")
    assert backoff.delay(99) == 5.0


@given(seed=st.integers(0, 2**32), retry=st.integers(1, 30), base=st.floats(0.01, 10.0))
def test_full_jitter_draws_from_zero_to_the_delay(seed: int, retry: int, base: float) -> None:
    plain = Backoff("exponential", base=base, max_delay=60.0, jitter="none").delay(retry)
    rng = random.Random(seed)
    delay = Backoff("exponential", base=base, max_delay=60.0, jitter="full", rng=rng).delay(retry)
    assert 0.0 <= delay <= plain


@given(seed=st.integers(0, 2**32), retry=st.integers(1, 30), base=st.floats(0.01, 10.0))
def test_equal_jitter_draws_from_half_the_delay_to_the_delay(
    seed: int, retry: int, base: float
) -> None:
    plain = Backoff("exponential", base=base, max_delay=60.0, jitter="none").delay(retry)
    rng = random.Random(seed)
    delay = Backoff("exponential", base=base, max_delay=60.0, jitter="equal", rng=rng).delay(retry)
    assert plain / 2 <= delay <= plain


def test_jitter_with_a_seeded_random_is_reproducible() -> None:
    first = Backoff("exponential", jitter="full", rng=random.Random(7)).delays(5)
    again = Backoff("exponential", jitter="full", rng=random.Random(7)).delays(5)
    assert first == again
    assert len(set(first)) == 5  # random, not the plain sequence


@given(
    seed=st.integers(0, 2**32),
    base=st.floats(0.01, 1.0),
    max_delay=st.floats(0.01, 60.0),
    previous=st.floats(0.0, 100.0),
)
def test_decorrelated_stays_between_base_and_three_times_the_previous_delay(
    seed: int, base: float, max_delay: float, previous: float
) -> None:
    rng = random.Random(seed)
    delay = Backoff("decorrelated", base=base, max_delay=max_delay, rng=rng).delay(3, previous)
    upper = min(max_delay, max(base, 3 * previous))
    assert min(base, max_delay) <= delay <= upper * (1 + 1e-12)  # uniform() may round up


def test_decorrelated_ignores_jitter() -> None:
    with_none = Backoff("decorrelated", jitter="none", rng=random.Random(3)).delays(6)
    with_full = Backoff("decorrelated", jitter="full", rng=random.Random(3)).delays(6)
    assert with_none == with_full


@given(
    backoff=st.builds(
        Backoff,
        strategies,
        base=st.floats(0.001, 10.0),  # a zero base makes fibonacci count up to `retry`
        max_delay=st.floats(0.0, 120.0),
        multiplier=st.floats(1.0, 10.0),
        jitter=jitters,
        rng=st.randoms(use_true_random=False),
    ),
    retry=st.integers(1, 10**6),
    previous=st.floats(0.0, 1000.0),
)
def test_backoff_delay_is_always_between_zero_and_max_delay(
    backoff: Backoff, retry: int, previous: float
) -> None:
    assert 0.0 <= backoff.delay(retry, previous) <= backoff.max_delay


# -- Retry-After -------------------------------------------------------------------------------


def _http_date(timestamp: float) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("header", "seconds"), [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("1.5", 1.5)]
)
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_retry_after_http_date_in_the_future_is_the_seconds_until_then() -> None:
    assert parse_retry_after(_http_date(NOW + 90), NOW) == 90.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after(_http_date(NOW - 3600), NOW) == 0.0


def test_retry_after_accepts_the_obsolete_rfc_850_date() -> None:
    assert parse_retry_after("Thursday, 01-Jan-26 00:01:00 GMT", NOW) == 60.0


def test_retry_after_accepts_the_obsolete_asctime_date() -> None:
    assert parse_retry_after("Thu Jan  1 00:01:00 2026", NOW) == 60.0


@pytest.mark.parametrize(
    "header", [None, "", "soon", "0x10", "nan", "NaN", "Wed, 99 Foo 2026 25:61:00 GMT"]
)
def test_retry_after_garbage_is_none(header: str | None) -> None:
    assert parse_retry_after(header, NOW) is None


def test_negative_retry_after_means_now() -> None:
    assert parse_retry_after("-5", NOW) == 0.0


def test_retry_after_with_a_superscript_digit_is_garbage() -> None:
    assert parse_retry_after("²", NOW) is None


def test_retry_after_infinity_is_garbage() -> None:
    assert parse_retry_after("inf", NOW) is None


@given(st.integers(0, 10**12))
def test_retry_after_reads_any_delta_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds), NOW) == float(seconds)


@given(st.text(alphabet=st.characters(codec="ascii")))
def test_retry_after_of_any_ascii_text_is_none_or_a_wait(header: str) -> None:
    seconds = parse_retry_after(header, NOW)
    assert seconds is None or seconds >= 0.0


# -- circuit breaker ---------------------------------------------------------------------------

POLICY = BreakerPolicy(window=4, min_calls=4, failure_rate=0.5, open_for=10.0, half_open_calls=2)


def _feed(record: BreakerRecord, outcomes: str, now: float = 0.0) -> None:
    """Admit and record one call per letter: ``F`` failed, ``S`` succeeded."""
    for outcome in outcomes:
        admission = record.check(POLICY, now)
        assert admission.allowed
        record.commit(admission)
        record.record(POLICY, admission, outcome == "F", 0.0, now)


def _opened() -> BreakerRecord:
    record = BreakerRecord(POLICY)
    _feed(record, "FFFF")
    assert record.state == "open"
    return record


def test_breaker_record_starts_closed_and_admits() -> None:
    record = BreakerRecord(POLICY)
    assert record.check(POLICY, 0.0) == Admission(generation=0, state="closed")


def test_breaker_record_opens_at_the_threshold_with_min_calls() -> None:
    record = BreakerRecord(POLICY)
    _feed(record, "SSF")
    assert record.state == "closed"
    _feed(record, "F")
    assert (record.state, record.generation) == ("open", 1)


def test_breaker_record_opens_when_a_success_reaches_min_calls() -> None:
    record = BreakerRecord(POLICY)
    _feed(record, "FFFS")
    assert record.state == "open"


def test_open_breaker_record_rejects_until_open_for_has_passed() -> None:
    record = _opened()
    rejected = record.check(POLICY, 4.0)
    assert (rejected.allowed, rejected.reason, rejected.retry_after) == (
        False,
        "circuit_open",
        6.0,
    )
    assert record.check(POLICY, 10.0).trial


def test_a_trial_is_spent_only_when_committed() -> None:
    record = _opened()
    for _ in range(5):
        assert record.check(POLICY, 10.0).trial  # checked, never committed
    for _ in range(2):
        record.commit(record.check(POLICY, 10.0))
    assert not record.check(POLICY, 10.0).allowed


def test_breaker_record_closes_after_successful_trials_with_an_empty_window() -> None:
    record = _opened()
    _feed(record, "SS", now=10.0)
    assert record.state == "closed"
    assert record.snapshot(POLICY, 10.0).calls == 0


def test_breaker_record_ignores_an_outcome_of_an_older_generation() -> None:
    record = BreakerRecord(POLICY)
    early = record.check(POLICY, 0.0)
    _feed(record, "FFFF")
    record.record(POLICY, early, True, 0.0, 10.0)
    record.check(POLICY, 10.0)  # now half-open
    record.record(POLICY, early, False, 0.0, 10.0)
    assert record.snapshot(POLICY, 10.0).calls == 0


def test_settled_skips_only_a_fast_success_in_a_window_of_fast_successes() -> None:
    record = BreakerRecord(POLICY)
    _feed(record, "SSS")
    admitted = record.check(POLICY, 0.0)
    assert not record.settled(admitted, False, False)  # the window is not full yet
    _feed(record, "S")
    assert record.settled(admitted, False, False)
    assert not record.settled(admitted, True, False)
    assert not record.settled(admitted, False, True)


def test_a_closed_breakers_admissions_are_settled_while_its_window_is_quiet() -> None:
    record = BreakerRecord(POLICY)
    _feed(record, "SSS")
    assert not record.check(POLICY, 0.0).settled  # the window is not full yet
    _feed(record, "S")
    assert record.check(POLICY, 0.0).settled
    _feed(record, "F")
    assert not record.check(POLICY, 0.0).settled  # a failure in the window: record them
    _feed(record, "SSSS")
    assert record.check(POLICY, 0.0).settled


def test_reopening_multiplies_the_open_time_up_to_open_for_max() -> None:
    policy = BreakerPolicy(
        window=1, min_calls=1, open_for=1.0, open_for_multiplier=2.0, open_for_max=5.0,
        half_open_calls=1,
    )  # fmt: skip
    record = BreakerRecord(policy)
    now, open_times = 0.0, []
    for _ in range(5):
        admission = record.check(policy, now)
        record.commit(admission)
        record.record(policy, admission, True, 0.0, now)
        open_times.append(record.open_until - now)
        now = record.open_until
    assert open_times == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_reopening_many_times_keeps_the_open_time_capped() -> None:
    policy = BreakerPolicy(
        window=1, min_calls=1, open_for=1.0, open_for_multiplier=2.0, open_for_max=60.0,
        half_open_calls=1,
    )  # fmt: skip
    record = BreakerRecord(policy)
    now = 0.0
    for _ in range(1100):
        admission = record.check(policy, now)
        record.commit(admission)
        record.record(policy, admission, True, 0.0, now)
        now = record.open_until
    assert record.open_until - record.half_open_since == 60.0


def test_half_open_record_reopens_after_max_wait() -> None:
    policy = BreakerPolicy(
        window=4, min_calls=4, open_for=10.0, half_open_calls=2, half_open_max_wait=5.0
    )
    record = BreakerRecord(policy)
    _feed(record, "FFFF")
    record.commit(record.check(policy, 10.0))
    assert record.check(policy, 15.0).trial
    rejected = record.check(policy, 15.5)
    assert (rejected.reason, rejected.state) == ("circuit_open", "open")


def test_time_window_record_evicts_whole_seconds() -> None:
    policy = BreakerPolicy(window_type="time", window=10, min_calls=2)
    record = BreakerRecord(policy)
    admission = record.check(policy, 100.0)
    record.record(policy, admission, True, 0.0, 100.0)
    assert record.snapshot(policy, 109.9).calls == 1
    assert record.snapshot(policy, 110.0).calls == 0


# -- GCRA --------------------------------------------------------------------------------------


def test_gcra_admits_capacity_calls_at_one_instant_then_refuses() -> None:
    policy = LimitPolicy(rate=4, per=2.0)  # capacity 4, a token every 0.5 s
    tat = 100.0
    for _ in range(4):
        allowed, wait, tat = gcra(tat, 100.0, policy)
        assert (allowed, wait) == (True, 0.0)
    assert gcra(tat, 100.0, policy) == (False, 0.5, tat)


def test_gcra_reserves_the_next_slot_within_max_wait() -> None:
    policy = LimitPolicy(rate=1, per=2.0)
    _, _, tat = gcra(0.0, 100.0, policy)
    assert gcra(tat, 100.0, policy, max_wait=2.0) == (True, 2.0, 104.0)
    assert gcra(104.0, 100.0, policy, max_wait=2.0) == (False, 4.0, 104.0)


def test_gcra_idle_key_is_a_full_bucket() -> None:
    policy = LimitPolicy(rate=2, per=1.0)
    assert gcra(50.0, 100.0, policy) == (True, 0.0, 100.5)


@given(
    rate=st.integers(1, 20),
    burst=st.integers(0, 20),
    gaps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=200),
)
def test_gcra_never_admits_more_than_capacity_plus_refills(
    rate: int, burst: int, gaps: list[float]
) -> None:
    policy = LimitPolicy(rate=rate, per=1.0, burst=burst)
    start = now = tat = 1000.0
    admitted = 0
    for gap in gaps:
        now += gap
        allowed, wait, tat = gcra(tat, now, policy)
        admitted += allowed
        assert wait >= 0.0
        bound = policy.capacity + (now - start) / policy.interval
        assert admitted <= math.floor(bound + 1e-9)


@given(rate=st.integers(1, 20), burst=st.integers(1, 20))
def test_gcra_refused_call_succeeds_after_its_retry_after(rate: int, burst: int) -> None:
    policy = LimitPolicy(rate=rate, per=1.0, burst=burst)
    tat = 0.0
    for _ in range(burst):
        _, _, tat = gcra(tat, 10.0, policy)
    allowed, retry_after, _ = gcra(tat, 10.0, policy)
    assert not allowed
    assert gcra(tat, 10.0 + retry_after + 1e-9, policy)[0]


# -- retry budget ------------------------------------------------------------------------------

BUDGET = BudgetPolicy(ratio=0.2, window=10.0, min_per_second=0.0)


def _retries_allowed(budget: BudgetRecord, policy: BudgetPolicy, now: float) -> int:
    allowed = 0
    while budget.allows_retry(policy, now) and allowed < 1000:
        budget.count(policy, now, retry=True)
        allowed += 1
    return allowed


def test_budget_allows_a_ratio_of_first_attempts() -> None:
    budget = BudgetRecord()
    for _ in range(10):
        budget.count(BUDGET, 100.0, retry=False)
    assert _retries_allowed(budget, BUDGET, 100.0) == 2


def test_budget_floor_is_min_per_second_over_the_window() -> None:
    policy = BudgetPolicy(ratio=0.2, window=10.0, min_per_second=0.5)
    assert _retries_allowed(BudgetRecord(), policy, 100.0) == 5


def test_budget_asking_about_a_retry_records_nothing() -> None:
    budget = BudgetRecord()
    budget.count(BUDGET, 100.0, retry=False)
    for _ in range(3):
        assert not budget.allows_retry(BUDGET, 100.0)
    for _ in range(4):
        budget.count(BUDGET, 100.0, retry=False)
    assert budget.allows_retry(BUDGET, 100.0)


def test_budget_window_slides_by_whole_seconds() -> None:
    budget = BudgetRecord()
    for second in range(10):
        for _ in range(5):
            budget.count(BUDGET, 100.0 + second, retry=False)  # 50 first attempts in all
    assert _retries_allowed(budget, BUDGET, 114.5) == 5  # seconds 105-109: 25 attempts
