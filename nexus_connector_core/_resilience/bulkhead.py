"""The bulkhead: at most N calls of a connector in flight in this process."""

from __future__ import annotations

import queue
from collections.abc import Awaitable, Callable

from .._errors import RateLimitExceededError

__all__ = ["Bulkhead"]


class Bulkhead:
    """At most `limit` calls in flight per connector in this process, sync or async.

    The free slots are tokens in a `queue.SimpleQueue` (C, atomic): taking one and giving it
    back cost less than one lock round each, and a full bulkhead with `max_wait` blocks on
    the queue itself. The attempt loop takes and gives back `slots` itself (``get_nowait``,
    ``put(None)``), falling back to `acquire` or `wait_for_slot` when none is free.
    """

    def __init__(self, limit: int, max_wait: float) -> None:
        self.limit = limit
        self.max_wait = max_wait
        #: The free slots, one token each.
        self.slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(limit):
            self.slots.put(None)

    @property
    def in_flight(self) -> int:
        return self.limit - self.slots.qsize()

    def _full(self) -> RateLimitExceededError:
        return RateLimitExceededError(
            f"bulkhead full: {self.limit} calls already in flight", local=True, retry_after=None
        )

    def try_acquire(self) -> bool:
        """Take a slot if one is free."""
        try:
            self.slots.get_nowait()
        except queue.Empty:
            return False
        return True

    def acquire(self, within: float | None = None) -> None:
        """Take a slot, waiting up to `max_wait` (and at most `within` seconds, what is left
        of the call's deadline) for one; raise when none frees up."""
        wait = self.max_wait if within is None else min(self.max_wait, within)
        try:
            if wait > 0:
                self.slots.get(timeout=wait)
            else:
                self.slots.get_nowait()
        except queue.Empty:
            raise self._full() from None

    async def wait_for_slot(
        self, clock_sleep: Callable[[float], Awaitable[None]], within: float | None = None
    ) -> None:
        """The async slow path after `try_acquire` failed: poll until `max_wait` (or
        `within`) is spent."""
        limit = self.max_wait if within is None else min(self.max_wait, within)
        waited = 0.0
        while waited < limit:
            step = min(0.005, limit - waited)
            await clock_sleep(step)
            waited += step
            if self.try_acquire():
                return
        raise self._full()

    def release(self) -> None:
        self.slots.put(None)
