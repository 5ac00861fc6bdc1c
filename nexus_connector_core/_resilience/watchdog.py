"""Attempt timeouts for async calls, by cancellation, without a timer per attempt.

`asyncio.timeout` schedules and cancels one timer per use, which costs more than the rest
of the pipeline together. A `Watchdog` keeps the deadlines of the attempts in flight on one
event loop and arms a single timer for the earliest; an attempt that outlives its deadline
has its task cancelled, and the attempt loop turns that cancellation into a
`VendorTimeoutError` (and any other cancellation stays a cancellation).

The deadlines are kept in one queue per timeout value: the loop's clock never goes back, so
watches of the same timeout arrive in deadline order and a FIFO keeps them sorted (a
connector's attempts mostly share its configured timeout). A timeout beyond the first
`MAX_QUEUES` values in use goes to a heap. A finished watch is only marked done; done
watches leave a queue at its head (as new ones arrive or when the timer fires), or in a
compaction when a long-running attempt holds the head.

The process has one registry, `WATCHDOGS`, as asyncio has one running loop per thread: every
manager's connectors and every OAuth2 flow share the watchdog of the loop they run on.
asyncio is imported when the first loop asks for its watchdog, not with this module: a
synchronous program never loads it.
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    import asyncio

__all__ = ["MAX_QUEUES", "WATCHDOGS", "Watch", "Watchdog", "Watchdogs"]

#: How many timeout values get a queue of their own in one watchdog; others share a heap.
MAX_QUEUES = 16
#: A queue or the heap is compacted (its done watches dropped) when it grows past this
#: many entries and twice what it kept at its last compaction.
_COMPACT_AT = 64


class Watch(msgspec.Struct, eq=False):
    """One attempt under watch: `done` when released or expired; `expired` turns true when
    the watchdog cancelled it. A struct: made positionally in C, on every async attempt."""

    task: asyncio.Task[Any]
    when: float
    #: The task's pending cancellation requests when the watch began.
    cancelling: int
    done: bool = False
    expired: bool = False

    def timed_out(self) -> bool:
        """After a CancelledError: whether it was this watch's doing (and is now undone)."""
        if not self.expired:
            return False
        # Like asyncio.timeout: only our own cancellation becomes a timeout; a cancellation
        # from outside that arrived at the same time is left standing.
        return self.task.uncancel() <= self.cancelling


class _Queue(deque[Watch]):
    """The watches of one timeout value, in deadline order."""

    __slots__ = ("bound",)

    def __init__(self) -> None:
        super().__init__()
        self.bound = _COMPACT_AT


def _task_getter() -> Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None]:
    """`asyncio.current_task`, or on Python 3.11 (where it is Python code) the lookup it
    makes: the running task of each loop, in the dict the C accelerator keeps."""
    import asyncio
    import asyncio.tasks

    current = asyncio.current_task
    tasks = getattr(asyncio.tasks, "_current_tasks", None)
    if sys.version_info < (3, 12) and isinstance(tasks, dict):
        return tasks.get
    return current


