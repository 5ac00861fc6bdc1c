"""Nexus Connector for Starlette and FastAPI.

- ``FastAPI(lifespan=lifespan("connectors.toml"))``: the `AsyncConnectorManager` built at
  startup and closed at shutdown; `get_manager` is the dependency that hands it over;
- `install(app)`: our errors answered as ``application/problem+json`` (RFC 9457): a vendor
  outage is a 503 with ``Retry-After``, a rate limit a 429, a decline a 402;
- `webhook_route`: signed webhooks verified, replays refused, each event handed to an async
  handler once; `health_route`: the health report at a path.

Names load on first use, so importing the package imports no part of Starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = [
    "__version__",
    "STATE_KEY",
    "WebhookHandler",
    "get_manager",
    "health_route",
    "install",
    "lifespan",
    "problem_response",
    "webhook_route",
]

if TYPE_CHECKING:
    from ._handlers import install, problem_response
    from ._health import health_route
    from ._lifespan import STATE_KEY, get_manager, lifespan
    from ._webhooks import WebhookHandler, webhook_route
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "install": "_handlers",
            "problem_response": "_handlers",
            "health_route": "_health",
            "STATE_KEY": "_lifespan",
            "get_manager": "_lifespan",
            "lifespan": "_lifespan",
            "WebhookHandler": "_webhooks",
            "webhook_route": "_webhooks",
        },
    )
