"""What a manager shares with its connectors: the clock, the observer, the open/closed state."""

from __future__ import annotations

from ._clock import Clock
from ._errors import ConnectorError
from ._observe import Observer

__all__ = ["Runtime"]


class Runtime:
    """The per-manager services every connector uses."""

    __slots__ = ("clock", "closed", "observer")

    def __init__(self, clock: Clock, observer: Observer) -> None:
        self.clock = clock
        self.observer = observer
        self.closed = False

    def ensure_open(self) -> None:
        if self.closed:
            raise ConnectorError("the connector manager is closed; make a new one")
