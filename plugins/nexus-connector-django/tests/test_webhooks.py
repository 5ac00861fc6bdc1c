"""webhook_view: a Stripe-signed delivery posted with Django's test client reaches the
``webhook_received`` signal once; a replay, a forgery or a failed handler get the answers a
sender acts on. The signature is Stripe's, made by the Stripe plugin's testing helper."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from demo_shop import receivers
from django.conf import settings
from django.test import Client
from nexus_connector_django import webhook_view
from nexus_connector_django.testing import override_connectors
from nexus_connector_stripe.testing import signature_header

from nexus_connector_core import PluginError

URL = "/webhooks/stripe/"


@pytest.fixture(autouse=True)
def received() -> Iterator[list[Any]]:
    receivers.received.clear()
    receivers.failing.clear()
    with override_connectors():  # the memory state backend remembers the ids
        yield receivers.received
    receivers.received.clear()


def event(event_id: str = "evt_1") -> bytes:
    payload = {"id": event_id, "object": "event", "type": "payment_intent.succeeded"}
    return json.dumps({**payload, "data": {"object": {"id": "pi_1", "amount": 1999}}}).encode()


def post(client: Client, body: bytes, *, secret: str | None = None) -> Any:
    signed = signature_header(body, secret or settings.STRIPE_WEBHOOK_SECRET, int(time.time()))
    return client.post(
        URL, body, content_type="application/json", headers={"Stripe-Signature": signed}
    )


def test_a_signed_delivery_reaches_the_signal_once_and_its_replay_is_refused(
    client: Client, received: list[Any]
) -> None:
    body = event()

    first = post(client, body)
    replay = post(client, body)  # the same event, signed again: a replay by its id

    assert first.status_code == 200
    assert [(e.id, e.verifier, e.data["data"]["object"]["id"]) for e in received] == [
        ("evt_1", "stripe", "pi_1")
    ]
    assert received[0].body == body
    assert replay.status_code == 400
    assert replay["Content-Type"] == "application/problem+json"
    assert replay.json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "webhook rejected: replayed",
    }


def test_a_delivery_signed_with_another_secret_is_401_and_reaches_nobody(
    client: Client, received: list[Any]
) -> None:
    forged = post(client, event(), secret="whsec_someone_else")
    unsigned = client.post(URL, event(), content_type="application/json")

    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert forged.json()["detail"] == "webhook rejected: signature mismatch"
    assert unsigned.json()["detail"] == "webhook rejected: missing header Stripe-Signature"
    assert settings.STRIPE_WEBHOOK_SECRET not in forged.content.decode()
    assert received == []


def test_a_receiver_that_fails_gives_the_id_back_so_the_senders_retry_is_taken(
    received: list[Any],
) -> None:
    receivers.failing.append(RuntimeError("the database is down"))
    client = Client(raise_request_exception=False)

    failed = post(client, event("evt_2"))
    retried = post(client, event("evt_2"))

    assert failed.status_code == 500
    assert retried.status_code == 200
    assert [e.id for e in received] == ["evt_2"]


def test_only_post_is_taken(client: Client) -> None:
    assert client.get(URL).status_code == 405


def test_a_body_over_the_limit_is_refused_unread(rf: Any) -> None:
    view = webhook_view("stripe", secret="whsec_x", max_body=10)
    body = event()
    request = rf.post(URL, body, content_type="application/json")

    response = view(request)

    assert response.status_code == 400
    assert json.loads(response.content)["detail"].startswith("webhook rejected: body too large")


def test_mistakes_show_when_the_urlconf_loads() -> None:
    with pytest.raises(PluginError, match="no-such-scheme"):
        webhook_view("no-such-scheme", secret="s")
    with pytest.raises(ValueError, match="secret is empty"):
        webhook_view("stripe", secret="")
    with pytest.raises(ValueError, match="secret is empty"):
        webhook_view("stripe", secret=[])


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
        webhook_view("stripe", secret="whsec_x", **{limit: value})
