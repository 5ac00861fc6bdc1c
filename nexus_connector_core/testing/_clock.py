"""A clock that moves only when told to, so tests of waits and timeouts never sleep."""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A `Clock` whose `sleep` advances time instantly and records how long it was asked.

    >>> clock = FakeClock()
    >>> clock.sleep(2.5)
    >>> clock.sleeps
    [2.5]
    >>> clock.monotonic()
    1002.5

    `time()` moves with `monotonic()`, starting at `wall` (2026-01-01T00:00:00Z by default).
    Thread-safe; `asleep` yields to the event loop once so other tasks can run.
    """

    def __init__(self, start: float = 1000.0, wall: float = 1_767_225_600.0) -> None:
        self._start = start
        self._now = start
        self._wall = wall
        self._lock = threading.Lock()
        #: Every duration passed to `sleep` / `asleep`, in order.
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._wall + (self._now - self._start)

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` without recording a sleep."""
        if seconds < 0:
            raise ValueError("time does not go back")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(seconds, 0.0)

    async def asleep(self, seconds: float) -> None:
        import asyncio

        self.sleep(seconds)
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"FakeClock(monotonic={self._now})"
