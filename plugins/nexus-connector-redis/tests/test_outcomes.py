"""An attempt's outcome rides on the next admission of its breaker: one round trip per
guarded call. What that changes (another worker sees an outcome at the latest
``record_delay`` later; a process that dies loses what it kept) and what it does not (a
thread decides on its own outcomes; a breaker opened late is open from when its failure
was recorded; close, and a process ending normally, record everything).

Real Redis servers; the bookkeeping (`Pending`, `outcome_code`) also without one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import pytest
import redis
import redis.asyncio.connection
import redis.connection
from nexus_connector_redis import AsyncRedisStateBackend, RedisOptions, RedisStateBackend
from nexus_connector_redis._outcomes import Pending, Slot, outcome_code
from nexus_connector_redis._scripts import Script
from nexus_connector_redis._wire import Wire

from nexus_connector_core import SYSTEM_CLOCK
from nexus_connector_core.state import Admission, BackendSettings, BreakerPolicy, GuardPlan

#: Long enough that no flush runs while a test looks: only admissions and close send.
NEVER = 10.0
#: How long a test polls for what a flush sends within a short record_delay.
PATIENCE = 3.0


def _plan(prefix: str, **policy: Any) -> GuardPlan:
    """A breaker opening once 4 calls are in at a 50 % failure rate, open for a minute."""
    scope = f"{prefix}-scope"
    defaults: dict[str, Any] = {"window": 4, "min_calls": 4, "open_for": 60.0}
    return GuardPlan(
        scope=scope, breaker_key=f"{scope}:b", breaker=BreakerPolicy(**(defaults | policy))
    )


def _settings(url: str, prefix: str, record_delay: float) -> BackendSettings:
    options = RedisOptions(url=url, record_delay=record_delay, timeout=2.0)
    return BackendSettings(options=options, clock=SYSTEM_CLOCK, prefix=prefix)


@pytest.fixture
def backends(redis_url: str, unique_prefix: str) -> Iterator[Callable[..., RedisStateBackend]]:
    """Sync backends on the shared server and prefix (other workers), closed after."""
    made: list[RedisStateBackend] = []

    def make(record_delay: float = NEVER) -> RedisStateBackend:
        made.append(RedisStateBackend(_settings(redis_url, unique_prefix, record_delay)))
        return made[-1]

    yield make
    for backend in made:
        backend.close()


@contextmanager
def requests() -> Iterator[list[int]]:
    """Counts the requests redis-py and the async backend's wires write (each then waits
    for its reply: a round trip), from every client and thread of this process."""
    sent = [0]
    sync_send = redis.connection.AbstractConnection.send_packed_command
    async_send = redis.asyncio.connection.AbstractConnection.send_packed_command
    wire_send = Wire.send

    def send(connection: Any, *args: Any, **kwargs: Any) -> None:
        sent[0] += 1
        sync_send(connection, *args, **kwargs)

    async def asend(connection: Any, *args: Any, **kwargs: Any) -> None:
        sent[0] += 1
        await async_send(connection, *args, **kwargs)

    def wsend(wire: Wire, command: bytes) -> asyncio.Future[Any]:
        sent[0] += 1
        return wire_send(wire, command)

    with (
        patch.object(redis.connection.AbstractConnection, "send_packed_command", send),
        patch.object(redis.asyncio.connection.AbstractConnection, "send_packed_command", asend),
        patch.object(Wire, "send", wsend),
    ):
        yield sent


def _fail(backend: RedisStateBackend, plan: GuardPlan, times: int) -> None:
    for _ in range(times):
        admission = backend.admit(plan)
        assert admission.allowed, admission
        backend.record(plan, admission, failed=True, duration=0.0)


async def _afail(backend: AsyncRedisStateBackend, plan: GuardPlan, times: int) -> None:
    for _ in range(times):
        admission = await backend.admit(plan)
        assert admission.allowed, admission
        await backend.record(plan, admission, failed=True, duration=0.0)


def _until_open(backend: RedisStateBackend, plan: GuardPlan) -> float:
    """Poll another worker's view until the breaker is open; seconds it took."""
    start = time.monotonic()
    while backend.breaker(plan).state != "open":
        assert time.monotonic() - start < PATIENCE, "the outcome never reached Redis"
        time.sleep(0.01)
    return time.monotonic() - start


def _warm(backend: RedisStateBackend, plan: GuardPlan, server: redis.Redis) -> None:
    """Have the server load the plan's scripts (its first EVALSHA of each is refused and
    sent again as EVAL: a round trip once per server), then forget the breaker."""
    _fail(backend, plan, 1)
    backend.admit(plan)
    backend.flush()
    server.delete(*server.keys(f"{backend._codec.prefix}:*"))


# -- one round trip per call -----------------------------------------------------------------


