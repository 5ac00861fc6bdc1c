"""The drivers of a hedged round (see `hedging`): asyncio tasks, or threads for sync calls.

Both run the same race. The round's first attempt starts; while no attempt has won, each
`delay` seconds one more is asked for (`hedge`: admitted and started, or refused), up to
`most`. The first success is the answer; a failure `transient` says may pass leaves the
round to the attempts still running; any other failure, or the last attempt's, is raised.

Async: each attempt is a task; the losers are cancelled and awaited, so their admissions are
given back before the call returns. Sync: a thread blocked on a socket cannot be cancelled.
The attempts run on `Workers` (a bounded set of threads, the first attempt included, so the
caller can stop waiting when another wins) while the caller waits for the first answer; a
loser finishes in the background, bounded by its own attempt timeout, and its outcome is
dropped (not recorded). With every thread busy (`MAX_THREADS` attempts in flight, losers
included), a call runs on the caller's thread, unhedged. The caller never waits past the
call's deadline. Delays are waited on the call's clock, so a test's fake clock needs no sleep.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from .._clock import Clock, SystemClock
from .._context import CallContext
from .hedging import HedgedRound

__all__ = ["IDLE_SECONDS", "MAX_THREADS", "Workers", "race_tasks", "race_threads"]

#: Attempts of sync hedged calls in flight at once, per operation and vendor, losers
#: finishing in the background included; beyond it, calls run unhedged.
MAX_THREADS = 64
#: Seconds a worker thread waits for work before it ends.
IDLE_SECONDS = 30.0

#: An attempt: its context and what runs it.
Job = tuple[CallContext, Callable[[], Any]]


async def race_tasks(
    round_: HedgedRound,
    first: Job,
    hedge: Callable[[], Awaitable[Job | None]],
    *,
    delay: float,
    most: int,
    transient: Callable[[BaseException], bool],
    deadline_error: Callable[[], BaseException],
) -> Any:
    """Race the attempts of `round_` as tasks; the winner's result, or the round's error
    (the deadline cuts the attempts themselves: their watchdogs; `deadline_error` unused).

    A success is the answer when it won the round (`HedgedRound.won`), or is the last
    attempt left; a failure ends the round when no attempt is left, or when it is no
    vendor fault and no attempt won yet; else the others are waited for."""
    import asyncio

    clock = round_.call.clock
    # Every task made here runs its first step before this one can be cancelled (the next
    # await lets it), so each attempt's own `finally` gives back what it was admitted with.
    running: dict[asyncio.Future[Any], CallContext] = {asyncio.ensure_future(first[1]()): first[0]}
    timer: asyncio.Future[None] | None = None
    left = most
    try:
        while True:
            if timer is None and left and not round_.decided:
                timer = asyncio.ensure_future(clock.asleep(delay))
            waiting = set(running) if timer is None else {*running, timer}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                ctx = running.pop(task, None)
                if ctx is None:
                    continue  # the timer
                error = task.exception()
                if error is None:
                    if round_.last is ctx or not running:
                        return task.result()
                    continue  # another attempt claimed the round first: its answer comes
                if not running or not (round_.decided or transient(error)):
                    raise error
            if timer is not None and timer.done():
                timer = None
                left -= 1
                job = await hedge()
                if job is None:
                    left = 0  # refused (budget, breaker, limiter, bulkhead, deadline)
                else:
                    running[asyncio.ensure_future(job[1]())] = job[0]
    finally:
        if timer is not None:
            timer.cancel()
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


class Workers:
    """The threads that run the attempts of hedged sync calls: at most `limit` at once; a
    thread without work for `idle` seconds ends.

    `reserve` promises a thread for one job (True: an idle one, False: a new one, None:
    none is left); then `run` the job on it, or `unreserve` it.
    """

    def __init__(self, limit: int = MAX_THREADS, idle: float = IDLE_SECONDS) -> None:
        self._limit = limit
        self._idle = idle
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._free = 0  # idle threads no job was promised to
        self._live = 0  # threads, started or promised

    def reserve(self) -> bool | None:
        with self._lock:
            if self._free:
                self._free -= 1
                return True
            if self._live < self._limit:
                self._live += 1
                return False
            return None

    def run(self, reserved: bool, job: Callable[[], None]) -> bool:
        """Run `job` on the reserved thread; False when no thread could be started (the
        process is out of threads): then the caller runs it."""
        if reserved:
            self._jobs.put(job)
            return True
        try:
            threading.Thread(
                target=self._work, args=(job,), name="nexus-connector-hedge", daemon=True
            ).start()
        except RuntimeError:
            self.unreserve(False)
            return False
        return True

    def unreserve(self, reserved: bool) -> None:
        with self._lock:
            if reserved:
                self._free += 1
            else:
                self._live -= 1

    def _work(self, job: Callable[[], None]) -> None:
        while True:
            job()  # never raises: it hands its outcome over
            with self._lock:
                self._free += 1
            while True:
                try:
                    job = self._jobs.get(timeout=self._idle)
                    break
                except queue.Empty:
                    with self._lock:
                        if self._free:  # no job promised to an idle thread: this one ends
                            self._free -= 1
                            self._live -= 1
                            return
                    # every idle thread was promised a job: one is on its way


def race_threads(
    round_: HedgedRound,
    first: Job,
    hedge: Callable[[], Job | None],
    *,
    delay: float,
    most: int,
    transient: Callable[[BaseException], bool],
    deadline_error: Callable[[], BaseException],
    workers: Workers,
) -> Any:
    """Race the attempts of `round_` on `workers`; the winner's result, or the round's
    error (`deadline_error()` when the call's deadline passes first)."""
    call = round_.call
    clock = call.clock
    answers: queue.SimpleQueue[tuple[CallContext, BaseException | None, Any]] = queue.SimpleQueue()

    reserved = workers.reserve()
    if reserved is None or not workers.run(reserved, _handing_over(first, answers)):
        return first[1]()  # no thread left: this attempt runs here, unhedged
    running = 1
    left = most
    real = isinstance(clock, SystemClock)
    since = clock.monotonic()  # when the wait for the next hedge began
    while True:
        remaining = call.remaining() if real else None
        wait = delay - (clock.monotonic() - since)
        if left and not round_.decided and (remaining is None or wait < remaining):
            answer = _next(answers, wait, clock, real)
            if answer is None:  # the delay passed: one more attempt
                left -= 1
                since = clock.monotonic()
                reserved = workers.reserve()
                job = hedge() if reserved is not None else None
                if job is not None:
                    assert reserved is not None
                    handed_over = _handing_over(job, answers)
                    if not workers.run(reserved, handed_over):
                        handed_over()  # no thread could start: it runs here
                    running += 1
                    continue
                left = 0  # refused (budget, breaker, limiter, bulkhead, deadline, threads)
                if reserved is not None:
                    workers.unreserve(reserved)
                continue
        else:
            try:
                answer = answers.get(timeout=remaining)
            except queue.Empty:
                round_.end()  # the attempts still running finish in the background
                raise deadline_error() from None
        ctx, error, result = answer
        running -= 1
        if error is None:
            if round_.last is ctx or not running:
                return result
            continue  # another attempt claimed the round first: its answer comes
        if not running or not (round_.decided or transient(error)):
            raise error


def _next(
    answers: queue.SimpleQueue[tuple[CallContext, BaseException | None, Any]],
    delay: float,
    clock: Clock,
    real: bool,
) -> tuple[CallContext, BaseException | None, Any] | None:
    """The next answer within `delay` seconds, or None. On the real clock, waits on the
    queue; on another (a test's), the clock's sleep is the wait."""
    if real:
        try:
            return answers.get(timeout=max(delay, 0.0))
        except queue.Empty:
            return None
    clock.sleep(max(delay, 0.0))
    try:
        return answers.get_nowait()
    except queue.Empty:
        return None


def _handing_over(
    job: Job, answers: queue.SimpleQueue[tuple[CallContext, BaseException | None, Any]]
) -> Callable[[], None]:
    """`job` run in the caller's context variables (limit key, trace), its outcome put on
    `answers`."""
    import contextvars

    context = contextvars.copy_context()
    ctx, run = job

    def handed_over() -> None:
        try:
            result = context.run(run)
        except BaseException as error:  # noqa: BLE001 - handed to the caller, which raises it
            answers.put((ctx, error, None))
        else:
            answers.put((ctx, None, result))

    return handed_over
