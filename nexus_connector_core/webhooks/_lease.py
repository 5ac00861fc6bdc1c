"""The lease `receive` holds on a delivery's id while the handler runs, and its heartbeat.

The id is claimed for a short lease, not for as long as it must be remembered: if the process
dies mid-handler, the sender's retry is let in once the lease runs out. While the handler
runs, a heartbeat extends the lease every `interval` seconds (a thread for `receive`, a task
for `areceive`), so a handler that runs longer than the lease is never joined by a
duplicate. The heartbeat stops when the handler ends, before the id is stored as handled or
given back.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import TYPE_CHECKING, Final

from .._errors import StateBackendUnavailableError
from .._logging import library_logger

if TYPE_CHECKING:
    from .._state import AsyncStateBackend, StateBackend

__all__ = ["DEFAULT_LEASE", "AsyncHeartbeat", "Heartbeat", "Lease"]

#: Seconds a delivery's id is held by a handler between two heartbeats: how long a sender's
#: retry waits after the process handling it died.
DEFAULT_LEASE: Final = 60.0
#: Heartbeats per lease: two may be missed (a slow backend) before the lease runs out.
_BEATS_PER_LEASE: Final = 3

_log = library_logger("nexus_connector.webhooks")


class Lease:
    """One held claim and how it is kept: what both heartbeats share."""

    def __init__(self, key: str, verifier: str, *, ttl: float, interval: float | None) -> None:
        if not (math.isfinite(ttl) and ttl > 0):
            raise ValueError(f"lease must be a number of seconds above 0, not {ttl}")
        interval = ttl / _BEATS_PER_LEASE if interval is None else interval
        if not 0 < interval < ttl:
            raise ValueError(
                f"heartbeat must be a number of seconds above 0 and below the lease ({ttl:g}), "
                f"not {interval}"
            )
        self.key = key
        self.verifier = verifier
        self.ttl = ttl
        self.interval = interval

    def kept(self, extended: bool) -> bool:
        """Whether to go on after a heartbeat that `extended` the claim or found it gone."""
        if not extended:
            _log.warning(
                "webhook %s: the id of the delivery being handled was lost (its lease ran "
                "out before a heartbeat); a duplicate may be handled beside it",
                self.verifier,
            )
        return extended

    def failed(self, exc: Exception) -> bool:
        """Whether to go on after a heartbeat that raised `exc`: yes while the backend is
        only unreachable (the lease may outlast the outage), no after anything else."""
        if isinstance(exc, StateBackendUnavailableError):
            _log.warning("webhook %s: could not extend the lease: %s", self.verifier, exc)
            return True
        _log.error("webhook %s: the lease heartbeat failed", self.verifier, exc_info=exc)
        return False


class Heartbeat:
    """Extends `owner`'s `Lease` from a thread while the ``with`` block runs."""

    def __init__(self, state: StateBackend, lease: Lease, owner: str) -> None:
        self._state = state
        self._lease = lease
        self._owner = owner
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"nexus-webhook-lease-{lease.verifier}", daemon=True
        )

    def _run(self) -> None:
        lease = self._lease
        while not self._stopped.wait(lease.interval):
            try:
                extended = self._state.idempotency_extend(lease.key, self._owner, ttl=lease.ttl)
            except Exception as exc:  # noqa: BLE001 - a thread has nobody to raise to
                if lease.failed(exc):
                    continue
                return
            if not lease.kept(extended):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join()


class AsyncHeartbeat:
    """Extends `owner`'s `Lease` from a task while the ``async with`` block runs."""

    def __init__(self, state: AsyncStateBackend, lease: Lease, owner: str) -> None:
        self._state = state
        self._lease = lease
        self._owner = owner
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        lease = self._lease
        while True:
            await asyncio.sleep(lease.interval)
            try:
                extended = await self._state.idempotency_extend(
                    lease.key, self._owner, ttl=lease.ttl
                )
            except Exception as exc:  # noqa: BLE001 - a task has nobody to raise to
                if lease.failed(exc):
                    continue
                return
            if not lease.kept(extended):
                return

    async def __aenter__(self) -> AsyncHeartbeat:
        self._task = asyncio.create_task(
            self._run(), name=f"nexus-webhook-lease-{self._lease.verifier}"
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task = self._task
        assert task is not None
        task.cancel()
        # Waits for the heartbeat to end without taking on its cancellation; a cancellation
        # of the caller still propagates.
        await asyncio.wait({task})
