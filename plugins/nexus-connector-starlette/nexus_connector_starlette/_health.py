"""`health_route`: the core's health app, served at a path of the app."""

from __future__ import annotations

import weakref

from starlette.requests import HTTPConnection
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nexus_connector_core import AsyncConnectorManager
from nexus_connector_core.asgi import health_app

from ._lifespan import get_manager

__all__ = ["health_route"]


def health_route(path: str = "/health", *, name: str | None = "nexus_connector_health") -> Route:
    """A route serving the manager's `HealthReport` as JSON at `path`: 200 while the
    connectors serve (``healthy`` or ``degraded``), 503 when ``unhealthy``; ``?checks=1``
    runs the adapters' own checks (see `nexus_connector_core.asgi.health_app`).

    >>> app = Starlette(routes=[health_route("/health/vendors")],
    ...                 lifespan=lifespan("connectors.toml"))           # doctest: +SKIP
    """
    return Route(path, _HealthEndpoint(), name=name)


class _HealthEndpoint:
    """The health app of the manager the lifespan built (known only once the app runs)."""

    def __init__(self) -> None:
        self._apps: weakref.WeakKeyDictionary[AsyncConnectorManager, ASGIApp] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = get_manager(HTTPConnection(scope))
        app = self._apps.get(manager)
        if app is None:
            app = self._apps[manager] = health_app(manager)
        await app(scope, receive, send)
