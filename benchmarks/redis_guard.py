"""What one guarded call costs on Redis: the Redis state backend against limits + pybreaker.

    python benchmarks/redis_guard.py [--calls 1000] [--rounds 11] [--url redis://...]

Measured in one run against the same Redis: a ``redis-server`` this script starts on a free
loopback port (and shuts down), or the one at ``--url``. Each case guards a function that
does nothing (or raises, for the calls that fail), two ways, and prints them side by side:

- ours: Nexus Connector's ``RedisStateBackend`` driven as the pipeline drives it: ``admit``,
  the call, ``record`` of a failure, and of a success unless the admission is ``settled``
  (a breaker whose window holds only fast successes); outcomes ride on the next admission
  (``record_delay``, see the plugin's README);
- the anchor: the pair a user would build, a limits ``FixedWindowRateLimiter`` on
  ``RedisStorage`` with a limit never reached, then a pybreaker ``CircuitBreaker(fail_max=5)``
  on ``CircuitRedisStorage`` around the function (3 round trips a call).

The cases: the pair's job on a quiet breaker (nothing to record); a breaker whose window
holds failures (one call in 20 fails, on both sides: every success must be recorded); every
call recorded (as for slow-call tracking or a time window, never settled); the same with a
retry budget too (more than the pair does); and the async backend (pybreaker has no async
Redis storage: its rows are against the same sync pair). ``record_delay = 0`` (every
outcome sent at once: the backend before issue 16) is shown for comparison.

Two async floors: a PING through redis.asyncio (its command layer: ~60 µs a round trip
here, ~20 µs of it CPU of its own: ``asyncio.timeout`` per read, ``wait_for`` per write,
StreamReader reads, hooks), and a PING on the async backend's wire (an asyncio protocol of
the plugin on a redis-py connection, hiredis parsing: ``_wire.py``), which is asyncio's own
round trip; the async backend's scripts go on such wires. Against the sync pair, an async
call also pays the event loop (two loop iterations and two ``epoll_wait`` per round trip:
~5 µs of CPU more than a blocking socket's send and recv, measured on a bare protocol).

The contenders take turns within every round (one round: `calls` calls of each; the order
reversed every other round, so ours and the anchor of a case run back to back, each first
half the time): a busy machine slows them alike. The table shows each one's median time per
call over the rounds, the spread (min-max), and ``cpu µs``, the median over the rounds of
the CPU a call costs, this process's (its threads included) and the server's: on a shared
machine it moves less than the time does. The ratios are the medians of the rounds' own
ratios (the anchor's round over ours in the same round: a burst of load that slows both
cancels out), with their range. Round trips are counted on the
client: every request redis-py writes to a socket and then waits for (a command, or a whole
pipeline), from every thread (the backend's flush included). Server commands are the
server's ``INFO commandstats`` delta (commands Lua scripts run count too); on a shared server
(``--url``) other clients' commands count as well.

Goals (issue 16): one round trip per guarded call in every case, and at least 3x faster
than the pair. The backend's half needs ``pip install -e plugins/nexus-connector-redis``.

Where an async guarded call's time goes (2-core shared machine, loopback, Python 3.11,
redis-py 8.2 + hiredis 3.5; one round trip, median of 11 interleaved rounds, wall µs / CPU
µs of the client + the server): a blocking socket 8.7 / 3.9 + 4.8; a bare asyncio protocol
15.8 / 9.8 + 5.9 (asyncio's own: one more loop iteration to wake the task, ~4 µs, and two
``epoll_wait``); redis.asyncio on one connection 36.1 / 28.8 + 6.9 (the ~20 µs of its
command layer the backend no longer pays: its scripts go on a wire, 16.3 / 10.3 + 6.0).
The guard's own scripts, pre-encoded, no Python around them: an admission 16.8 sync / 22.9
async, one carrying an outcome 21.6 / 28.0 (its script costs the server ~5 µs more). The
pair takes ~115 µs, so 3x leaves ~10 µs of Python per async call that carries an outcome
(admit and record: ~4 µs run alone, about twice that between round trips). Three runs
(2026-12-05, load 1.3-1.8): sync 3.54-3.62x at worst (retry budget), async 4.58-4.74x on a
quiet breaker and 3.03-3.14x where every success is recorded (window with failures, every
call recorded): met, with little to spare; the ceiling for those rows, the carrying round
trip with no Python at all, is ~115 / 28 = 4.1x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
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

ROUNDS = 11
WARM_UP = 200
SCOPE = "bench:redis"
#: The pair's job: a circuit breaker and a rate limit never reached.
PLAN = GuardPlan(
    scope=SCOPE,
    breaker_key=SCOPE,
    breaker=BreakerPolicy(window=20, min_calls=10),
    limit_key=SCOPE,
    limit=LimitPolicy(rate=1e6, burst=1_000_000),
)
#: More than the pair does: a retry budget shared by all workers too.
PLAN_WITH_BUDGET = msgspec.structs.replace(PLAN, budget_key=SCOPE, budget=BudgetPolicy(ratio=0.2))
NEVER_REACHED = parse("1000000/second")
#: In the failing case, one call in this many fails (5 %: the breaker, at 50 %, stays closed).
FAIL_EVERY = 20
GOAL_ROUND_TRIPS = 1.0
#: The case shown for comparison only (the backend as it was): outside the goals.
AT_ONCE = "record_delay = 0"
ASYNC = "AsyncRedisStateBackend"
GOAL_SPEEDUP = 3.0


class VendorError(Exception):
    """What the guarded function raises when it fails."""


def vendor_call(fails: bool = False) -> None:
    """The guarded function: does nothing (or fails), so the guard is all that is measured."""
    if fails:
        raise VendorError


def failing_every(n: int) -> Callable[[], bool]:
    """Whether the next call fails: every `n`-th does (0: never)."""
    count = 0

    def next_fails() -> bool:
        nonlocal count
        count += 1
        return n > 0 and count % n == 0

    return next_fails


@dataclass
class Contender:
    """One way to guard a call: `call` makes one guarded call (sync, or a coroutine)."""

    name: str
    call: Callable[[], Any]
    is_async: bool = False


@dataclass
class Case:
    """One situation, guarded our way and the anchor's way (None: no anchor)."""

    title: str
    ours: Contender
    anchor: Contender | None


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
    """What one contender cost per call: every round's time, round trips, server work, and
    CPU seconds (this process's, its threads' included, and the server's) over `calls`."""

    name: str
    rounds_ns: list[float]
    round_trips: float
    server: ServerWork
    calls: int
    #: CPU nanoseconds per call in every round (client and server).
    rounds_cpu: list[float]

    @property
    def cpu_us(self) -> float:
        return statistics.median(self.rounds_cpu) / 1000

    @property
    def median_us(self) -> float:
        return statistics.median(self.rounds_ns) / 1000

    @property
    def spread(self) -> str:
        return f"{min(self.rounds_ns) / 1000:.1f}-{max(self.rounds_ns) / 1000:.1f}"

    @property
    def commands_per_call(self) -> float:
        return sum(self.server.calls.values()) / self.calls


