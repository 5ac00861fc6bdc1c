"""ASGI apps over a manager, for any web framework to mount (no framework imported here).

    from nexus_connector_core.asgi import health_app

    app.mount("/health/vendors", health_app(manager))        # FastAPI / Starlette
    # Django (ASGI): route a path to health_app(manager) in your asgi.py

`health_app` answers ``GET`` (and ``HEAD``) with the manager's `HealthReport` as JSON: 200
while the status is ``healthy`` or ``degraded`` (the connectors still serve), 503 when it is
``unhealthy``, so a load balancer or an orchestrator's probe can act on it. Adapters' own
checks are run only with ``?checks=1`` (they may cost a vendor round trip); the report of a
synchronous manager is computed in a worker thread, never on the event loop.

`dashboard_app` serves a live page of the same manager (breakers and their transitions,
traffic, SLOs, alerts, last errors) kept current by Server-Sent Events; see `_dashboard`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from ._async_manager import AsyncConnectorManager
from ._dashboard import dashboard_app
from ._health import HealthReport
from ._manager import ConnectorManager

__all__ = ["dashboard_app", "health_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


def health_app(manager: ConnectorManager | AsyncConnectorManager) -> ASGIApp:
    """An ASGI app serving `manager`'s health (see the module's docstring)."""
    encoder = msgspec.json.Encoder()

    async def report(checks: bool) -> HealthReport:
        if isinstance(manager, AsyncConnectorManager):
            return await manager.health(checks=checks)
        return await asyncio.to_thread(manager.health, checks=checks)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            body = encoder.encode({"error": "method not allowed: use GET"})
            await _answer(send, 405, body, extra=[(b"allow", b"GET, HEAD")])
            return
        query = scope.get("query_string", b"").decode("latin-1")
        checks = any(part in ("checks=1", "checks=true") for part in query.split("&"))
        health = await report(checks)
        body = encoder.encode(health)
        await _answer(send, 200 if health.ok else 503, body, head=method == "HEAD")

    return app


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    head: bool = False,
) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
