"""Redis state backend for Nexus Connector: one shared brain for many workers and hosts.

``[state] backend = "redis"`` keeps circuit breakers, rate limiters, retry budgets,
idempotency claims and OAuth tokens in Redis (or Redis Cluster), changed only by Lua scripts
that run atomically on the server's clock.
"""

from ._backend import AsyncRedisStateBackend, RedisStateBackend
from ._options import RedisOptions

__all__ = ["AsyncRedisStateBackend", "RedisOptions", "RedisStateBackend"]
