"""Payments over real sockets against the local Stripe: what goes out, what comes back."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_stripe.testing import API_KEY, StripeDouble, form_of, idempotency_keys

from nexus_connector_core import (
    InvalidRequestError,
    Money,
    ObjectNotFoundError,
    Payment,
    PaymentDeclinedError,
    PaymentRequest,
    Refund,
)
from nexus_connector_core.testing import FaultServer

pytestmark = pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])


def usd(amount: int) -> Money:
    return Money(amount, "USD")


def visa(amount: int = 1999, **extra: Any) -> PaymentRequest:
    return PaymentRequest(amount=usd(amount), payment_method="pm_card_visa", **extra)


async def call(manager: Any, async_: bool, operation: str, *args: Any, **kwargs: Any) -> Any:
    result = getattr(manager.payment, operation)(*args, **kwargs)
    return await result if async_ else result


async def test_a_purchase_is_one_confirmed_automatic_capture_payment_intent(
    make_manager: Any, stripe: StripeDouble, stripe_server: FaultServer, async_: bool
) -> None:
    manager = make_manager(async_=async_)

    payment: Payment = await call(
        manager, async_, "purchase", visa(description="Order 1042", metadata={"order_id": "1042"})
    )

    [request] = stripe_server.requests
    assert (request.method, request.path) == ("POST", "/v1/payment_intents")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["stripe-version"] == "2025-03-31.basil"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["idempotency-key"].startswith("nc-")
    assert form_of(request) == {
        "amount": "1999",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "capture_method": "automatic",
        "automatic_payment_methods": {"enabled": "true", "allow_redirects": "never"},
        "description": "Order 1042",
        "metadata": {"order_id": "1042"},
        "expand": ["latest_charge"],
    }
    [intent] = stripe.payment_intents
    assert (payment.vendor, payment.vendor_id, payment.status) == (
        "stripe",
        intent["id"],
        "succeeded",
    )
    assert (payment.amount, payment.captured, payment.refunded) == (usd(1999), usd(1999), usd(0))
    assert (payment.description, dict(payment.metadata)) == ("Order 1042", {"order_id": "1042"})
    assert payment.raw["object"] == "payment_intent"
    assert not payment.replayed


async def test_authorize_partial_capture_partial_refund_and_get_keep_the_running_totals(
    make_manager: Any, stripe: StripeDouble, stripe_server: FaultServer, async_: bool
) -> None:
    manager = make_manager(async_=async_)

    held: Payment = await call(manager, async_, "authorize", visa(1999))
    captured: Payment = await call(manager, async_, "capture", held.vendor_id, usd(1500))
    refund: Refund = await call(manager, async_, "refund", held.vendor_id, usd(500))
    payment: Payment = await call(manager, async_, "get", held.vendor_id)

    assert (held.status, held.captured) == ("authorized", usd(0))
    assert (captured.status, captured.captured) == ("succeeded", usd(1500))
    assert (refund.payment_id, refund.amount, refund.status) == (
        held.vendor_id,
        usd(500),
        "succeeded",
    )
    assert refund.vendor_id.startswith("re_")
    assert (payment.status, payment.captured, payment.refunded) == (
        "partially_refunded",
        usd(1500),
        usd(500),
    )
    [charge] = stripe.charges
    assert (charge["amount_captured"], charge["amount_refunded"]) == (1500, 500)
    sent = [(r.method, r.path.split("?")[0]) for r in stripe_server.requests]
    intent = f"/v1/payment_intents/{held.vendor_id}"
    assert sent == [
        ("POST", "/v1/payment_intents"),
        ("GET", intent),  # the currency of the capture checked first
        ("POST", f"{intent}/capture"),
        ("GET", intent),  # the currency of the refund checked first
        ("POST", "/v1/refunds"),
        ("GET", intent),
    ]
    _, capture_form, refund_form = [
        form_of(r) for r in stripe_server.requests if r.method == "POST"
    ]
    assert capture_form == {"amount_to_capture": "1500", "expand": ["latest_charge"]}
    assert refund_form == {"payment_intent": held.vendor_id, "amount": "500"}
    keys = idempotency_keys(stripe_server.requests)
    assert None not in keys
    assert len(set(keys)) == 3  # one key per call
    assert all(
        "idempotency-key" not in r.headers for r in stripe_server.requests if r.method == "GET"
    )


async def test_void_cancels_the_payment_intent_with_a_key_of_its_own(
    make_manager: Any, stripe: StripeDouble, stripe_server: FaultServer, async_: bool
) -> None:
    manager = make_manager(async_=async_)
    held: Payment = await call(manager, async_, "authorize", visa())

    voided: Payment = await call(manager, async_, "void", held.vendor_id)

    assert (voided.vendor_id, voided.status, voided.captured) == (
        held.vendor_id,
        "canceled",
        usd(0),
    )
    cancel = stripe_server.requests[-1]
    assert cancel.path == f"/v1/payment_intents/{held.vendor_id}/cancel"
    assert cancel.headers["idempotency-key"] != stripe_server.requests[0].headers["idempotency-key"]
    assert stripe.payment_intents[0]["status"] == "canceled"


async def test_a_declined_card_raises_payment_declined_with_its_decline_code_attempted_once(
    make_manager: Any, stripe: StripeDouble, stripe_server: FaultServer, async_: bool
) -> None:
    retries = {"retry": {"max_attempts": 3, "backoff": "fixed", "base": 0.01}}
    manager = make_manager(async_=async_, resilience=retries)
    declined = PaymentRequest(amount=usd(1999), payment_method="pm_card_chargeDeclined")

    with pytest.raises(PaymentDeclinedError) as caught:
        await call(manager, async_, "purchase", declined)

    error = caught.value
    assert (error.code, error.decline_code, error.status_code) == (
        "card_declined",
        "generic_decline",
        402,
    )
    assert error.vendor_message == "Your card was declined."
    assert (error.retryable, error.maybe_processed) == (False, False)
    assert stripe_server.hits == 1
    assert stripe.charges == []
    assert stripe.payment_intents[0]["status"] == "requires_payment_method"


async def test_an_issuer_reason_is_kept_apart_from_stripes_code(
    make_manager: Any, stripe_server: FaultServer, async_: bool
) -> None:
    manager = make_manager(async_=async_)
    broke = PaymentRequest(
        amount=usd(1999), payment_method="pm_card_chargeDeclinedInsufficientFunds"
    )

    with pytest.raises(PaymentDeclinedError) as caught:
        await call(manager, async_, "authorize", broke)

    assert (caught.value.code, caught.value.decline_code) == ("card_declined", "insufficient_funds")


async def test_a_capture_in_another_currency_never_reaches_the_capture_endpoint(
    make_manager: Any, stripe: StripeDouble, stripe_server: FaultServer, async_: bool
) -> None:
    manager = make_manager(async_=async_)
    held: Payment = await call(manager, async_, "authorize", visa())

    with pytest.raises(InvalidRequestError) as caught:
        await call(manager, async_, "capture", held.vendor_id, Money(500, "EUR"))

    assert (caught.value.code, caught.value.maybe_processed) == ("currency_mismatch", False)
    assert "in USD" in str(caught.value)
    assert [r.method for r in stripe_server.requests] == ["POST", "GET"]
    assert stripe.payment_intents[0]["amount_received"] == 0


@pytest.mark.parametrize(
    "payment_id", ["pay_0123", "pi_../../v1/customers", "pi_x?expand[]=y", "", "pi_" + "a" * 300]
)
async def test_an_id_that_is_not_a_payment_intents_is_refused_before_sending(
    make_manager: Any, stripe_server: FaultServer, async_: bool, payment_id: str
) -> None:
    manager = make_manager(async_=async_)

    for operation in ("get", "capture", "void", "refund"):
        with pytest.raises((ObjectNotFoundError, ValueError)):
            await call(manager, async_, operation, payment_id)

    assert stripe_server.hits == 0


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ({"a[b]": "1"}, "no square brackets"),
        ({"k" * 41: "1"}, "1 to 40 characters"),
        ({"note": "x" * 501}, "more than 500"),
        ({f"k{i}": "v" for i in range(51)}, "at most 50"),
    ],
)
async def test_metadata_stripe_would_refuse_is_refused_before_sending(
    make_manager: Any, stripe_server: FaultServer, async_: bool, metadata: dict[str, str], says: str
) -> None:
    manager = make_manager(async_=async_)

    with pytest.raises(InvalidRequestError, match=says) as caught:
        await call(manager, async_, "purchase", visa(metadata=metadata))

    assert not caught.value.maybe_processed
    assert stripe_server.hits == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"description": "bad \udc80"},
        {"metadata": {"note": "\ud800"}},
        {"metadata": {"\udfff": "x"}},
    ],
    ids=["description", "metadata-value", "metadata-key"],
)
async def test_text_without_a_utf8_form_is_refused_before_sending(
    make_manager: Any, stripe_server: FaultServer, async_: bool, extra: dict[str, Any]
) -> None:
    manager = make_manager(async_=async_)

    with pytest.raises(InvalidRequestError, match="no UTF-8 form") as caught:
        await call(manager, async_, "purchase", visa(**extra))

    assert not caught.value.maybe_processed
    assert stripe_server.hits == 0


async def test_a_refund_reason_stripe_does_not_take_is_refused_and_one_it_takes_is_sent(
    make_manager: Any, stripe_server: FaultServer, async_: bool
) -> None:
    manager = make_manager(async_=async_)
    paid: Payment = await call(manager, async_, "purchase", visa())

    with pytest.raises(InvalidRequestError, match="requested_by_customer"):
        await call(manager, async_, "refund", paid.vendor_id, reason="changed mind")
    refund: Refund = await call(
        manager, async_, "refund", paid.vendor_id, reason="requested_by_customer"
    )

    assert refund.raw["reason"] == "requested_by_customer"
    assert form_of(stripe_server.requests[-1])["reason"] == "requested_by_customer"


async def test_a_customer_stripe_knows_is_sent_and_one_it_does_not_is_object_not_found(
    make_manager: Any, async_: bool
) -> None:
    manager = make_manager(async_=async_)

    payment: Payment = await call(manager, async_, "purchase", visa(customer="cus_nexus"))
    with pytest.raises(ObjectNotFoundError, match="param customer"):
        await call(manager, async_, "purchase", visa(customer="cus_unknown"))

    assert payment.customer == "cus_nexus"
