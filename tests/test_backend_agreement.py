"""The memory and the Redis backends reach the same decisions on the same sequence of calls.

Both apply the same rules (the memory backend in Python, Redis in Lua); a differential test
drives both with one sequence of admissions and outcomes, drawn by Hypothesis, and compares
every answer. Redis decides on its own clock, so the sequences keep to what a fraction of a
second cannot change: count windows and long time windows, breakers that stay open far
longer than the test, a limiter that refills once an hour, a retry budget over a minute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nexus_connector_core import SYSTEM_CLOCK
from nexus_connector_core.state import (
    BackendSettings,
    BreakerPolicy,
    BudgetPolicy,
    GuardPlan,
    LimitPolicy,
    MemoryStateBackend,
)

redis_plugin = pytest.importorskip("nexus_connector_redis")


@pytest.fixture(scope="module")
def redis_backend(redis_url: str) -> Iterator[Any]:
    settings = BackendSettings(
        options=redis_plugin.RedisOptions(url=redis_url, timeout=2.0, connect_timeout=2.0),
        prefix=f"agree{os.urandom(4).hex()}",
        clock=SYSTEM_CLOCK,
    )
    backend = redis_plugin.RedisStateBackend(settings)
    yield backend
    backend.close()


@st.composite
def breakers(draw: st.DrawFn) -> BreakerPolicy:
    window_type = draw(st.sampled_from(["count", "time"]))
    # A time window of a minute or more: the two clocks tick seconds at different instants.
    window = draw(st.integers(1, 8) if window_type == "count" else st.integers(60, 120))
    return BreakerPolicy(
        window_type=window_type,
        window=window,
        min_calls=draw(st.integers(1, window if window_type == "count" else 8)),
        failure_rate=draw(st.sampled_from([0.25, 0.5, 0.75, 1.0])),
        slow_call_rate=draw(st.sampled_from([0.5, 1.0])),
        slow_call_duration=draw(st.sampled_from([0.0, 1.0])),
        open_for=3600.0,  # never closes by itself while the test runs
        half_open_calls=draw(st.integers(1, 3)),
    )


limits = st.builds(LimitPolicy, rate=st.just(1.0), per=st.just(3600.0), burst=st.integers(0, 5))
budgets = st.builds(
    BudgetPolicy,
    ratio=st.sampled_from([0.0, 0.5, 1.0]),
    window=st.just(60.0),
    min_per_second=st.sampled_from([0.0, 0.05]),
)
#: One step: ask to admit (a first attempt or a retry), then record the outcome (True:
#: failed, False: succeeded, None: no outcome, e.g. cancelled) of a call that took seconds.
steps = st.lists(
    st.tuples(st.booleans(), st.sampled_from([True, False, None]), st.sampled_from([0.0, 2.0])),
    min_size=1,
    max_size=25,
)


@pytest.mark.redis
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    policies=st.tuples(st.none() | breakers(), st.none() | limits, st.none() | budgets),
    sequence=steps,
)
def test_memory_and_redis_decide_alike(
    redis_backend: Any,
    policies: tuple[BreakerPolicy | None, LimitPolicy | None, BudgetPolicy | None],
    sequence: list[tuple[bool, bool | None, float]],
) -> None:
    breaker, limit, budget = policies
    # Fresh keys for every run, replays of an example included: Redis keeps what it saw.
    scope = f"agree:{os.urandom(8).hex()}"
    plan = GuardPlan(
        scope=scope,
        breaker_key=scope,
        breaker=breaker,
        limit_key=scope,
        limit=limit,
        budget_key=scope,
        budget=budget,
    )
    memory = MemoryStateBackend()
    for retry, outcome, duration in sequence:
        ours = memory.admit(plan, retry=retry)
        theirs = redis_backend.admit(plan, retry=retry)
        assert (ours.allowed, ours.reason, ours.state, ours.trial) == (
            theirs.allowed,
            theirs.reason,
            theirs.state,
            theirs.trial,
        )
        if ours.allowed:
            memory.record(plan, ours, failed=outcome, duration=duration)
            redis_backend.record(plan, theirs, failed=outcome, duration=duration)
    if breaker is not None:
        mine, yours = memory.breaker(plan), redis_backend.breaker(plan)
        assert (mine.state, mine.calls, mine.failures, mine.slow_calls) == (
            yours.state,
            yours.calls,
            yours.failures,
            yours.slow_calls,
        )