class Watchdog:
    """The attempt deadlines of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import asyncio

        self._loop = loop
        self._current_task = _task_getter()
        # The loop's clock: `time.monotonic` itself when the loop's `time` is asyncio's
        # (which returns it), without the method's frame.
        self._time = time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        #: The loop's clock: a caller that read it may pass its reading to `watch`.
        self.time: Callable[[], float] = self._time
        self._queues: dict[float, _Queue] = {}
        self._heap: list[tuple[float, int, Watch]] = []
        self._heap_bound = _COMPACT_AT
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = float("inf")

    @property
    def pending(self) -> int:
        """Watches held (done ones not yet dropped included): what the watchdog's memory
        grows with."""
        return sum(len(queue) for queue in self._queues.values()) + len(self._heap)

    def watch(self, timeout: float, now: float | None = None) -> Watch:
        """Watch the current task for `timeout` seconds from `now` (a reading of the loop's
        clock, `time`, the caller just took; None: read it); `release` the watch (or set
        its `done`) when the attempt ends."""
        task = self._current_task(self._loop)
        assert task is not None, "attempts run in a task"
        when = (self._time() if now is None else now) + timeout
        watch = Watch(task, when, task.cancelling())
        queue = self._queues.get(timeout)
        if queue is None:
            if len(self._queues) >= MAX_QUEUES:
                self._push(watch)
                return watch
            queue = self._queues[timeout] = _Queue()
        if queue and queue[0].done:
            queue.popleft()  # one finished attempt leaves per new one: the queue stays short
            if queue and queue[0].done:
                queue.popleft()
        queue.append(watch)
        if len(queue) > queue.bound:
            self._compact(queue)
        if when < self._armed_for:
            self._arm(when)
        return watch

    @staticmethod
    def release(watch: Watch) -> None:
        """The attempt ended (the attempt loop sets ``watch.done`` itself)."""
        watch.done = True

    def _push(self, watch: Watch) -> None:
        heap = self._heap
        while heap and heap[0][2].done:
            heapq.heappop(heap)
        heapq.heappush(heap, (watch.when, next(self._order), watch))
        if len(heap) > self._heap_bound:
            heap[:] = [entry for entry in heap if not entry[2].done]
            heapq.heapify(heap)
            self._heap_bound = max(_COMPACT_AT, 2 * len(heap))
        if watch.when < self._armed_for:
            self._arm(watch.when)

    @staticmethod
    def _compact(queue: _Queue) -> None:
        """Drop the done watches behind a head that is still running."""
        kept = [watch for watch in queue if not watch.done]
        queue.clear()
        queue.extend(kept)
        queue.bound = max(_COMPACT_AT, 2 * len(kept))

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._armed_for = float("inf")
        now = self._time()
        earliest = float("inf")
        for timeout, queue in list(self._queues.items()):
            while queue and (queue[0].done or queue[0].when <= now):
                self._expire(queue.popleft())
            if queue:
                earliest = min(earliest, queue[0].when)
            else:
                del self._queues[timeout]  # its slot is free for another timeout
        heap = self._heap
        while heap and (heap[0][2].done or heap[0][0] <= now):
            self._expire(heapq.heappop(heap)[2])
        if heap:
            earliest = min(earliest, heap[0][0])
        if earliest != float("inf"):
            self._arm(earliest)

    @staticmethod
    def _expire(watch: Watch) -> None:
        if not watch.done:
            watch.done = True
            watch.expired = True
            watch.task.cancel()


class Watchdogs:
    """One `Watchdog` per event loop, made when a loop first needs one; call an instance
    to get the running loop's (the async attempt loop does, once per attempt).

    Safe to share between threads, each running its own loop: a loop only ever asks from its
    own thread, and the map is replaced (never changed in place) under a lock. A watchdog
    holds its loop, so the map drops the watchdogs of closed loops whenever a new loop
    arrives; at most the last loop used is kept alive after it closed."""

    __slots__ = ("_by_loop", "_lock", "_running_loop", "last")

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, Watchdog] = {}
        #: The loop that last asked and its watchdog (the async attempt loop reads it
        #: itself, calling the instance when its loop is another).
        self.last: tuple[asyncio.AbstractEventLoop, Watchdog] | None = None
        self._lock = threading.Lock()
        self._running_loop: Callable[[], asyncio.AbstractEventLoop] | None = None

    def __call__(self) -> Watchdog:
        running_loop = self._running_loop
        if running_loop is None:
            import asyncio

            running_loop = self._running_loop = asyncio.get_running_loop
        loop = running_loop()
        last = self.last
        if last is not None and last[0] is loop:  # the usual case: one loop
            return last[1]
        watchdog = self._by_loop.get(loop)
        if watchdog is None:
            watchdog = self._arrived(loop)
        self.last = (loop, watchdog)
        return watchdog

    def _arrived(self, loop: asyncio.AbstractEventLoop) -> Watchdog:
        """The watchdog of a loop seen for the first time; forget those of closed loops."""
        watchdog = Watchdog(loop)
        with self._lock:
            kept = {old: dog for old, dog in self._by_loop.items() if not old.is_closed()}
            kept[loop] = watchdog
            self._by_loop = kept
        return watchdog


#: The process's watchdogs: every async attempt with a timeout, of any manager or OAuth2 flow.
WATCHDOGS = Watchdogs()
