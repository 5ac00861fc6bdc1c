"""Entry-point module: registers the ``redis`` state backend by name (redis-py is imported
only when a manager uses it)."""

from nexus_connector_core import Registrar, hookimpl

_PACKAGE = "nexus_connector_redis"


@hookimpl
def register_state_backends(register: Registrar) -> None:
    register(
        "redis",
        f"{_PACKAGE}._backend:RedisStateBackend",
        async_impl=f"{_PACKAGE}._backend:AsyncRedisStateBackend",
        options=f"{_PACKAGE}._options:RedisOptions",
        description="breakers, limiters, idempotency in Redis or Redis Cluster, for many workers",
    )
