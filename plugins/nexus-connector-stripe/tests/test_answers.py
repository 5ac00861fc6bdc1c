"""Reading Stripe's answers (pure): PaymentIntent states as payment states, and the error
table on answers no fault script of the suite makes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from nexus_connector_stripe._answers import read_payment, read_refund, vendor_error

from nexus_connector_core import (
    InvalidRequestError,
    Money,
    PaymentDeclinedError,
    RateLimitExceededError,
    VendorUnavailableError,
)


def intent(status: str, *, received: int = 0, refunded: int | None = None) -> dict[str, Any]:
    charge = None if refunded is None else {"id": "ch_1", "amount_refunded": refunded}
    return {
        "id": "pi_1",
        "object": "payment_intent",
        "amount": 1999,
        "amount_received": received,
        "currency": "eur",
        "status": status,
        "latest_charge": charge,
        "metadata": {"order_id": "1042"},
        "payment_method": "pm_1",
    }


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (intent("requires_capture"), "authorized"),
        (intent("succeeded", received=1999, refunded=0), "succeeded"),
        (intent("succeeded", received=1500, refunded=500), "partially_refunded"),
        (intent("succeeded", received=1500, refunded=1500), "refunded"),
        (intent("canceled"), "canceled"),
        (intent("requires_action"), "pending"),
        (intent("processing"), "pending"),
        (intent("requires_payment_method"), "failed"),
    ],
)
def test_a_payment_intent_reads_as_the_payment_state(data: dict[str, Any], status: str) -> None:
    payment = read_payment(data, "stripe")

    assert payment.status == status
    assert payment.amount == Money(1999, "EUR")


@pytest.mark.parametrize(
    "data",
    [
        {"object": "refund"},
        {**intent("succeeded"), "status": "paid"},
        {**intent("succeeded"), "amount": "1999"},
        {**intent("succeeded"), "amount": True},
        {**intent("succeeded"), "currency": "zzz"},
        {**intent("succeeded"), "amount": 10**16},
    ],
    ids=["other-object", "unknown-status", "text-amount", "bool-amount", "currency", "huge"],
)
def test_what_is_not_a_payment_intent_is_refused_by_the_reader(data: dict[str, Any]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        read_payment(data, "stripe")


#: Numbers no amount of Stripe's can be: each makes an answer unreadable.
NOT_AMOUNTS = [-3, -(2**70), 2**70, float("inf"), float("nan"), 1999.0, True]
NOT_AMOUNT_IDS = ["negative", "very-negative", "2**70", "inf", "nan", "float", "bool"]


@pytest.mark.parametrize("value", NOT_AMOUNTS, ids=NOT_AMOUNT_IDS)
@pytest.mark.parametrize("field", ["amount", "amount_received", "amount_refunded"])
def test_an_amount_no_payment_intent_has_is_refused_by_the_reader(field: str, value: Any) -> None:
    data = intent("succeeded", received=1500, refunded=0)
    (data["latest_charge"] if field == "amount_refunded" else data)[field] = value

    # Named by the reader, or by Money for a number beyond what it holds.
    with pytest.raises(ValueError, match=rf"{field}|Money\.amount"):
        read_payment(data, "stripe")


def test_a_payment_intent_of_no_amount_is_refused_by_the_reader() -> None:
    with pytest.raises(ValueError, match="amount"):
        read_payment({**intent("requires_capture"), "amount": 0}, "stripe")


@pytest.mark.parametrize("value", [0, *NOT_AMOUNTS], ids=["zero", *NOT_AMOUNT_IDS])
def test_a_refund_of_an_amount_stripe_cannot_refund_is_refused_by_the_reader(value: Any) -> None:
    refund = {
        "id": "re_1",
        "object": "refund",
        "amount": value,
        "currency": "usd",
        "payment_intent": "pi_1",
        "status": "succeeded",
    }

    with pytest.raises(ValueError, match="amount"):
        read_refund(refund, "stripe")


def answer(status: int, error: Any, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "https://api.stripe.com/v1/payment_intents")
    return httpx.Response(status, json={"error": error}, headers=headers, request=request)


def test_a_card_error_without_an_issuer_reason_keeps_stripes_code() -> None:
    error = vendor_error(
        answer(402, {"type": "card_error", "code": "expired_card", "message": "Expired."}), 0.0
    )

    assert isinstance(error, PaymentDeclinedError)
    assert (error.code, error.decline_code) == ("expired_card", None)
    assert str(error) == "Stripe declined the payment (402, code expired_card): Expired."


def test_the_param_stripe_names_is_in_the_message() -> None:
    body = {"type": "invalid_request_error", "message": "Bad.", "param": "amount"}

    error = vendor_error(answer(400, body), 0.0)

    assert isinstance(error, InvalidRequestError)
    assert "Bad. (param amount)" in str(error)


def test_lock_timeout_is_rate_limited_whatever_its_status() -> None:
    body = {"type": "invalid_request_error", "code": "lock_timeout", "message": "Busy."}

    assert isinstance(vendor_error(answer(429, body), 0.0), RateLimitExceededError)


def test_stripe_should_retry_true_on_a_rate_limit_keeps_it_a_rate_limit() -> None:
    body = {"type": "invalid_request_error", "code": "rate_limit", "message": "Slow."}

    error = vendor_error(answer(429, body, **{"Stripe-Should-Retry": "true"}), 0.0)

    assert isinstance(error, RateLimitExceededError)
    assert error.retryable


def test_vendor_text_in_an_error_is_made_safe_to_quote() -> None:
    body = {"type": "api_error", "message": "line\r\nInjected: 1\x00" + "x" * 500}

    error = vendor_error(answer(500, body), 0.0)

    assert isinstance(error, VendorUnavailableError)
    assert "\r" not in str(error)
    assert "\x00" not in str(error)
    assert len(str(error)) < 450
