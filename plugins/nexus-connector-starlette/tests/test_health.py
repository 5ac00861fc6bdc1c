"""health_route: the manager's health report at a path of the app, 503 when unhealthy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from nexus_connector_starlette import get_manager, health_route, lifespan
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nexus_connector_core import ConnectorError, EmailMessage
from nexus_connector_core.testing import FakeClock


async def send(request: Request) -> Response:
    message = EmailMessage(sender="shop@example.com", to=["ada@example.com"], text="x")
    try:
        await get_manager(request).email.send(message)
    except ConnectorError:
        return Response(status_code=503)
    return Response(status_code=200)


def test_the_health_report_is_served_at_its_path_503_while_unhealthy(
    serve: Callable[[Any], Any], clock: FakeClock, trigger_happy: dict[str, Any]
) -> None:
    email = {"vendor": "memory", "options": {"fail_first": 1}, "resilience": trigger_happy}
    config = {"connectors": {"email": email}, "observability": {"loggers": []}}
    routes = [health_route("/health/vendors"), Route("/send", send, methods=["POST"])]
    url = serve(Starlette(routes=routes, lifespan=lifespan(config, clock=clock))).url

    healthy = httpx.get(url + "/health/vendors")
    failed = httpx.post(url + "/send")  # the breaker opens
    unhealthy = httpx.get(url + "/health/vendors")
    wrong_method = httpx.post(url + "/health/vendors")

    assert healthy.status_code == 200
    assert healthy.json()["status"] == "healthy"
    assert failed.status_code == 503
    assert unhealthy.status_code == 503
    assert unhealthy.json()["connectors"]["email"]["vendors"][0]["breaker"] == "open"
    assert wrong_method.status_code == 405
