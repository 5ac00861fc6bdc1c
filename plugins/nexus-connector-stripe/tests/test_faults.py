"""The charge is processed and then the connection is reset: whatever the caller does, the
customer is charged exactly once.

The local Stripe executes the PaymentIntent (the charge exists, its answer is kept for the
request's idempotency key) and resets the connection instead of answering. The connector
has a fallback vendor (memory), which must never be asked: Stripe may have charged. With a
caller's key and without, sync and async, the charges are counted in the double.
"""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_stripe.testing import StripeDouble, idempotency_keys

from nexus_connector_core import Money, Payment, PaymentRequest, VendorUnavailableError
from nexus_connector_core.testing import FaultServer

RETRY = {
    "retry": {"max_attempts": 3, "backoff": "fixed", "base": 0.01, "jitter": "none"},
    "circuit_breaker": {"enabled": False},
}
ONE_ATTEMPT = {"retry": {"enabled": False}, "circuit_breaker": {"enabled": False}}
REQUEST = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")

pytestmark = pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
with_and_without_a_callers_key = pytest.mark.parametrize(
    "key", [None, "order-1042"], ids=["pipeline-key", "caller-key"]
)


async def purchase(manager: Any, async_: bool, key: str | None) -> Payment:
    result = manager.payment.purchase(REQUEST, idempotency_key=key)
    payment: Payment = await result if async_ else result
    return payment


def fallback_calls(manager: Any) -> list[Any]:
    """What the fallback vendor (memory) was asked to do."""
    return list(manager.connector("payment").adapter_for("memory").calls)


@with_and_without_a_callers_key
async def test_a_charge_whose_answer_was_lost_is_answered_by_the_retry_and_charged_once(
    make_manager: Any,
    stripe: StripeDouble,
    stripe_server: FaultServer,
    async_: bool,
    key: str | None,
) -> None:
    manager = make_manager(async_=async_, resilience=RETRY, fallback=["memory"])
    stripe.reset_after_processing()

    payment = await purchase(manager, async_, key)

    assert (payment.vendor, payment.status, payment.replayed) == ("stripe", "succeeded", True)
    [charge] = stripe.charges
    assert charge["payment_intent"] == payment.vendor_id
    first, second = idempotency_keys(stripe_server.requests)
    assert first == second == (key or first)  # one key for the call, the caller's if given
    assert fallback_calls(manager) == []


@with_and_without_a_callers_key
async def test_when_every_answer_is_lost_the_call_ends_in_doubt_without_a_second_charge(
    make_manager: Any,
    stripe: StripeDouble,
    stripe_server: FaultServer,
    async_: bool,
    key: str | None,
) -> None:
    manager = make_manager(async_=async_, resilience=RETRY, fallback=["memory"])
    stripe.reset_after_processing(times=3)

    with pytest.raises(VendorUnavailableError) as caught:
        await purchase(manager, async_, key)

    assert caught.value.maybe_processed
    assert len(stripe.charges) == 1
    assert len(set(idempotency_keys(stripe_server.requests))) == 1  # 3 attempts, one key
    assert fallback_calls(manager) == []


async def test_a_repeat_with_the_callers_key_resumes_at_stripe_and_finds_the_one_charge(
    make_manager: Any,
    stripe: StripeDouble,
    stripe_server: FaultServer,
    async_: bool,
) -> None:
    key = "order-1042"
    manager = make_manager(async_=async_, resilience=ONE_ATTEMPT, fallback=["memory"])
    stripe.reset_after_processing()
    with pytest.raises(VendorUnavailableError):
        await purchase(manager, async_, key)

    payment = await purchase(manager, async_, key)

    [charge] = stripe.charges
    assert (payment.vendor, payment.vendor_id) == ("stripe", charge["payment_intent"])
    assert payment.replayed  # Stripe's own store answered the resumed call
    assert idempotency_keys(stripe_server.requests) == [key, key]
    assert fallback_calls(manager) == []


async def test_a_cancellation_whose_answer_was_lost_is_answered_by_stripes_store(
    make_manager: Any, stripe: StripeDouble, stripe_server: FaultServer, async_: bool
) -> None:
    manager = make_manager(async_=async_, resilience=RETRY)
    held = await authorize(manager, async_)
    stripe.reset_after_processing()

    result = manager.payment.void(held.vendor_id)
    voided: Payment = await result if async_ else result

    assert (voided.status, voided.replayed) == ("canceled", True)
    first, second = idempotency_keys(stripe_server.requests)[1:]
    assert first == second  # void is idempotent, yet its retry carries the call's one key


async def authorize(manager: Any, async_: bool) -> Payment:
    result = manager.payment.authorize(REQUEST)
    payment: Payment = await result if async_ else result
    return payment
