"""What one guarded call costs on Redis: the Redis state backend against limits + pybreaker.

    python benchmarks/redis_guard.py [--calls 2000] [--url redis://127.0.0.1:6379/0] [--pair-only]

Measured in one run against the same Redis: a ``redis-server`` this script starts on a free
loopback port (and shuts down), or the one at ``--url``. Per guarded call of a no-op
function, each the best of several rounds (the contenders take turns in every round, so a
busy machine slows them alike):

- the floor: one PING, a single round trip that does nothing;
- Nexus Connector's ``RedisStateBackend``: ``admit`` + ``record``, skipping ``record`` when
  the admission is ``settled`` exactly as the pipeline does, for a plan doing the pair's
  job (a circuit breaker and a rate limit never reached); also with ``record`` on every
  call (the path a breaker whose window holds failures takes), with a retry budget as
  well (more than the pair does), and the async twin;
- the pair a user would build: a limits ``FixedWindowRateLimiter`` (or
  ``MovingWindowRateLimiter``) on ``RedisStorage`` with a limit never reached, then a
  pybreaker ``CircuitBreaker(fail_max=5)`` on ``CircuitRedisStorage`` around the function.

Round trips are counted on the client: every request redis-py writes to a socket and then
waits for (a command, or a whole pipeline or MULTI/EXEC block). Server commands, and the
time the server spent on them, are the server's ``INFO commandstats`` delta, which includes
the commands Lua scripts run; on a shared server (``--url``) other clients' commands count
too.

Goals (issue): at most 2 round trips per guarded call, and at least 3x faster than the pair.
The backend half needs ``pip install -e plugins/nexus-connector-redis``; without it, the
script measures the pair alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import msgspec
import pybreaker
import redis
import redis.asyncio
import redis.asyncio.connection
import redis.connection
from limits import parse, storage as limits_storage, strategies as limits_strategies
from redis.backoff import NoBackoff
from redis.retry import Retry

from nexus_connector_core import SYSTEM_CLOCK
from nexus_connector_core.state import (
    BackendSettings,
    BreakerPolicy,
    BudgetPolicy,
    GuardPlan,
    LimitPolicy,
)

ROUNDS = 7
WARM_UP = 100
SCOPE = "bench:redis"
#: The guard the pipeline builds for pipeline_overhead.py's FULL_PIPELINE.
#: The pair's job: a circuit breaker and a rate limit never reached.
PLAN = GuardPlan(
    scope=SCOPE,
    breaker_key=SCOPE,
    breaker=BreakerPolicy(window=20, min_calls=10),
    limit_key=SCOPE,
    limit=LimitPolicy(rate=1e9, burst=1_000_000_000),
)
#: More than the pair does: a retry budget shared by all workers too.
PLAN_WITH_BUDGET = msgspec.structs.replace(PLAN, budget_key=SCOPE, budget=BudgetPolicy(ratio=0.2))
NEVER_REACHED = parse("1000000000/second")
GOAL_ROUND_TRIPS = 2.0
GOAL_SPEEDUP = 3.0
OURS = "Nexus Connector RedisStateBackend"


def vendor_call() -> None:
    """The guarded function: does nothing, so the guard is all that is measured."""


@dataclass
class Contender:
    """One way to guard a call: `call` makes one guarded call of `vendor_call`."""

    name: str
    call: Callable[[], object]


@dataclass
class AsyncContender:
    name: str
    call: Callable[[], Awaitable[object]]


@dataclass
class ServerWork:
    """What the server ran, by command: calls and microseconds (``INFO commandstats``).

    Commands a Lua script runs count too, and their time is also in the script's.
    """

    calls: Counter[str]
    usec: Counter[str]

    def __sub__(self, before: ServerWork) -> ServerWork:
        return ServerWork(self.calls - before.calls, self.usec - before.usec)


@dataclass
class Result:
    """What one contender cost per call."""

    name: str
    ns: float
    round_trips: float
    #: What the server ran during `calls` calls.
    server: ServerWork
    calls: int

    @property
    def commands_per_call(self) -> float:
        return sum(self.server.calls.values()) / self.calls


# -- ours: the Redis state backend ------------------------------------------------------------


def nexus_settings(url: str, prefix: str) -> BackendSettings | None:
    """Settings for the Redis state backend, or None when the plugin is not installed."""
    try:
        from nexus_connector_redis import RedisOptions
    except ImportError as error:
        print(f"(no Redis state backend: {error}; pip install -e plugins/nexus-connector-redis)")
        return None
    return BackendSettings(options=RedisOptions(url=url), clock=SYSTEM_CLOCK, prefix=prefix)


def nexus_contenders(settings: BackendSettings, stack: ExitStack) -> list[Contender]:
    """Guarded calls on the sync backend: as the pipeline makes them, and recording always."""
    from nexus_connector_redis import RedisStateBackend

    backend = RedisStateBackend(settings)
    stack.callback(backend.close)
    now = time.perf_counter

    def guarded(plan: GuardPlan, *, always_record: bool) -> Callable[[], None]:
        def call() -> None:
            admission = backend.admit(plan)
            if not admission.allowed:
                raise RuntimeError(f"refused: {admission.reason}")
            start = now()
            vendor_call()
            duration = now() - start
            # As the pipeline does: a settled admission's fast success is not recorded.
            if always_record or not admission.settled:
                backend.record(plan, admission, failed=False, duration=duration)

        return call

    return [
        Contender(OURS, guarded(PLAN, always_record=False)),
        Contender("  the same, record on every call", guarded(PLAN, always_record=True)),
        Contender("  with a retry budget too", guarded(PLAN_WITH_BUDGET, always_record=False)),
    ]


async def nexus_async_results(
    settings: BackendSettings, url: str, observer: redis.Redis, calls: int
) -> list[Result]:
    """Guarded calls on the async backend, as the pipeline makes them, and the floor."""
    from nexus_connector_redis import AsyncRedisStateBackend

    backend = AsyncRedisStateBackend(settings)
    floor_client = redis.asyncio.Redis.from_url(url)
    now = time.perf_counter

    async def call() -> None:
        admission = await backend.admit(PLAN)
        if not admission.allowed:
            raise RuntimeError(f"refused: {admission.reason}")
        start = now()
        vendor_call()
        duration = now() - start
        if not admission.settled:
            await backend.record(PLAN, admission, failed=False, duration=duration)

    contenders = [
        AsyncContender("redis.asyncio PING: one round trip (floor)", floor_client.ping),
        AsyncContender("Nexus Connector AsyncRedisStateBackend", call),
    ]
    try:
        counts = [await acount(contender, observer, calls) for contender in contenders]
        times = await abest_ns(contenders, calls)
    finally:
        await backend.aclose()
        await floor_client.aclose()
    return [
        Result(contender.name, ns, trips, server, calls)
        for contender, ns, (trips, server) in zip(contenders, times, counts, strict=True)
    ]


# -- theirs: limits + pybreaker ---------------------------------------------------------------


def limits_and_pybreaker(url: str, prefix: str, stack: ExitStack, *, moving: bool) -> Contender:
    """A limits rate limiter on RedisStorage, then a pybreaker breaker on CircuitRedisStorage."""
    strategy = "MovingWindow" if moving else "FixedWindow"
    # One key prefix per strategy: a fixed window's counter is no moving window's list.
    storage = limits_storage.RedisStorage(url, key_prefix=f"{prefix}-{strategy}")
    stack.callback(storage.storage.close)
    limiter: limits_strategies.RateLimiter = (
        limits_strategies.MovingWindowRateLimiter(storage)
        if moving
        else limits_strategies.FixedWindowRateLimiter(storage)
    )
    # CircuitRedisStorage decodes the bytes it reads itself: it needs decode_responses=False.
    client = stack.enter_context(redis.Redis.from_url(url, decode_responses=False))
    breaker = pybreaker.CircuitBreaker(
        fail_max=5,
        state_storage=pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED, client, namespace=f"{prefix}-pybreaker-{strategy}"
        ),
    )

    def call() -> None:
        if not limiter.hit(NEVER_REACHED, SCOPE):
            raise RuntimeError("rate limited")
        breaker.call(vendor_call)

    return Contender(f"limits {strategy} + pybreaker", call)


# -- counting and timing ----------------------------------------------------------------------


class RoundTrips:
    """Counts requests redis-py writes, each then waiting for its replies: one round trip.

    Patches ``send_packed_command`` of redis-py's sync and async connection classes while
    counting, so it sees every client of the process alike, whatever pool or connection
    class it uses (a pipeline flushes all of its commands in one call; health-check PINGs
    and reconnection handshakes are counted too, as they are round trips).
    """

    def __init__(self) -> None:
        self.count = 0

    @contextmanager
    def counting(self) -> Iterator[None]:
        sync_class = redis.connection.AbstractConnection
        async_class = redis.asyncio.connection.AbstractConnection
        sync_send: Callable[..., None] = sync_class.send_packed_command
        async_send: Callable[..., Awaitable[None]] = async_class.send_packed_command

        def send(connection: Any, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            sync_send(connection, *args, **kwargs)

        async def asend(connection: Any, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            await async_send(connection, *args, **kwargs)

        with (
            patch.object(sync_class, "send_packed_command", send),
            patch.object(async_class, "send_packed_command", asend),
        ):
            yield


def server_work(observer: redis.Redis) -> ServerWork:
    """What the server has run since it started, the observer's own INFO aside."""
    stats = {
        name.removeprefix("cmdstat_"): value
        for name, value in observer.info("commandstats").items()
        if name != "cmdstat_info"
    }
    return ServerWork(
        Counter({name: int(value["calls"]) for name, value in stats.items()}),
        Counter({name: int(value["usec"]) for name, value in stats.items()}),
    )