# -- ours: the Redis state backend ------------------------------------------------------------


def nexus_settings(url: str, prefix: str, record_delay: float = 0.05) -> BackendSettings | None:
    """Settings for the Redis state backend, or None when the plugin is not installed."""
    try:
        from nexus_connector_redis import RedisOptions
    except ImportError as error:
        print(f"(no Redis state backend: {error}; pip install -e plugins/nexus-connector-redis)")
        return None
    options = RedisOptions(url=url, record_delay=record_delay)
    return BackendSettings(options=options, clock=SYSTEM_CLOCK, prefix=prefix)


def guarded(
    backend: Any, plan: GuardPlan, *, always_record: bool = False, fail_every: int = 0
) -> Callable[[], None]:
    """A guarded call on the sync backend, as the pipeline makes it."""
    now = time.perf_counter
    next_fails = failing_every(fail_every)

    def call() -> None:
        admission = backend.admit(plan)
        if not admission.allowed:
            raise RuntimeError(f"refused: {admission.reason}")
        start = now()
        try:
            vendor_call(next_fails())
        except VendorError:
            backend.record(plan, admission, failed=True, duration=now() - start)
            return
        duration = now() - start
        # As the pipeline does: a settled admission's fast success is not recorded.
        if always_record or not admission.settled:
            backend.record(plan, admission, failed=False, duration=duration)

    return call


