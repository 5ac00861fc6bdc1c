"""The read cache: results of read operations (rates, track, get) kept for a while.

One `cachetools.TTLCache` per connector and operation, keyed by the request's fingerprint,
timed by the pipeline's clock. Only successful results are kept.
"""

from __future__ import annotations

import threading
from typing import Any

import cachetools

from .._clock import Clock
from .._pipeline import AsyncHandler, Handler, Req, Res
from .config import CacheConfig

__all__ = ["ReadCache"]


class ReadCache:
    """The cache step of one read operation: a `Middleware`."""

    def __init__(self, config: CacheConfig, clock: Clock) -> None:
        self._cache: cachetools.TTLCache[bytes, Any] = cachetools.TTLCache(
            maxsize=config.max_entries, ttl=config.ttl, timer=clock.monotonic
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> tuple[bool, Any]:
        """Whether a result is kept for `key`, and the result."""
        with self._lock:
            try:
                value = self._cache[key]
            except KeyError:
                self.misses += 1
                return False, None
            self.hits += 1
            return True, value

    def put(self, key: bytes, value: Any) -> None:
        """Keep `value` for `key`."""
        with self._lock:
            self._cache[key] = value

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def wrap(self, handler: Handler[Req, Res]) -> Handler[Req, Res]:
        """The synchronous cache step around `handler` (see `_steps.cached`)."""
        from . import _steps

        return _steps.cached(self, handler)

    def wrap_async(self, handler: AsyncHandler[Req, Res]) -> AsyncHandler[Req, Res]:
        """The asynchronous cache step (see `_async_steps.cached`)."""
        from . import _async_steps

        return _async_steps.cached(self, handler)
