"""The ``[state]`` options of the Redis backend."""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec

__all__ = ["RedisOptions"]


class RedisOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to reach Redis.

    ``url`` is a redis-py URL (``redis://``, ``rediss://`` for TLS, ``unix://``); a password
    in it is never shown in errors or logs. ``cluster = true`` (or a ``redis+cluster://``
    URL) uses Redis Cluster, with the URL's host as the first node. Every command gives up
    after ``timeout`` seconds (``connect_timeout`` to connect), so a call never waits longer
    on an unreachable Redis; the pipeline then fails open or closed as ``[state] fail_mode``
    says.
    """

    url: str = "redis://127.0.0.1:6379/0"
    cluster: bool = False
    pool_size: int = 64
    timeout: float = 0.25
    connect_timeout: float = 0.25

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"):
            raise ValueError(
                f"url must start with redis://, rediss://, unix:// or redis+cluster://, "
                f"got {parts.scheme or 'no scheme'}://"
            )
        if self.pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {self.pool_size}")
        if not (0 < self.timeout <= 60 and 0 < self.connect_timeout <= 60):
            raise ValueError("timeout and connect_timeout must be between 0 and 60 seconds")

    @property
    def is_cluster(self) -> bool:
        return self.cluster or "+cluster" in urlsplit(self.url).scheme

    @property
    def client_url(self) -> str:
        """The URL redis-py understands (``+cluster`` removed)."""
        return self.url.replace("+cluster://", "://", 1)

    @property
    def safe_url(self) -> str:
        """The URL without credentials, for messages."""
        parts = urlsplit(self.client_url)
        host = parts.hostname or parts.path or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"
