"""Redis state backend for Nexus Connector: one shared brain for many workers and hosts.

``[state] backend = "redis"`` keeps circuit breakers, rate limiters, retry budgets,
idempotency claims and OAuth tokens in Redis (or Redis Cluster), changed only by Lua scripts
that run atomically on the server's clock. `nexus_connector_redis.testing` gives tests a
real Redis.

Names load on first use: discovering the plugin must not import redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = ["__version__", "AsyncRedisStateBackend", "RedisOptions", "RedisStateBackend"]

if TYPE_CHECKING:
    from ._backend import AsyncRedisStateBackend, RedisStateBackend
    from ._options import RedisOptions
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "AsyncRedisStateBackend": "_backend",
            "RedisStateBackend": "_backend",
            "RedisOptions": "_options",
        },
    )
