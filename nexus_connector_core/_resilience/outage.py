"""What calls do while the state backend cannot be reached (``[state] fail_mode``).

Fail open (the default): a call goes ahead without the guard that needed the backend (its
breaker, limiter, budget or idempotency claim), and the outage is logged on
``nexus_connector.resilience`` and counted. Fail closed: the call fails with the backend's
`StateBackendUnavailableError`. One `StateOutage` per manager is shared by every policy.
"""

from __future__ import annotations

import threading

from .._errors import StateBackendUnavailableError
from .._logging import library_logger

__all__ = ["StateOutage"]

_log = library_logger("nexus_connector.resilience")


class StateOutage:
    """The fail mode, and how many calls went ahead unguarded (thread-safe)."""

    __slots__ = ("_count", "_lock", "fail_open")

    def __init__(self, *, fail_open: bool) -> None:
        self.fail_open = fail_open
        self._count = 0
        self._lock = threading.Lock()

    @property
    def unguarded_calls(self) -> int:
        """Calls let through without their guard because the backend was down."""
        return self._count

    def let_through(self, error: StateBackendUnavailableError, what: str) -> None:
        """Fail open (log `what` is done unguarded, count it) or closed (raise `error`)."""
        if not self.fail_open:
            raise error
        with self._lock:
            self._count += 1
        _log.warning("state backend unavailable, %s: %s", what, error)