def test_an_outcome_rides_on_the_next_admission_in_the_same_round_trip(
    backends: Callable[..., RedisStateBackend], redis_url: str, unique_prefix: str
) -> None:
    plan, ours = _plan(unique_prefix), backends()
    with redis.Redis.from_url(redis_url) as server:
        _warm(ours, plan, server)
    with requests() as sent:
        _fail(ours, plan, 4)  # the 4th failure opens the breaker: it is still kept here
        refused = ours.admit(plan)  # carries it, and decides on it
    assert (refused.allowed, refused.reason) == (False, "circuit_open")
    assert sent == [5]  # five admissions; four outcomes recorded on the way


@pytest.mark.asyncio
async def test_an_async_outcome_rides_on_the_next_admission_in_the_same_round_trip(
    backends: Callable[..., RedisStateBackend], redis_url: str, unique_prefix: str
) -> None:
    plan = _plan(unique_prefix)
    ours = AsyncRedisStateBackend(_settings(redis_url, unique_prefix, NEVER))
    try:
        await _afail(ours, plan, 1)
        await ours.admit(plan)
        await ours.flush()
        with redis.Redis.from_url(redis_url) as server:
            server.delete(*server.keys(f"{unique_prefix}:*"))
        with requests() as sent:
            await _afail(ours, plan, 4)
            refused = await ours.admit(plan)
        assert (refused.allowed, refused.reason) == (False, "circuit_open")
        assert sent == [5]
    finally:
        await ours.aclose()


def test_record_delay_zero_records_each_outcome_at_once(
    backends: Callable[..., RedisStateBackend], redis_url: str, unique_prefix: str
) -> None:
    plan, ours, theirs = _plan(unique_prefix), backends(0.0), backends()
    with redis.Redis.from_url(redis_url) as server:
        _warm(ours, plan, server)
    with requests() as sent:
        _fail(ours, plan, 4)
    assert theirs.breaker(plan).state == "open"
    assert sent == [8]  # an admission and a record each


# -- what other workers see, and when --------------------------------------------------------


def test_an_outcome_rides_only_on_its_own_threads_next_admission(
    backends: Callable[..., RedisStateBackend], unique_prefix: str
) -> None:
    plan, ours, theirs = _plan(unique_prefix), backends(), backends()
    with ThreadPoolExecutor(1) as thread:  # one thread, the same for every step
        thread.submit(_fail, ours, plan, 4).result()
        assert ours.admit(plan).allowed  # another thread's admission does not carry it
        assert theirs.breaker(plan).failures == 3
        refused = thread.submit(ours.admit, plan).result()
    assert refused.reason == "circuit_open"
    assert theirs.breaker(plan).state == "open"


def test_a_worker_reads_its_own_outcomes_at_once(
    backends: Callable[..., RedisStateBackend], unique_prefix: str
) -> None:
    plan, ours, theirs = _plan(unique_prefix), backends(), backends()
    _fail(ours, plan, 4)
    assert theirs.breaker(plan).state == "closed"  # still kept by ours
    assert ours.breaker(plan).state == "open"  # the read carries it
    assert theirs.breaker(plan).state == "open"


def test_an_outcome_no_admission_carries_reaches_other_workers_within_record_delay(
    backends: Callable[..., RedisStateBackend], unique_prefix: str
) -> None:
    plan, ours, theirs = _plan(unique_prefix), backends(0.1), backends()
    _fail(ours, plan, 4)
    _until_open(theirs, plan)


@pytest.mark.asyncio
async def test_an_async_outcome_no_admission_carries_reaches_other_workers_within_record_delay(
    backends: Callable[..., RedisStateBackend], redis_url: str, unique_prefix: str
) -> None:
    plan, theirs = _plan(unique_prefix), backends()
    ours = AsyncRedisStateBackend(_settings(redis_url, unique_prefix, 0.1))
    try:
        await _afail(ours, plan, 4)
        start = time.monotonic()
        while theirs.breaker(plan).state != "open":  # the event loop runs the flush
            assert time.monotonic() - start < PATIENCE, "the outcome never reached Redis"
            await asyncio.sleep(0.01)
    finally:
        await ours.aclose()


def test_a_breaker_opened_late_is_open_from_when_its_failure_was_recorded(
    backends: Callable[..., RedisStateBackend], unique_prefix: str
) -> None:
    plan = _plan(unique_prefix, open_for=2.0)
    ours, theirs = backends(0.5), backends()
    _fail(ours, plan, 4)
    recorded = time.monotonic()
    _until_open(theirs, plan)  # the flush sent the failure about 0.5 s after
    refused = theirs.admit(plan)
    assert refused.retry_after == pytest.approx(2.0 - (time.monotonic() - recorded), abs=0.15)


