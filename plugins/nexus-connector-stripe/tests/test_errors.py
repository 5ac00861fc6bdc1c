"""Stripe's refusals as the library's errors, over real sockets: the class, whether Stripe may
have acted, and what the pipeline does next (see the table in ``_answers``)."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

import pytest
from nexus_connector_stripe.testing import API_KEY, StripeDouble, stripe_error

from nexus_connector_core import (
    AuthenticationError,
    ConnectorError,
    IdempotencyConflictError,
    InvalidRequestError,
    Money,
    Payment,
    PaymentRequest,
    RateLimitExceededError,
    VendorError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import Fault, FaultServer, ReceivedRequest

VISA = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")
RETRY = {
    "retry": {"max_attempts": 3, "backoff": "fixed", "base": 0.01, "jitter": "none"},
    "circuit_breaker": {"enabled": False},
}
#: The pipeline's own idempotency store off, so a repeated key reaches Stripe.
STRIPE_KEYS_ONLY = {
    "retry": {"enabled": False},
    "circuit_breaker": {"enabled": False},
    "idempotency": {"enabled": False},
}


def test_refused_credentials_are_an_authentication_error_that_never_shows_the_key(
    make_manager: Any, stripe_server: FaultServer
) -> None:
    echo = f"Invalid API Key provided: {API_KEY}"  # a proxy that echoes the whole key
    stripe_server.script(stripe_error(401, "invalid_request_error", echo))
    manager = make_manager(resilience=RETRY)

    with pytest.raises(AuthenticationError) as caught:
        manager.payment.purchase(VISA)

    assert API_KEY not in str(caught.value)
    assert "Invalid API Key provided: **********" in str(caught.value)
    assert stripe_server.hits == 1


@pytest.mark.parametrize("code", ["rate_limit", "lock_timeout"])
def test_a_429_is_rate_limited_with_its_retry_after_and_not_processed(
    make_manager: Any, stripe_server: FaultServer, code: str
) -> None:
    stripe_server.script(
        stripe_error(
            429, "invalid_request_error", "Slow down.", code=code, headers={"Retry-After": "3"}
        )
    )
    manager = make_manager()

    with pytest.raises(RateLimitExceededError) as caught:
        manager.payment.purchase(VISA)

    assert (caught.value.retry_after, caught.value.maybe_processed) == (3.0, False)
    assert caught.value.retryable


def test_a_key_reused_with_other_parameters_is_an_idempotency_conflict_naming_the_key(
    make_manager: Any, stripe: StripeDouble
) -> None:
    manager = make_manager(resilience=STRIPE_KEYS_ONLY)
    manager.payment.purchase(VISA, idempotency_key="order-7")
    other = PaymentRequest(amount=Money(2999, "USD"), payment_method="pm_card_visa")

    with pytest.raises(IdempotencyConflictError) as caught:
        manager.payment.purchase(other, idempotency_key="order-7")

    assert (caught.value.key, caught.value.maybe_processed) == ("order-7", False)
    assert "idempotency_error" in str(caught.value)
    assert len(stripe.charges) == 1


def test_a_key_still_executing_at_stripe_is_a_409_that_may_have_acted_and_is_retryable(
    make_manager: Any, stripe: StripeDouble, stripe_server: FaultServer
) -> None:
    manager = make_manager(resilience=STRIPE_KEYS_ONLY)
    hold = stripe.hold_next()
    first: list[Payment] = []
    holder = threading.Thread(
        target=lambda: first.append(manager.payment.purchase(VISA, idempotency_key="order-8"))
    )
    holder.start()
    try:
        assert hold.arrived.wait(5.0), "the first request never reached the local Stripe"
        with pytest.raises(VendorUnavailableError) as caught:
            manager.payment.purchase(VISA, idempotency_key="order-8")
    finally:
        hold.release()
        holder.join()
    again = manager.payment.purchase(VISA, idempotency_key="order-8")

    assert (caught.value.status_code, caught.value.maybe_processed) == (409, True)
    assert caught.value.retryable
    assert again.vendor_id == first[0].vendor_id
    assert again.replayed
    assert len(stripe.charges) == 1


def test_a_500_stripe_keeps_for_the_key_is_not_retried_nor_passed_to_the_fallback(
    make_manager: Any, stripe: StripeDouble, stripe_server: FaultServer
) -> None:
    manager = make_manager(resilience=RETRY, fallback=["memory"])
    stripe.fail_executions()

    with pytest.raises(VendorUnavailableError) as caught:
        manager.payment.purchase(VISA)

    assert (caught.value.status_code, caught.value.maybe_processed) == (500, True)
    assert not caught.value.retryable  # Stripe-Should-Retry: false
    assert stripe_server.hits == 1
    assert manager.connector("payment").adapter_for("memory").calls == []


def test_stripe_should_retry_true_makes_a_refusal_retried(
    make_manager: Any, stripe: StripeDouble, stripe_server: FaultServer
) -> None:
    stripe_server.script(
        stripe_error(
            400, "invalid_request_error", "Try again.", headers={"Stripe-Should-Retry": "true"}
        )
    )
    manager = make_manager(resilience=RETRY)

    payment = manager.payment.purchase(VISA)

    assert payment.status == "succeeded"
    assert stripe_server.hits == 2
    assert len(stripe.charges) == 1


def test_stripe_should_retry_false_stops_a_retry_the_status_would_allow(
    make_manager: Any, stripe_server: FaultServer
) -> None:
    stripe_server.script(
        stripe_error(503, "api_error", "Busy.", headers={"Stripe-Should-Retry": "false"})
    )
    manager = make_manager(resilience=RETRY)

    with pytest.raises(VendorUnavailableError) as caught:
        manager.payment.get("pi_" + "0" * 24)  # a lookup: retried unless Stripe says no

    assert not caught.value.retryable
    assert stripe_server.hits == 1


@pytest.mark.parametrize(
    ("fault", "error", "maybe_processed"),
    [
        (Fault.respond(200, {"object": "list", "data": []}), VendorError, True),
        (Fault.respond(200, b"<html>ok</html>"), VendorError, True),
        (Fault.respond(502, b"<html>Bad Gateway</html>"), VendorUnavailableError, True),
        (stripe_error(424, "api_error", "Upstream failed."), VendorUnavailableError, True),
        (
            stripe_error(400, "invalid_request_error", "No.", code="parameter_unknown"),
            InvalidRequestError,
            False,
        ),
    ],
    ids=["200-not-a-payment-intent", "200-not-json", "502-html", "424", "400"],
)
def test_an_answer_says_whether_stripe_may_have_acted(
    make_manager: Any,
    stripe_server: FaultServer,
    fault: Fault,
    error: type[ConnectorError],
    maybe_processed: bool,
) -> None:
    stripe_server.script(fault)
    manager = make_manager(fallback=["memory"])  # no retries: the answer itself decides

    with pytest.raises(error) as caught:
        manager.payment.purchase(VISA)

    assert caught.value.maybe_processed is maybe_processed
    assert stripe_server.hits == 1
    assert manager.connector("payment").adapter_for("memory").calls == []  # never a 2nd charge


def altered(server: FaultServer, path: str, value: Any, when: str) -> None:
    """From now on the server's answers to POSTs whose path starts with `when` are the
    double's with the field at `path` (dotted) set to `value`."""
    stripe = server.default
    assert isinstance(stripe, StripeDouble)

    def answer(request: ReceivedRequest) -> Fault:
        fault = stripe(request)
        if request.method != "POST" or not request.path.startswith(when):
            return fault
        body = json.loads(fault.body)
        *parents, name = path.split(".")
        target = body
        for parent in parents:
            target = target[parent]
        target[name] = value
        return dataclasses.replace(fault, body=json.dumps(body).encode())

    server.default = answer


