"""`nexus_connector_stripe.testing`, the local Stripe: its documented application test runs,
and it speaks Stripe's API, idempotency included, to any HTTP client (httpx here, not the
plugin's adapter, which it exists to check)."""

from __future__ import annotations

import doctest
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from nexus_connector_stripe import testing
from nexus_connector_stripe.testing import API_KEY, StripeDouble

from nexus_connector_core.testing import FaultServer

CHARGE = {
    "amount": "1999",
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": "true",
    "automatic_payment_methods[enabled]": "true",
    "automatic_payment_methods[allow_redirects]": "never",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_735_689_600.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stripe(clock: Clock) -> StripeDouble:
    return StripeDouble(clock=clock)


@pytest.fixture
def client(stripe_server: FaultServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=stripe_server.url, headers=headers) as client:
        yield client


def post(client: httpx.Client, path: str, data: dict[str, str], key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(path, data=data, headers=headers)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_the_documented_application_test_runs() -> None:
    results = doctest.testmod(testing)

    assert results.attempted > 0
    assert results.failed == 0


def test_the_same_key_and_parameters_replay_the_first_answer_marked_replayed(
    client: httpx.Client, stripe: StripeDouble
) -> None:
    first = post(client, "/v1/payment_intents", CHARGE, "k-1")
    again = post(client, "/v1/payment_intents", CHARGE, "k-1")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert len(stripe.charges) == 1


def test_a_declined_charge_is_kept_for_its_key_and_replayed(
    client: httpx.Client, stripe: StripeDouble
) -> None:
    declined = {**CHARGE, "payment_method": "pm_card_chargeDeclined"}

    first = post(client, "/v1/payment_intents", declined, "k-2")
    again = post(client, "/v1/payment_intents", declined, "k-2")

    assert (first.status_code, again.status_code) == (402, 402)
    assert error_of(again) == error_of(first)
    assert again.headers["idempotent-replayed"] == "true"
    assert (error_of(first)["code"], error_of(first)["decline_code"]) == (
        "card_declined",
        "generic_decline",
    )
    assert len(stripe.payment_intents) == 1


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/v1/payment_intents", {**CHARGE, "amount": "2999"}),
        ("/v1/refunds", {"payment_intent": "pi_x"}),
    ],
    ids=["other-parameters", "other-path"],
)
def test_the_same_key_on_another_request_is_an_idempotency_error(
    client: httpx.Client, stripe: StripeDouble, path: str, data: dict[str, str]
) -> None:
    post(client, "/v1/payment_intents", CHARGE, "k-3")

    response = post(client, path, data, "k-3")

    assert response.status_code == 400
    assert error_of(response)["type"] == "idempotency_error"
    assert len(stripe.charges) == 1


def test_a_key_still_executing_is_a_409(client: httpx.Client, stripe: StripeDouble) -> None:
    hold = stripe.hold_next()
    answers: list[httpx.Response] = []
    first = threading.Thread(
        target=lambda: answers.append(post(client, "/v1/payment_intents", CHARGE, "k-4"))
    )
    first.start()
    try:
        assert hold.arrived.wait(5.0)
        meanwhile = post(client, "/v1/payment_intents", CHARGE, "k-4")
    finally:
        hold.release()
        first.join()

    assert meanwhile.status_code == 409
    assert error_of(meanwhile)["code"] == "idempotency_key_in_use"
    assert answers[0].status_code == 200
    assert len(stripe.charges) == 1


def test_a_request_refused_by_validation_keeps_nothing_for_its_key(
    client: httpx.Client, stripe: StripeDouble
) -> None:
    refused = post(client, "/v1/payment_intents", {**CHARGE, "colour": "red"}, "k-5")
    fixed = post(client, "/v1/payment_intents", CHARGE, "k-5")

    assert (refused.status_code, error_of(refused)["code"]) == (400, "parameter_unknown")
    assert fixed.status_code == 200
    assert "idempotent-replayed" not in fixed.headers


def test_a_key_is_forgotten_after_24_hours(
    client: httpx.Client, stripe: StripeDouble, clock: Clock
) -> None:
    post(client, "/v1/payment_intents", CHARGE, "k-6")
    clock.now += 24 * 3600

    again = post(client, "/v1/payment_intents", CHARGE, "k-6")

    assert "idempotent-replayed" not in again.headers
    assert len(stripe.charges) == 2


def test_a_500_is_kept_for_its_key_as_stripe_keeps_it(
    client: httpx.Client, stripe: StripeDouble
) -> None:
    stripe.fail_executions()

    first = post(client, "/v1/payment_intents", CHARGE, "k-7")
    again = post(client, "/v1/payment_intents", CHARGE, "k-7")

    assert (first.status_code, again.status_code) == (500, 500)
    assert first.headers["stripe-should-retry"] == "false"
    assert again.headers["idempotent-replayed"] == "true"


def test_requests_must_be_stripes(client: httpx.Client, stripe_server: FaultServer) -> None:
    anonymous = httpx.post(f"{stripe_server.url}/v1/payment_intents", data=CHARGE)
    basic = httpx.post(f"{stripe_server.url}/v1/payment_intents", data=CHARGE, auth=(API_KEY, ""))
    as_json = client.post("/v1/payment_intents", json=CHARGE)
    unknown = client.get("/v1/charges/ch_1")
    version = client.get("/v1/payment_intents/pi_1", headers={"Stripe-Version": "yesterday"})
    long_key = post(client, "/v1/payment_intents", CHARGE, "k" * 256)

    assert anonymous.status_code == 401
    assert basic.status_code == 200  # Stripe takes the key as a Basic username too
    assert as_json.status_code == 400
    assert (unknown.status_code, error_of(unknown)["type"]) == (404, "invalid_request_error")
    assert version.status_code == 400
    assert long_key.status_code == 400


def test_a_charge_confirmed_server_side_must_refuse_redirects_or_name_a_return_url(
    client: httpx.Client,
) -> None:
    redirectable = {k: v for k, v in CHARGE.items() if "allow_redirects" not in k}

    response = post(client, "/v1/payment_intents", redirectable, None)

    assert response.status_code == 400
    assert "return_url" in error_of(response)["message"]


def test_a_partial_capture_does_not_count_as_a_refund(
    client: httpx.Client, stripe: StripeDouble
) -> None:
    held = post(client, "/v1/payment_intents", {**CHARGE, "capture_method": "manual"}, None)
    intent = held.json()["id"]

    captured = post(
        client, f"/v1/payment_intents/{intent}/capture", {"amount_to_capture": "1500"}, None
    )
    fetched = client.get(f"/v1/payment_intents/{intent}", params={"expand[]": "latest_charge"})

    assert captured.json()["amount_received"] == 1500
    charge = fetched.json()["latest_charge"]
    assert (charge["amount_captured"], charge["amount_refunded"], charge["refunded"]) == (
        1500,
        0,
        False,
    )