def count(contender: Contender, observer: redis.Redis, calls: int) -> tuple[float, ServerWork]:
    """Round trips per call, and the server commands of `calls` calls, after a warm-up
    (connections open, scripts loaded, keys created)."""
    for _ in range(WARM_UP):
        contender.call()
    trips = RoundTrips()
    before = server_work(observer)
    with trips.counting():
        for _ in range(calls):
            contender.call()
    return trips.count / calls, server_work(observer) - before


async def acount(
    contender: AsyncContender, observer: redis.Redis, calls: int
) -> tuple[float, ServerWork]:
    for _ in range(WARM_UP):
        await contender.call()
    trips = RoundTrips()
    before = server_work(observer)
    with trips.counting():
        for _ in range(calls):
            await contender.call()
    return trips.count / calls, server_work(observer) - before


def best_ns(contenders: list[Contender], calls: int) -> list[float]:
    """Each contender's best time per call over `ROUNDS` rounds, taking turns in each."""
    best = [float("inf")] * len(contenders)
    for _ in range(ROUNDS):
        for index, contender in enumerate(contenders):
            call = contender.call
            start = time.perf_counter_ns()
            for _ in range(calls):
                call()
            best[index] = min(best[index], (time.perf_counter_ns() - start) / calls)
    return best


async def abest_ns(contenders: list[AsyncContender], calls: int) -> list[float]:
    best = [float("inf")] * len(contenders)
    for _ in range(ROUNDS):
        for index, contender in enumerate(contenders):
            call = contender.call
            start = time.perf_counter_ns()
            for _ in range(calls):
                await call()
            best[index] = min(best[index], (time.perf_counter_ns() - start) / calls)
    return best