def test_close_records_what_is_kept(
    backends: Callable[..., RedisStateBackend], unique_prefix: str
) -> None:
    plan, ours, theirs = _plan(unique_prefix), backends(), backends()
    _fail(ours, plan, 4)
    ours.close()
    assert theirs.breaker(plan).state == "open"


@pytest.mark.asyncio
async def test_aclose_records_what_is_kept(
    backends: Callable[..., RedisStateBackend], redis_url: str, unique_prefix: str
) -> None:
    plan, theirs = _plan(unique_prefix), backends()
    ours = AsyncRedisStateBackend(_settings(redis_url, unique_prefix, NEVER))
    await _afail(ours, plan, 4)
    assert theirs.breaker(plan).state == "closed"
    await ours.aclose()
    assert theirs.breaker(plan).state == "open"


def test_a_forked_child_leaves_its_parents_outcomes_to_the_parent(
    backends: Callable[..., RedisStateBackend], unique_prefix: str
) -> None:
    plan, ours, theirs = _plan(unique_prefix), backends(), backends()
    _fail(ours, plan, 1)  # kept by this process
    child = os.fork()
    if child == 0:  # the child: closing records what it kept, which is nothing
        try:
            ours.close()
        finally:
            os._exit(0)
    _wait_for(child)
    assert theirs.breaker(plan).calls == 0
    ours.close()
    assert (theirs.breaker(plan).calls, theirs.breaker(plan).failures) == (1, 1)


def _wait_for(child: int) -> None:
    """Reap a forked child, killing it if it has not ended within `PATIENCE`."""
    deadline = time.monotonic() + PATIENCE
    while os.waitpid(child, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            pytest.fail("the forked child did not end")
        time.sleep(0.01)


# -- the bookkeeping, without a server -------------------------------------------------------

_POLICY = BreakerPolicy(slow_call_duration=1.0)


@pytest.mark.parametrize(
    ("trial", "failed", "duration", "code"),
    [
        (False, False, 0.5, 0),
        (False, True, 0.5, 1),
        (False, False, 1.0, 2),  # slow: at least slow_call_duration
        (False, True, 3.0, 3),
        (True, False, 0.0, 4),
        (True, True, 3.0, 7),
        (True, None, 0.0, -1),  # an abandoned trial gives its permit back
        (False, None, 9.0, None),  # an abandoned call has nothing to record
    ],
)
def test_an_outcome_is_coded_as_the_scripts_read_it(
    trial: bool, failed: bool | None, duration: float, code: int | None
) -> None:
    admission = Admission(trial=trial)
    assert outcome_code(_POLICY, admission, failed, duration) == code


def test_no_call_is_slow_when_slow_call_duration_is_zero() -> None:
    assert outcome_code(BreakerPolicy(), Admission(), False, 1e9) == 0


def _slot(name: str) -> Slot:
    script = Script(name, "return 1")
    return Slot(name, script, script)


def test_pending_keeps_outcomes_by_owner_and_breaker_in_order_with_their_ages() -> None:
    pending, slot = Pending(), _slot("a")
    assert pending.add(("thread-1", slot), 7, 1, now=10.0)
    assert not pending.add(("thread-1", slot), 7, 0, now=10.25)
    assert pending.add(("thread-2", slot), 7, 3, now=10.5)
    assert pending.take(("thread-1", slot), now=11.0) == [7, 1, 1000, 7, 0, 750]
    assert pending.take(("thread-1", slot), now=11.0) is None
    assert list(pending.outcomes) == [("thread-2", slot)]


def test_pending_outcomes_fall_due_after_the_delay() -> None:
    pending, a, b = Pending(), _slot("a"), _slot("b")
    pending.add((1, a), 7, 1, now=10.0)
    pending.add((2, b), 7, 1, now=10.2)
    assert pending.due(10.05, delay=0.1) == ([], pytest.approx(10.1))
    assert pending.due(10.1, delay=0.1) == ([(1, a)], pytest.approx(10.3))
    assert pending.due(10.3, delay=0.1) == ([(1, a), (2, b)], None)


def test_pending_outcomes_carried_by_another_are_in_flight_until_delivered() -> None:
    pending, a = Pending(), _slot("a")
    pending.add((1, a), 7, 1, now=10.0)
    pending.add((2, a), 8, 0, now=10.0)
    batch, taken = pending.carry([(1, a), (2, a), (3, a)], now=10.5)
    assert batch == [(a, [7, 1, 500, 8, 0, 500])]  # one script call per breaker
    assert taken == [(1, a), (2, a)]
    assert pending.busy(a)
    assert (1, a) in pending.in_flight
    pending.delivered([(1, a), (2, a)])
    assert not pending.busy(a)
    assert pending.outcomes == {}
