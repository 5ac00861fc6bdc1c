"""The lifespan that builds the `AsyncConnectorManager` and closes it, and the dependency that
hands it to endpoints."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias

from starlette.requests import HTTPConnection

from nexus_connector_core import (
    AsyncConnectorManager,
    CallLogger,
    Clock,
    PluginRegistry,
)

__all__ = ["STATE_KEY", "ConfigSource", "get_manager", "lifespan"]

#: Where the manager is kept: ``app.state.nexus_connector`` and the lifespan state.
STATE_KEY = "nexus_connector"

#: A config file's path, or the config itself as a mapping (what ``from_config`` reads).
ConfigSource: TypeAlias = str | os.PathLike[str] | Mapping[str, Any]


def lifespan(
    config: ConfigSource | None = None,
    *,
    registry: PluginRegistry | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    loggers: Sequence[CallLogger] = (),
) -> Callable[[Any], AbstractAsyncContextManager[dict[str, Any]]]:
    """A lifespan for ``Starlette(lifespan=...)`` / ``FastAPI(lifespan=...)``.

    At startup it builds the `AsyncConnectorManager` from `config` (a path or a mapping;
    None: ``$NEXUS_CONNECTOR_CONFIG`` or ``./connectors.toml``), so a config error stops the
    app from starting; it keeps the manager in ``app.state.nexus_connector`` and in the
    lifespan state (which mounted sub-apps see too); at shutdown it closes it, releasing
    every adapter's connections. The other arguments are ``from_config``'s.

    To run it beside a lifespan of your own, enter it in yours::

        nexus = lifespan("connectors.toml")

        @asynccontextmanager
        async def app_lifespan(app):
            async with nexus(app) as state:
                ...  # your own startup
                yield state
    """

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[dict[str, Any]]:
        manager = AsyncConnectorManager.from_config(
            config, registry=registry, environ=environ, clock=clock, loggers=loggers
        )
        setattr(app.state, STATE_KEY, manager)
        try:
            yield {STATE_KEY: manager}
        finally:
            await manager.aclose()

    return run


def get_manager(connection: HTTPConnection) -> AsyncConnectorManager:
    """The app's `AsyncConnectorManager`: a FastAPI dependency, or call it with the request.

    >>> @app.post("/orders/{number}/confirm")                           # doctest: +SKIP
    ... async def confirm(number: int, nexus: AsyncConnectorManager = Depends(get_manager)):
    ...     await nexus.email.send(EmailMessage(...))

    Raises `RuntimeError` when the app was not started with `lifespan`.
    """
    found = getattr(connection.state, STATE_KEY, None)
    if found is None:
        found = getattr(connection.app.state, STATE_KEY, None)
    if not isinstance(found, AsyncConnectorManager):
        raise RuntimeError(
            "no Nexus Connector manager: start the app with "
            "lifespan=nexus_connector_starlette.lifespan(...) (a TestClient runs the lifespan "
            "only inside `with TestClient(app) as client:`)"
        )
    return found