@pytest.mark.parametrize(
    ("operation", "path", "value"),
    [
        ("purchase", "amount_received", -3),
        ("purchase", "latest_charge.amount_refunded", -3),
        ("purchase", "amount", -1999),
        ("purchase", "amount_received", 2**70),
        ("refund", "amount", -500),
    ],
    ids=["received", "refunded", "amount", "received-2**70", "refund-amount"],
)
def test_a_money_moving_answer_with_an_impossible_amount_is_unreadable_and_may_have_charged(
    make_manager: Any, stripe_server: FaultServer, operation: str, path: str, value: int
) -> None:
    manager = make_manager(fallback=["memory"])
    paid = manager.payment.purchase(VISA)
    when = "/v1/refunds" if operation == "refund" else "/v1/payment_intents"
    args = (paid.vendor_id, Money(500, "USD")) if operation == "refund" else (VISA,)
    altered(stripe_server, path, value, when)

    with pytest.raises(VendorError) as caught:
        getattr(manager.payment, operation)(*args)

    error = caught.value
    assert type(error) is VendorError
    assert error.maybe_processed is True  # Stripe said yes: the money may have moved
    assert "not a" in str(error)
    assert str(value) not in str(error)
    assert all(str(value) not in str(arg) for arg in error.args)
    assert manager.connector("payment").adapter_for("memory").calls == []  # never a 2nd charge
