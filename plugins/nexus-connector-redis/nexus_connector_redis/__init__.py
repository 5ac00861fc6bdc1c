"""Redis state backend for Nexus Connector: one shared brain for many workers and hosts.

``[state] backend = "redis"`` keeps circuit breakers, rate limiters, retry budgets,
idempotency claims and OAuth tokens in Redis (or Redis Cluster), changed only by Lua scripts
that run atomically on the server's clock.

Names load on first use: discovering the plugin must not import redis-py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["AsyncRedisStateBackend", "RedisOptions", "RedisStateBackend"]

_EXPORTS = {
    "AsyncRedisStateBackend": "_backend",
    "RedisStateBackend": "_backend",
    "RedisOptions": "_options",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from ._backend import AsyncRedisStateBackend, RedisStateBackend
    from ._options import RedisOptions
