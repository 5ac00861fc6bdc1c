"""Rate limiting per caller-supplied key (a tenant, a user), set around the calls it covers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["current_limit_key", "limit_key"]

_KEY: ContextVar[str | None] = ContextVar("nexus_connector_limit_key", default=None)


@contextmanager
def limit_key(key: str) -> Iterator[None]:
    """Count the calls made inside this block against `key`'s own rate limit, for connectors
    whose ``rate_limit`` has ``per_key = true`` (a tenant or customer id).

    >>> with limit_key("tenant-42"):  # doctest: +SKIP
    ...     manager.sms.send(message)

    Works across threads' and tasks' own contexts (a `ContextVar`).
    """
    if not isinstance(key, str) or not key:
        raise ValueError("a limit key must be a non-empty string")
    token = _KEY.set(key)
    try:
        yield
    finally:
        _KEY.reset(token)


def current_limit_key() -> str | None:
    """The key set by the innermost `limit_key` block, if any."""
    return _KEY.get()
