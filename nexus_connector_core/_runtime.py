"""What a manager shares with its connectors: clock, observer, state backend, open/closed."""

from __future__ import annotations

from typing import Generic, TypeVar

from ._clock import Clock
from ._errors import ConnectorError
from ._observe import Observer
from ._resilience.outage import StateOutage
from ._state import AsyncStateBackend, StateBackend

__all__ = ["Runtime"]

S = TypeVar("S", StateBackend, AsyncStateBackend)


class Runtime(Generic[S]):
    """The per-manager services every connector uses.

    `state` is the state backend: a `StateBackend` for the sync manager, an
    `AsyncStateBackend` for the async one; `outage` says what calls do while it is down.
    """

    __slots__ = ("clock", "closed", "observer", "outage", "state")

    def __init__(self, clock: Clock, observer: Observer, state: S, *, fail_open: bool) -> None:
        self.clock = clock
        self.observer = observer
        self.state: S = state
        self.outage = StateOutage(fail_open=fail_open)
        self.closed = False

    def ensure_open(self) -> None:
        if self.closed:
            raise ConnectorError("the connector manager is closed; make a new one")