def aguarded(
    backend: Any, plan: GuardPlan, *, always_record: bool = False, fail_every: int = 0
) -> Callable[[], Awaitable[None]]:
    """The same on the async backend."""
    now = time.perf_counter
    next_fails = failing_every(fail_every)

    async def call() -> None:
        admission = await backend.admit(plan)
        if not admission.allowed:
            raise RuntimeError(f"refused: {admission.reason}")
        start = now()
        try:
            vendor_call(next_fails())
        except VendorError:
            await backend.record(plan, admission, failed=True, duration=now() - start)
            return
        duration = now() - start
        if always_record or not admission.settled:
            await backend.record(plan, admission, failed=False, duration=duration)

    return call


# -- theirs: limits + pybreaker ---------------------------------------------------------------


def limits_and_pybreaker(
    url: str, prefix: str, stack: ExitStack, *, fail_every: int = 0
) -> Contender:
    """A limits FixedWindow rate limiter on RedisStorage, then a pybreaker breaker on
    CircuitRedisStorage; keys of their own (`prefix`)."""
    storage = limits_storage.RedisStorage(url, key_prefix=f"{prefix}-limits")
    stack.callback(storage.storage.close)
    limiter = limits_strategies.FixedWindowRateLimiter(storage)
    # CircuitRedisStorage decodes the bytes it reads itself: it needs decode_responses=False.
    client = stack.enter_context(redis.Redis.from_url(url, decode_responses=False))
    breaker = pybreaker.CircuitBreaker(
        fail_max=5,
        state_storage=pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED, client, namespace=f"{prefix}-pybreaker"
        ),
    )
    next_fails = failing_every(fail_every)

    def call() -> None:
        if not limiter.hit(NEVER_REACHED, SCOPE):
            raise RuntimeError("rate limited")
        with suppress(VendorError):
            breaker.call(vendor_call, next_fails())

    return Contender("limits FixedWindow + pybreaker (anchor)", call)


def cases(url: str, prefix: str, stack: ExitStack) -> list[Case]:
    """Every case, each contender on keys of its own; the async ones on one event loop."""
    from nexus_connector_redis import AsyncRedisStateBackend, RedisStateBackend

    loop = asyncio.new_event_loop()
    RUNNERS[True] = loop.run_until_complete
    stack.callback(loop.close)

    def ours(tag: str, delay: float = 0.05) -> Any:
        backend = RedisStateBackend(nexus_settings(url, f"{prefix}-{tag}", delay))
        stack.callback(backend.close)
        return backend

    def aours(tag: str) -> Any:
        backend = AsyncRedisStateBackend(nexus_settings(url, f"{prefix}-async-{tag}"))
        stack.callback(lambda: loop.run_until_complete(backend.aclose()))
        return backend

    def pair(tag: str, fail_every: int = 0) -> Contender:
        return limits_and_pybreaker(url, f"{prefix}-{tag}", stack, fail_every=fail_every)

    afloor = redis.asyncio.Redis.from_url(url)
    stack.callback(lambda: loop.run_until_complete(afloor.aclose()))
    wire_ping = loop.run_until_complete(_wire_ping(url, stack))

    name, aname = "Nexus Connector RedisStateBackend", f"Nexus Connector {ASYNC}"
    fails = f"window holds failures: 1 call in {FAIL_EVERY} fails, every success recorded"
    return [
        Case(
            "quiet breaker: nothing to record",
            Contender(name, guarded(ours("quiet"), PLAN)),
            pair("quiet"),
        ),
        Case(
            fails,
            Contender(name, guarded(ours("fails"), PLAN, fail_every=FAIL_EVERY)),
            pair("fails", FAIL_EVERY),
        ),
        Case(
            "every call recorded",
            Contender(name, guarded(ours("every"), PLAN, always_record=True)),
            pair("every"),
        ),
        Case(
            "every call recorded, with a retry budget too",
            Contender(name, guarded(ours("budget"), PLAN_WITH_BUDGET, always_record=True)),
            pair("budget"),
        ),
        Case(
            f"{AT_ONCE}: every call recorded, each outcome sent at once (before)",
            Contender(name, guarded(ours("at-once", 0.0), PLAN, always_record=True)),
            pair("at-once"),
        ),
        Case(
            "async floor: a round trip costs more on asyncio (no anchor: pybreaker is sync)",
            Contender("redis.asyncio PING: one round trip", afloor.ping, is_async=True),
            None,
        ),
        Case(
            "asyncio's own floor: PING on the backend's wire (an asyncio protocol, hiredis)",
            Contender("wire PING: one round trip", wire_ping, is_async=True),
            None,
        ),
        Case(
            "async: quiet breaker",
            Contender(aname, aguarded(aours("quiet"), PLAN), is_async=True),
            pair("async-quiet"),
        ),
        Case(
            f"async: {fails}",
            Contender(aname, aguarded(aours("fails"), PLAN, fail_every=FAIL_EVERY), True),
            pair("async-fails", FAIL_EVERY),
        ),
        Case(
            "async: every call recorded",
            Contender(aname, aguarded(aours("every"), PLAN, always_record=True), True),
            pair("async-every"),
        ),
    ]


