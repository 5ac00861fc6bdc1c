"""A FastAPI app served by uvicorn on 127.0.0.1: its endpoint sends email through the
manager the lifespan built; a vendor outage is a 503 with ``Retry-After`` and problem
details while the breaker is open, a rate limit a 429, and it answers 200 again once the
vendor recovers; at shutdown the lifespan closes the manager and its connections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import httpx
import psutil
from fastapi import Depends, FastAPI
from nexus_connector_postmark.testing import PostmarkDouble
from nexus_connector_starlette import get_manager, install, lifespan

from nexus_connector_core import AsyncConnectorManager, EmailMessage
from nexus_connector_core.testing import FakeClock, FaultServer

PROBLEM = "application/problem+json"


#: What an endpoint declares to get the manager.
Nexus = Annotated[AsyncConnectorManager, Depends(get_manager)]


def shop(config: dict[str, Any], clock: FakeClock | None = None, **options: Any) -> FastAPI:
    """The application under test: what a user writes."""
    app = FastAPI(lifespan=lifespan(config, clock=clock, **options))
    install(app)

    @app.post("/orders/{number}/confirm")
    async def confirm(number: int, nexus: Nexus) -> dict[str, str]:
        receipt = await nexus.email.send(
            EmailMessage(
                sender="shop@example.com",
                to=["ada@example.com"],
                subject=f"Order {number} confirmed",
                text="It ships today.",
            )
        )
        return {"id": receipt.vendor_id}

    return app


def memory_email(**email: Any) -> dict[str, Any]:
    return {
        "connectors": {"email": {"vendor": "memory", **email}},
        "observability": {"loggers": []},
    }


def test_while_the_breaker_is_open_the_endpoint_answers_503_with_retry_after_then_200_again(
    serve: Callable[[Any], Any], clock: FakeClock, trigger_happy: dict[str, Any]
) -> None:
    app = shop(memory_email(options={"fail_first": 1}, resilience=trigger_happy), clock)
    url = serve(app).url + "/orders/7/confirm"

    outage = httpx.post(url)  # the vendor fails: the breaker opens
    opened = httpx.post(url)
    clock.advance(31.0)  # past open_for: the next call is the trial that closes it
    recovered = httpx.post(url)

    assert outage.status_code == 503
    assert outage.headers["content-type"] == PROBLEM
    assert outage.json()["code"] == "vendor_unavailable"
    assert opened.status_code == 503
    assert opened.headers["content-type"] == PROBLEM
    assert opened.headers["retry-after"] == "30"
    assert opened.json() == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "A service this request needs is failing; calls to it are paused. Retry later.",
        "code": "circuit_open",
        "retry_after": 30,
    }
    assert recovered.status_code == 200
    assert recovered.json()["id"].endswith("@memory.nexus-connector>")


def test_a_rate_limited_endpoint_answers_429_with_retry_after(
    serve: Callable[[Any], Any], clock: FakeClock
) -> None:
    limited = {"retry": {"enabled": False}, "rate_limit": {"rate": 1, "per": 60, "burst": 1}}
    url = serve(shop(memory_email(resilience=limited), clock)).url + "/orders/7/confirm"

    first = httpx.post(url)
    second = httpx.post(url)

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["content-type"] == PROBLEM
    assert second.headers["retry-after"] == "60"
    assert (second.json()["code"], second.json()["retry_after"]) == ("rate_limited", 60)


def test_the_vendors_own_429_is_a_429_too(serve: Callable[[Any], Any]) -> None:
    email = memory_email(
        options={"fail_first": 1, "failure": "rate_limited", "retry_after": 2.5},
        resilience={"retry": {"enabled": False}},
    )
    url = serve(shop(email)).url + "/orders/7/confirm"

    refused = httpx.post(url)

    assert (refused.status_code, refused.headers["retry-after"]) == (429, "3")


def _connections_to(port: int) -> int:
    """This process's open client connections to 127.0.0.1:`port`."""
    return sum(
        1
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def test_the_lifespan_closes_the_manager_and_its_connections_at_shutdown(
    serve: Callable[[Any], Any],
) -> None:
    postmark = PostmarkDouble(server_token="app-test-token")
    with FaultServer(default=postmark) as vendor:
        email = {
            "vendor": "postmark",
            "credentials": {"server_token": "env:POSTMARK_SERVER_TOKEN"},
            "options": {"base_url": vendor.url},
        }
        app = shop(
            {"connectors": {"email": email}, "observability": {"loggers": []}},
            environ={"POSTMARK_SERVER_TOKEN": "app-test-token"},
        )
        served = serve(app)
        port = int(vendor.url.rsplit(":", 1)[1])

        sent = httpx.post(served.url + "/orders/7/confirm")
        manager = app.state.nexus_connector
        pooled = _connections_to(port)  # kept alive for the next call
        served.stop()

        assert sent.status_code == 200
        assert [m["Subject"] for m in postmark.outbox] == ["Order 7 confirmed"]
        assert pooled >= 1
        assert manager.closed
        assert _connections_to(port) == 0
