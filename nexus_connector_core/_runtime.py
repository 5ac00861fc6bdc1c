"""What a manager shares with its connectors: clock, observer, state backend, open/closed."""

from __future__ import annotations

import threading
from typing import Any

from ._clock import Clock
from ._errors import ConnectorError
from ._observe import Observer
from ._resilience.watchdog import Watchdogs

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
        "clock",
        "closed",
        "fail_open",
        "observer",
        "state",
        "unguarded",
        "watchdogs",
    )

    def __init__(self, clock: Clock, observer: Observer, state: Any, *, fail_open: bool) -> None:
        self.clock = clock
        self.observer = observer
        self.state = state
        self.fail_open = fail_open
        self.closed = False
        #: Calls let through without their guard because the state backend was down.
        self.unguarded = Tally()
        #: The attempt-timeout watchdog of the running event loop: ``runtime.watchdogs()``.
        self.watchdogs = Watchdogs()

    def ensure_open(self) -> None:
        if self.closed:
            raise ConnectorError("the connector manager is closed; make a new one")