async def _wire_ping(url: str, stack: ExitStack) -> Callable[[], Awaitable[Any]]:
    """One PING on a wire (`nexus_connector_redis._wire`) of a connection of its own: the
    round trip the async backend's scripts make, without the script."""
    from nexus_connector_redis._wire import wired

    pool = redis.asyncio.ConnectionPool.from_url(url)
    loop = asyncio.get_running_loop()
    stack.callback(lambda: loop.run_until_complete(pool.aclose()))
    wire = wired(await pool.get_connection(), 5.0)
    if wire is None:
        raise SystemExit("no wire: is hiredis installed?")
    ping = b"*1\r\n$4\r\nPING\r\n"

    async def call() -> Any:
        return await wire.send(ping)

    return call


# -- counting and timing ----------------------------------------------------------------------

#: How an async contender's rounds run: on the event loop its backend is bound to.
RUNNERS: dict[bool, Callable[[Any], Any]] = {}


class RoundTrips:
    """Counts requests redis-py writes, each then waiting for its replies: one round trip.

    Patches ``send_packed_command`` of redis-py's sync and async connection classes while
    counting, so it sees every client of the process alike, whatever pool, connection class
    or thread (a pipeline flushes all of its commands in one call; health-check PINGs and
    reconnection handshakes are counted too, as they are round trips), and ``Wire.send``,
    where the async backend writes its scripts' commands itself.
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

        with ExitStack() as stack:
            stack.enter_context(patch.object(sync_class, "send_packed_command", send))
            stack.enter_context(patch.object(async_class, "send_packed_command", asend))
            wire_class = _wire_class()
            if wire_class is not None:  # the async backend's own connections
                wire_send: Callable[..., Any] = wire_class.send

                def wsend(wire: Any, command: bytes) -> Any:
                    self.count += 1
                    return wire_send(wire, command)

                stack.enter_context(patch.object(wire_class, "send", wsend))
            yield


def _wire_class() -> Any:
    """The async backend's wire (it writes its scripts' commands itself), if installed."""
    try:
        from nexus_connector_redis._wire import Wire
    except ImportError:
        return None
    return Wire


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


def server_cpu(observer: redis.Redis) -> float:
    """CPU seconds the server has used (user and system, all its threads)."""
    cpu = observer.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def run_calls(contender: Contender, calls: int) -> None:
    """`calls` calls of `contender`, in a loop of its own kind."""
    call = contender.call
    if not contender.is_async:
        for _ in range(calls):
            call()
        return

    async def loop() -> None:
        for _ in range(calls):
            await call()

    RUNNERS[True](loop())


def count(contender: Contender, observer: redis.Redis, calls: int) -> tuple[float, ServerWork]:
    """Round trips per call and the server commands of `calls` calls, after a warm-up
    (connections open, scripts loaded, keys created); a flush due within record_delay after
    the calls is counted too."""
    run_calls(contender, WARM_UP)
    trips = RoundTrips()
    before = server_work(observer)
    with trips.counting():
        run_calls(contender, calls)
        time.sleep(0.1)
    return trips.count / calls, server_work(observer) - before


def timed_rounds(
    contenders: list[Contender], observer: redis.Redis, calls: int, rounds: int
) -> tuple[list[list[float]], list[list[float]]]:
    """Each contender's time and CPU (client and server) per call in nanoseconds, in every
    round, taking turns in each: in list order, then reversed, and so on."""
    times: list[list[float]] = [[] for _ in contenders]
    cpus: list[list[float]] = [[] for _ in contenders]
    order = list(enumerate(contenders))
    for number in range(rounds):
        for index, contender in order if number % 2 == 0 else reversed(order):
            cpu = server_cpu(observer) + time.process_time()
            start = time.perf_counter_ns()
            run_calls(contender, calls)
            elapsed = time.perf_counter_ns() - start
            cpu = server_cpu(observer) + time.process_time() - cpu
            times[index].append(elapsed / calls)
            cpus[index].append(cpu * 1e9 / calls)
    return times, cpus


def measure(
    contenders: list[Contender], observer: redis.Redis, calls: int, rounds: int
) -> list[Result]:
    counts = [count(contender, observer, calls) for contender in contenders]
    times, cpus = timed_rounds(contenders, observer, calls, rounds)
    return [
        Result(contender.name, ns, trips, server, calls, cpu)
        for contender, ns, cpu, (trips, server) in zip(contenders, times, cpus, counts, strict=True)
    ]


def round_ratios(anchor: list[float], ours: list[float]) -> tuple[float, float, float]:
    """The median of the rounds' ratios (the anchor's over ours, round by round), and their
    range."""
    ratios = [theirs / mine for theirs, mine in zip(anchor, ours, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


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
        f"    {result.name:<40} {result.median_us:>7.1f} {result.spread:>13} "
        f"{result.cpu_us:>7.1f} {result.round_trips:>6.2f} {result.commands_per_call:>5.2f}"
    )


def _breakdown(result: Result) -> str:
    calls, usec = result.server.calls, result.server.usec
    return ", ".join(
        f"{name} {n / result.calls:.2f} ({usec[name] / result.calls:.1f} µs)"
        for name, n in calls.most_common()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds (at least 5)")
    parser.add_argument("--url", help="an existing Redis (default: start one on a free port)")
    args = parser.parse_args()
    if args.url:
        run(args.url, args.calls, max(args.rounds, 5))
    else:
        with local_redis() as url:
            run(url, args.calls, max(args.rounds, 5))


def run(url: str, calls: int, rounds: int) -> None:
    """Measure every case against the Redis at `url` and print the table."""
    prefix = f"bench-{os.urandom(4).hex()}"
    print(f"Redis at {url}, {calls} calls per round, {rounds} rounds, contenders interleaved")
    with ExitStack() as stack:
        observer = stack.enter_context(redis.Redis.from_url(url, decode_responses=True))
        stack.callback(_delete_keys, observer, prefix)
        if nexus_settings(url, prefix) is None:
            return
        all_cases = cases(url, prefix, stack)
        floor = Contender("redis-py PING: one round trip (floor)", observer.ping)
        contenders = [floor]
        for case in all_cases:
            contenders += [case.ours] if case.anchor is None else [case.ours, case.anchor]
        results = iter(measure(contenders, observer, calls, rounds))
        print(
            f"    {'per guarded call':<40} {'µs med':>7} {'(min-max)':>13} "
            f"{'cpu µs':>7} {'trips':>6} {'cmds':>5}"
        )
        _row(next(results))
        worst: dict[str, tuple[float, float]] = {}  # sync/async: most trips, least speed-up
        breakdowns = []
        for case in all_cases:
            print(case.title)
            ours = next(results)
            _row(ours)
            breakdowns.append((case.title, ours))
            if case.anchor is None:
                continue
            anchor = next(results)
            _row(anchor)
            ratio, low, high = round_ratios(anchor.rounds_ns, ours.rounds_ns)
            cpu_ratio, cpu_low, cpu_high = round_ratios(anchor.rounds_cpu, ours.rounds_cpu)
            print(
                f"    -> ours is {ratio:.2f}x faster than the anchor ({low:.2f}-{high:.2f}), "
                f"{cpu_ratio:.2f}x less CPU ({cpu_low:.2f}-{cpu_high:.2f})"
            )
            if not case.title.startswith(AT_ONCE):
                kind = "async" if ours.name.endswith(ASYNC) else "sync"
                trips, slowest = worst.get(kind, (0.0, float("inf")))
                worst[kind] = (max(trips, ours.round_trips), min(slowest, ratio))
    print(
        "server commands per call of ours (µs of server time; a script's includes its commands'):"
    )
    for title, result in breakdowns:
        print(f"  {title}: {_breakdown(result)}")
    for kind, (trips, slowest) in worst.items():
        trips_met = "met" if trips <= GOAL_ROUND_TRIPS + 0.01 else "MISSED"
        fast_met = "met" if slowest >= GOAL_SPEEDUP else "MISSED"
        print(
            f"goals, {kind}: 1 round trip per call in every case: worst {trips:.2f} ({trips_met}); "
            f">= 3x faster than the anchor in every case: worst {slowest:.2f}x ({fast_met})"
        )


if __name__ == "__main__":
    main()
