"""The attempt-timeout watchdog of async calls, on an event loop whose clock the test moves:
each attempt is cancelled at its own deadline, in deadline order, whatever the mix of
timeouts; a released attempt never is; a cancellation from outside stays one; finished
attempts do not pile up behind one that runs long."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from nexus_connector_core._resilience.watchdog import MAX_QUEUES, Watchdog, Watchdogs

T = TypeVar("T")


class _MovedClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose `time()` is what the test says."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def _run(main: Callable[[_MovedClockLoop], Awaitable[T]]) -> T:
    loop = _MovedClockLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


async def _settle() -> None:
    for _ in range(4):
        await asyncio.sleep(0)


class _Attempts:
    """Attempts under one watchdog, each waiting until the test ends it; `cut` lists the
    ones the watchdog cancelled (name, the loop's time, whether it was a timeout)."""

    def __init__(self, loop: _MovedClockLoop) -> None:
        self.loop = loop
        self.watchdog = Watchdog(loop)
        self.cut: list[tuple[str, float, bool]] = []
        self.ends: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, name: str, timeout: float, at: float, since: float | None = None) -> None:
        self.loop.now = at
        self.ends[name] = asyncio.Event()
        attempt = self._attempt(name, timeout, since)
        self.tasks[name] = asyncio.get_running_loop().create_task(attempt)
        await _settle()

    async def _attempt(self, name: str, timeout: float, since: float | None) -> None:
        watch = self.watchdog.watch(timeout, since)
        try:
            await self.ends[name].wait()
        except asyncio.CancelledError:
            timed_out = watch.timed_out()
            self.cut.append((name, self.loop.now, timed_out))
            if not timed_out:
                raise
        finally:
            self.watchdog.release(watch)

    async def end(self, name: str) -> None:
        self.ends[name].set()
        await _settle()

    async def advance(self, to: float, step: float = 0.01) -> None:
        while self.loop.now < to:
            self.loop.now = round(self.loop.now + step, 6)
            await _settle()


def _at_deadlines(cut: list[tuple[str, float, bool]], expected: list[tuple[str, float]]) -> bool:
    """`cut` is `expected`'s attempts, in order, each timed out within one clock step
    (0.01 s) after its deadline."""
    return [name for name, _, _ in cut] == [name for name, _ in expected] and all(
        timed_out and deadline - 1e-9 <= at <= deadline + 0.011
        for (_, at, timed_out), (_, deadline) in zip(cut, expected, strict=True)
    )


def test_attempts_of_one_timeout_are_cut_at_their_deadlines_and_released_ones_never() -> None:
    async def main(loop: _MovedClockLoop) -> list[tuple[str, float, bool]]:
        attempts = _Attempts(loop)
        await attempts.start("a", 1.0, at=1000.0)
        await attempts.start("b", 1.0, at=1000.1)
        await attempts.start("c", 1.0, at=1000.2)
        await attempts.advance(1000.15)
        await attempts.end("b")  # answered in time
        await attempts.advance(1002.0)
        return attempts.cut

    assert _at_deadlines(_run(main), [("a", 1001.0), ("c", 1001.2)])


def test_an_attempt_is_watched_from_the_time_its_caller_read() -> None:
    # The attempt loop passes the reading it took at the attempt's start (on the loop's
    # clock): the deadline counts from it, not from when the watch began.
    async def main(loop: _MovedClockLoop) -> list[tuple[str, float, bool]]:
        attempts = _Attempts(loop)
        await attempts.start("read_earlier", 1.0, at=1000.3, since=1000.0)
        await attempts.start("read_now", 1.0, at=1000.3)
        await attempts.advance(1002.0)
        return attempts.cut

    assert _at_deadlines(_run(main), [("read_earlier", 1001.0), ("read_now", 1001.3)])


def test_mixed_timeouts_are_cut_in_deadline_order() -> None:
    # A shorter timeout started later has the earlier deadline; more timeout values than
    # get a queue of their own share the heap, in order with the queued ones.
    async def main(loop: _MovedClockLoop) -> list[tuple[str, float, bool]]:
        attempts = _Attempts(loop)
        await attempts.start("long", 5.0, at=1000.0)
        await attempts.start("short", 1.0, at=1000.5)
        await attempts.start("long2", 5.0, at=1001.0)
        await attempts.start("shortest", 0.2, at=1001.0)
        for i in range(MAX_QUEUES + 2):  # timeouts 3.01, 3.02, ...: the last ones in the heap
            await attempts.start(f"odd{i}", round(3.0 + (i + 1) / 100, 2), at=1001.0)
        await attempts.start("short2", 1.0, at=1001.0)
        await attempts.advance(1007.0)
        return attempts.cut

    odd = [(f"odd{i}", 1004.0 + (i + 1) / 100) for i in range(MAX_QUEUES + 2)]
    expected = [("shortest", 1001.2), ("short", 1001.5), ("short2", 1002.0), *odd]
    assert _at_deadlines(_run(main), [*expected, ("long", 1005.0), ("long2", 1006.0)])


def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    async def main(loop: _MovedClockLoop) -> tuple[list[tuple[str, float, bool]], bool, bool]:
        attempts = _Attempts(loop)
        await attempts.start("early", 1.0, at=1000.0)
        await attempts.start("same_time", 1.0, at=1000.0)
        attempts.tasks["early"].cancel()  # before its deadline
        await _settle()
        await attempts.advance(1000.99)
        # The deadline, then a caller's cancellation, in one turn of the loop: the task
        # wakes to both, and stays cancelled.
        loop.call_at(1001.001, attempts.tasks["same_time"].cancel)
        loop.now = 1001.005
        await _settle()
        await attempts.advance(1003.0)
        return (
            attempts.cut,
            attempts.tasks["early"].cancelled(),
            attempts.tasks["same_time"].cancelled(),
        )

    cut, early_cancelled, same_time_cancelled = _run(main)
    assert cut == [("early", 1000.0, False), ("same_time", 1001.005, False)]
    assert early_cancelled
    assert same_time_cancelled


def test_finished_attempts_do_not_pile_up_behind_one_that_runs_long() -> None:
    async def main(loop: _MovedClockLoop) -> tuple[int, int, list[tuple[str, float, bool]]]:
        attempts = _Attempts(loop)
        for i in range(MAX_QUEUES - 1):  # all queues but one taken by long attempts
            await attempts.start(f"q{i}", 40.0 + i, at=1000.0)
        await attempts.start("stuck", 30.0, at=1000.0)  # the last queue
        await attempts.start("stuck_heap", 31.0, at=1000.0)  # in the heap
        watchdog = attempts.watchdog
        most = 0
        for i in range(5000):
            loop.now = 1000.0 + i / 1000
            for timeout in (30.0, 31.0, 17.5):  # a queue, the heap, and the heap
                watch = watchdog.watch(timeout)
                watchdog.release(watch)
            most = max(most, watchdog.pending)
        await attempts.advance(1031.0, step=0.5)
        return most, watchdog.pending, attempts.cut

    most, left, cut = _run(main)
    assert most < 400  # 15,000 attempts went through
    assert [name for name, _, _ in cut] == ["stuck", "stuck_heap"]
    assert left == MAX_QUEUES - 1  # the queued long ones, still running


def test_the_watchdog_reads_the_loops_clock() -> None:
    async def main() -> Any:
        return Watchdogs()()._time

    plain = asyncio.run(main())
    loop = _MovedClockLoop()
    moved = Watchdog(loop)._time
    loop.close()
    assert plain is time.monotonic  # what asyncio's loop.time() returns, without its frame
    assert getattr(moved, "__func__", None) is _MovedClockLoop.time
