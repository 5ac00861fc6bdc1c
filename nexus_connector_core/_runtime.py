"""What a manager shares with its connectors: clock, observer, state backend, open/closed."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ._clock import Clock
from ._errors import ConnectorError
from ._observe import Observer
from ._resilience.watchdog import Watchdog

__all__ = ["Runtime", "Tally"]


class Tally:
    """A thread-safe count of rare events (calls let through with the state backend down)."""

    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


class Runtime:
    """The per-manager services every connector uses.

    `state` is the state backend: a `StateBackend` for the sync manager, an
    `AsyncStateBackend` for the async one. `fail_open` says what to do when it is down.
    """

    __slots__ = (
        "_last",
        "_watchdogs",
        "clock",
        "closed",
        "fail_open",
        "observer",
        "state",
        "unguarded",
    )

    def __init__(self, clock: Clock, observer: Observer, state: Any, *, fail_open: bool) -> None:
        self.clock = clock
        self.observer = observer
        self.state = state
        self.fail_open = fail_open
        self.closed = False
        #: Calls let through without their guard because the state backend was down.
        self.unguarded = Tally()
        self._watchdogs: weakref.WeakKeyDictionary[Any, Watchdog] = weakref.WeakKeyDictionary()
        self._last: tuple[Any, Watchdog] | None = None

    def watchdog(self) -> Watchdog:
        """The attempt-timeout watchdog of the running event loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop:
            return last[1]
        watchdog = self._watchdogs.get(loop)
        if watchdog is None:
            watchdog = self._watchdogs[loop] = Watchdog(loop)
        self._last = (loop, watchdog)
        return watchdog

    def ensure_open(self) -> None:
        if self.closed:
            raise ConnectorError("the connector manager is closed; make a new one")
