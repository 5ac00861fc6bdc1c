"""Attempt timeouts for async calls, by cancellation, without a timer per attempt.

`asyncio.timeout` schedules and cancels one timer per use, which costs more than the rest
of the pipeline together. A `Watchdog` keeps the deadlines of the attempts in flight on one
event loop in a heap and arms a single timer for the earliest; an attempt that outlives its
deadline has its task cancelled, and the attempt loop turns that cancellation into a
`VendorTimeoutError` (and any other cancellation stays a cancellation).

asyncio is imported when the first loop asks for its watchdog, not with this module: a
synchronous program builds a runtime (and so a `Watchdogs`) without ever loading asyncio.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

__all__ = ["Watch", "Watchdog", "Watchdogs"]


class Watch:
    """One attempt under watch: `expired` turns true when the watchdog cancelled it."""

    __slots__ = ("cancelling", "done", "expired", "task", "when")

    def __init__(self, task: asyncio.Task[object], when: float) -> None:
        self.task = task
        self.when = when
        self.cancelling = task.cancelling()
        self.done = False
        self.expired = False

    def timed_out(self) -> bool:
        """After a CancelledError: whether it was this watch's doing (and is now undone)."""
        if not self.expired:
            return False
        # Like asyncio.timeout: only our own cancellation becomes a timeout; a cancellation
        # from outside that arrived at the same time is left standing.
        return self.task.uncancel() <= self.cancelling


class Watchdog:
    """The attempt deadlines of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import asyncio

        self._loop = loop
        self._current_task = asyncio.current_task
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = float("inf")
        self._live = 0

    def watch(self, timeout: float) -> Watch:
        """Watch the current task for `timeout` seconds; call `release` when it is done."""
        task = self._current_task(self._loop)
        assert task is not None, "attempts run in a task"
        when = self._loop.time() + timeout
        watch = Watch(task, when)
        heapq.heappush(self._heap, (when, next(self._order), watch))
        self._live += 1
        if when < self._armed_for:
            self._arm(when)
        return watch

    def release(self, watch: Watch) -> None:
        if not watch.done:
            watch.done = True
            self._live -= 1
            # Finished watches leave the heap lazily; compact it when they dominate.
            if len(self._heap) > 64 and len(self._heap) > 4 * self._live:
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._armed_for = float("inf")
        now = self._loop.time()
        heap = self._heap
        while heap and (heap[0][2].done or heap[0][0] <= now):
            _, _, watch = heapq.heappop(heap)
            if not watch.done:
                watch.done = True
                watch.expired = True
                self._live -= 1
                watch.task.cancel()
        if heap:
            self._arm(heap[0][0])


class Watchdogs:
    """One `Watchdog` per event loop, made when a loop first needs one; call an instance
    to get the running loop's (the async attempt loop does, once per attempt)."""

    __slots__ = ("_by_loop", "_last", "_running_loop")

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog] = (
            weakref.WeakKeyDictionary()
        )
        self._last: tuple[asyncio.AbstractEventLoop, Watchdog] | None = None
        self._running_loop: Callable[[], asyncio.AbstractEventLoop] | None = None

    def __call__(self) -> Watchdog:
        running_loop = self._running_loop
        if running_loop is None:
            import asyncio

            running_loop = self._running_loop = asyncio.get_running_loop
        loop = running_loop()
        last = self._last
        if last is not None and last[0] is loop:  # the usual case: one loop
            return last[1]
        watchdog = self._by_loop.get(loop)
        if watchdog is None:
            watchdog = self._by_loop[loop] = Watchdog(loop)
        self._last = (loop, watchdog)
        return watchdog
