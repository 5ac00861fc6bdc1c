"""Entry-point module: registers the ``redis`` state backend by name (redis-py is imported
only when a manager uses it)."""

from nexus_connector_core import Registrar, hookimpl


@hookimpl
def register_state_backends(register: Registrar) -> None:
    register(
        "redis",
        "nexus_connector_redis._backend:RedisStateBackend",
        async_impl="nexus_connector_redis._backend:AsyncRedisStateBackend",
        options="nexus_connector_redis._options:RedisOptions",
        description="breakers, limiters, idempotency in Redis or Redis Cluster, for many workers",
    )
