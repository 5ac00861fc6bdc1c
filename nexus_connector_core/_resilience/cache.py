"""The read cache: results of read operations (rates, track, get) kept for a while.

One `cachetools.TTLCache` per connector and operation, keyed by the request's fingerprint,
timed by the pipeline's clock. Only successful results are kept.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import cachetools

from .._clock import Clock
from .._context import CallContext
from .config import CacheConfig
from .idempotency import fingerprint

__all__ = ["ReadCache"]

Handler = Callable[[Any, CallContext], Any]
AsyncHandler = Callable[[Any, CallContext], Awaitable[Any]]


class ReadCache:
    """The cache step of one read operation."""

    def __init__(self, config: CacheConfig, clock: Clock) -> None:
        self._cache: cachetools.TTLCache[bytes, Any] = cachetools.TTLCache(
            maxsize=config.max_entries, ttl=config.ttl, timer=clock.monotonic
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _get(self, key: bytes) -> tuple[bool, Any]:
        with self._lock:
            try:
                value = self._cache[key]
            except KeyError:
                self.misses += 1
                return False, None
            self.hits += 1
            return True, value

    def _put(self, key: bytes, value: Any) -> None:
        with self._lock:
            self._cache[key] = value

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def wrap(self, handler: Handler) -> Handler:
        def cached(request: Any, ctx: CallContext) -> Any:
            key = fingerprint(request)
            hit, value = self._get(key)
            if hit:
                ctx.extras["cache_hit"] = True
                return value
            value = handler(request, ctx)
            self._put(key, value)
            return value

        return cached

    def wrap_async(self, handler: AsyncHandler) -> AsyncHandler:
        async def cached(request: Any, ctx: CallContext) -> Any:
            key = fingerprint(request)
            hit, value = self._get(key)
            if hit:
                ctx.extras["cache_hit"] = True
                return value
            value = await handler(request, ctx)
            self._put(key, value)
            return value

        return cached