def measure(contenders: list[Contender], observer: redis.Redis, calls: int) -> list[Result]:
    counts = [count(contender, observer, calls) for contender in contenders]
    times = best_ns(contenders, calls)
    return [
        Result(contender.name, ns, trips, server, calls)
        for contender, ns, (trips, server) in zip(contenders, times, counts, strict=True)
    ]


# -- the server -------------------------------------------------------------------------------


def _control_client(url: str) -> redis.Redis:
    """No retries: redis-py's default (10, with backoff) would stretch every wait."""
    return redis.Redis.from_url(url, socket_timeout=1.0, retry=Retry(NoBackoff(), 0))


@contextmanager
def local_redis() -> Iterator[str]:
    """A redis-server of this run on a free loopback port, no persistence; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH: install Redis or pass --url")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = Path(tempfile.mkdtemp(prefix="redis-bench-"))
    log = workdir / "redis.log"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(workdir)]
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(url, process, log)
        yield url
    finally:
        _shut_down(url, process)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 5.0
    with _control_client(url) as client:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
            except redis.ConnectionError:
                time.sleep(0.02)
            else:
                return
    what = "exited" if process.poll() is not None else "did not answer PING within 5 s"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
    raise SystemExit(f"redis-server {what}; {log} ends with:\n{tail}")


def _shut_down(url: str, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            with _control_client(url) as client:
                client.shutdown(nosave=True)
        except redis.RedisError:
            pass  # killed below
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _delete_keys(observer: redis.Redis, prefix: str) -> None:
    for key in observer.scan_iter(match=f"{prefix}*", count=1000):
        observer.unlink(key)


# -- the report -------------------------------------------------------------------------------


def _row(result: Result) -> None:
    print(
        f"  {result.name:<46} {result.ns / 1000:>9.2f} {result.round_trips:>12.2f} "
        f"{result.commands_per_call:>12.2f}"
    )


def _breakdown(result: Result) -> None:
    calls, usec = result.server.calls, result.server.usec
    parts = ", ".join(
        f"{name} {n / result.calls:.2f} ({usec[name] / result.calls:.1f} µs)"
        for name, n in calls.most_common()
    )
    print(f"  {result.name.strip():<46} {parts}")


def _goals(ours: Result | None, pairs: list[Result]) -> None:
    if ours is None:
        print("goals: not measured (the Redis state backend was not measured)")
        return
    fastest = min(pairs, key=lambda result: result.ns)
    speedup = fastest.ns / ours.ns
    trips = "met" if ours.round_trips <= GOAL_ROUND_TRIPS else "MISSED"
    fast = "met" if speedup >= GOAL_SPEEDUP else "MISSED"
    print(f"round trips per guarded call: {ours.round_trips:.2f} (goal <= 2: {trips})")
    print(f"speed-up over the faster pair ({fastest.name}): {speedup:.2f}x (goal >= 3x: {fast})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    parser.add_argument("--url", help="an existing Redis (default: start one on a free port)")
    parser.add_argument("--pair-only", action="store_true", help="measure limits + pybreaker")
    args = parser.parse_args()
    if args.url:
        run(args.url, args.calls, pair_only=args.pair_only)
    else:
        with local_redis() as url:
            run(url, args.calls, pair_only=args.pair_only)


def run(url: str, calls: int, *, pair_only: bool = False) -> None:
    """Measure every contender against the Redis at `url` and print the table."""
    prefix = f"bench-{os.urandom(4).hex()}"
    print(f"Redis at {url}, {calls} calls per round, best of {ROUNDS} rounds")
    with ExitStack() as stack:
        observer = stack.enter_context(redis.Redis.from_url(url, decode_responses=True))
        stack.callback(_delete_keys, observer, prefix)
        settings = None if pair_only else nexus_settings(url, prefix)
        floor = Contender("redis-py PING: one round trip (floor)", observer.ping)
        ours = nexus_contenders(settings, stack) if settings else []
        pairs = [limits_and_pybreaker(url, prefix, stack, moving=m) for m in (False, True)]
        results = measure([floor, *ours, *pairs], observer, calls)
        async_results = (
            asyncio.run(nexus_async_results(settings, url, observer, calls)) if settings else []
        )
    print(f"{'per guarded call':<48} {'µs':>9} {'round trips':>12} {'server cmds':>12}")
    print("sync")
    for result in results:
        _row(result)
    if async_results:
        print("async (pybreaker's CircuitRedisStorage has no async form: no pair)")
        for result in async_results:
            _row(result)
    print("server commands per call (µs of server time): a script's time includes its commands'")
    for result in [*results, *async_results]:
        _breakdown(result)
    by_name = {result.name: result for result in results}
    _goals(by_name.get(OURS), [by_name[pair.name] for pair in pairs])


if __name__ == "__main__":
    main()
