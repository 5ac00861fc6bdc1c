"""install(app): what an endpoint lets through is answered as problem details, in a Starlette
app and a FastAPI app, without disturbing the app's own handlers."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from nexus_connector_starlette import install, problem_response
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from nexus_connector_core import ConfigError, PaymentDeclinedError, VendorTimeoutError


def raising(error: Exception) -> Callable[[Request], Response]:
    async def endpoint(request: Request) -> Response:
        raise error

    return endpoint  # type: ignore[return-value]


async def get(app: Starlette, path: str = "/") -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        return await client.get(path)


async def test_a_starlette_endpoints_vendor_timeout_is_a_504_problem() -> None:
    app = Starlette(routes=[Route("/", raising(VendorTimeoutError("no answer in 10 s")))])
    install(app)

    response = await get(app)

    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "vendor_timeout"


async def test_a_fastapi_endpoints_decline_is_a_402_and_its_http_exceptions_stay_its_own() -> None:
    app = FastAPI()
    install(app)

    @app.get("/pay")
    async def pay() -> None:
        raise PaymentDeclinedError("declined", code="card_declined")

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, "no such order")

    declined = await get(app, "/pay")
    not_found = await get(app, "/missing")

    assert (declined.status_code, declined.json()["code"]) == (402, "payment_declined")
    assert (not_found.status_code, not_found.json()) == (404, {"detail": "no such order"})


async def test_a_config_error_is_a_500_without_details_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = ConfigError("environment variable STRIPE_SECRET_KEY is not set", path="x")
    app = Starlette(routes=[Route("/", raising(error))])
    install(app)

    with caplog.at_level(logging.INFO, logger="nexus_connector_starlette"):
        response = await get(app)

    assert response.status_code == 500
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
    }
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert "GET /" in record.getMessage()


async def test_an_unexpected_exception_is_a_500_problem_too() -> None:
    app = Starlette(routes=[Route("/", raising(ZeroDivisionError("1/0")))])
    install(app)

    response = await get(app)

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "ZeroDivisionError" not in response.text


async def test_an_apps_own_handler_for_unexpected_errors_is_kept() -> None:
    async def own(request: Request, error: Exception) -> Response:
        return PlainTextResponse("ours", status_code=500)

    app = Starlette(
        routes=[Route("/", raising(ZeroDivisionError()))], exception_handlers={Exception: own}
    )
    install(app)

    response = await get(app)

    assert response.text == "ours"


def test_problem_response_answers_an_error_in_an_endpoint_of_your_own() -> None:
    response = problem_response(VendorTimeoutError("slow"))

    assert response.status_code == 504
    assert response.media_type == "application/problem+json"
