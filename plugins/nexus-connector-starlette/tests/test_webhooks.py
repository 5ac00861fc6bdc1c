"""webhook_route: a Stripe-signed delivery reaches the async handler once; a replay, a forgery,
a failed handler and an oversized body get the answers a sender acts on. Signatures are
Stripe's, made by the Stripe plugin's testing helper."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from nexus_connector_starlette import install, lifespan, webhook_route
from nexus_connector_stripe.testing import signature_header
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response

from nexus_connector_core import PluginError
from nexus_connector_core.webhooks import WebhookEvent

SECRET = "whsec_starlette_test_secret"
CONFIG = {"connectors": {}, "observability": {"loggers": []}}


def event(event_id: str = "evt_1") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": "charge.refunded"}).encode()


def post(client: httpx.Client, body: bytes, secret: str = SECRET) -> httpx.Response:
    header = signature_header(body, secret, int(time.time()))
    return client.post("/stripe", content=body, headers={"Stripe-Signature": header})


class Handler:
    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.failures: list[Exception] = []

    async def __call__(self, event: WebhookEvent) -> Response | None:
        if self.failures:
            raise self.failures.pop()
        self.events.append(event)
        return None


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def client(handler: Handler, serve: Callable[[Any], Any]) -> Iterator[httpx.Client]:
    app = Starlette(
        routes=[webhook_route("/stripe", "stripe", handler, secret=SECRET, max_body=4096)],
        lifespan=lifespan(CONFIG),
    )
    install(app)
    # A connection per delivery, as senders make them: uvicorn closes one after a failure.
    fresh = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=serve(app).url, limits=fresh) as client:
        yield client


def test_a_signed_delivery_reaches_the_handler_once_and_its_replay_is_refused(
    client: httpx.Client, handler: Handler
) -> None:
    first = post(client, event())
    replay = post(client, event())

    assert first.status_code == 200
    assert [(e.id, e.verifier, e.data["type"]) for e in handler.events] == [
        ("evt_1", "stripe", "charge.refunded")
    ]
    assert replay.status_code == 400
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json()["detail"] == "webhook rejected: replayed"


def test_a_forged_or_unsigned_delivery_is_401(client: httpx.Client, handler: Handler) -> None:
    forged = post(client, event(), secret="whsec_attacker")
    unsigned = client.post("/stripe", content=event())

    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert forged.json()["detail"] == "webhook rejected: signature mismatch"
    assert SECRET not in forged.text
    assert handler.events == []


def test_a_failed_handler_is_a_500_and_the_senders_retry_is_taken(
    client: httpx.Client, handler: Handler
) -> None:
    handler.failures.append(RuntimeError("the database is down"))

    failed = post(client, event("evt_2"))
    retried = post(client, event("evt_2"))

    assert (failed.status_code, retried.status_code) == (500, 200)
    assert [e.id for e in handler.events] == ["evt_2"]


def test_a_body_over_the_limit_is_refused(client: httpx.Client, handler: Handler) -> None:
    response = post(client, b"{" + b" " * 5000 + b"}")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("webhook rejected: body too large")


def test_the_handlers_answer_is_the_answer(serve: Callable[[Any], Any]) -> None:
    async def answer(event: WebhookEvent) -> Response:
        return JSONResponse({"seen": event.id}, status_code=202)

    app = Starlette(
        routes=[webhook_route("/stripe", "stripe", answer, secret=SECRET)],
        lifespan=lifespan(CONFIG),
    )
    with httpx.Client(base_url=serve(app).url) as client:
        response = post(client, event("evt_3"))

    assert (response.status_code, response.json()) == (202, {"seen": "evt_3"})


def test_only_post_is_taken(client: httpx.Client) -> None:
    assert client.get("/stripe").status_code == 405


def test_mistakes_show_when_the_route_is_made(handler: Handler) -> None:
    with pytest.raises(PluginError, match="no-such-scheme"):
        webhook_route("/x", "no-such-scheme", handler, secret="s")
    with pytest.raises(ValueError, match="secret is empty"):
        webhook_route("/x", "stripe", handler, secret=[""])


@pytest.mark.parametrize(
    ("limit", "value"),
    [
        ("max_body", 0),
        ("max_body", 2**70),
        ("max_body", 1.5),
        ("max_body", True),
        ("tolerance", float("nan")),
        ("tolerance", float("inf")),
        ("tolerance", -1),
        ("replay_window", 0),
        ("replay_window", float("inf")),
    ],
)
def test_a_limit_that_would_fail_or_disable_every_check_is_refused_at_once(
    limit: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=limit):
        webhook_route("/x", "stripe", Handler(), secret=SECRET, **{limit: value})
