"""The memory payment vendor: Stripe's lifecycle, test tokens and idempotency keys."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from nexus_connector_core._adapters import AdapterSettings
from nexus_connector_core._context import CallContext
from nexus_connector_core._errors import (
    IdempotencyConflictError,
    InvalidRequestError,
    ObjectNotFoundError,
    PaymentDeclinedError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core._money import Money
from nexus_connector_core._payment import (
    PAYMENT,
    AsyncPaymentAdapter,
    CaptureRequest,
    PaymentAdapter,
    PaymentLookup,
    PaymentRequest,
    RefundRequest,
    VoidRequest,
)
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.vendors.memory import (
    AsyncMemoryPaymentAdapter,
    MemoryOptions,
    MemoryPaymentAdapter,
)

PAYMENT_ID = re.compile(r"pay_[0-9a-f]{24}")
REFUND_ID = re.compile(r"re_[0-9a-f]{24}")
USD = "USD"


def settings(**options: Any) -> AdapterSettings:
    return AdapterSettings(
        connector="payment", category="payment", vendor="memory", options=MemoryOptions(**options)
    )


def context(clock: FakeClock, operation: str = "purchase", **kwargs: Any) -> CallContext:
    return CallContext("payment", "memory", PAYMENT.operation(operation), clock, **kwargs)


def charge(amount: int = 1999, method: str = "pm_card_visa", **extra: Any) -> PaymentRequest:
    return PaymentRequest(amount=Money(amount, USD), payment_method=method, **extra)


@pytest.fixture
def adapter() -> MemoryPaymentAdapter:
    return MemoryPaymentAdapter(settings())


def test_the_adapters_implement_the_payment_protocols() -> None:
    assert isinstance(MemoryPaymentAdapter(settings()), PaymentAdapter)
    assert isinstance(AsyncMemoryPaymentAdapter(settings()), AsyncPaymentAdapter)


# --- authorize, purchase, capture, void -----------------------------------------------------------


def test_authorize_holds_the_amount_without_capturing(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    payment = adapter.authorize(charge(customer="cus_1", description="Order 42"), context(clock))

    assert payment.vendor == "memory"
    assert PAYMENT_ID.fullmatch(payment.vendor_id)
    assert payment.status == "authorized"
    assert payment.amount == Money(1999, USD)
    assert payment.captured == Money(0, USD)
    assert payment.refunded == Money(0, USD)
    assert (payment.customer, payment.description) == ("cus_1", "Order 42")


def test_purchase_captures_the_whole_amount(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    payment = adapter.purchase(charge(), context(clock))

    assert payment.status == "succeeded"
    assert payment.captured == Money(1999, USD)
    assert payment.raw["amount_captured"] == 1999
    assert payment.raw["currency"] == "usd"


def test_capture_without_amount_takes_all_that_was_authorized(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    held = adapter.authorize(charge(), context(clock))

    payment = adapter.capture(CaptureRequest(held.vendor_id), context(clock, "capture"))

    assert payment.status == "succeeded"
    assert payment.captured == Money(1999, USD)


def test_capture_of_part_takes_only_that_part(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    held = adapter.authorize(charge(), context(clock))

    payment = adapter.capture(
        CaptureRequest(held.vendor_id, Money(1500, USD)), context(clock, "capture")
    )

    assert payment.captured == Money(1500, USD)
    assert payment.amount == Money(1999, USD)


def test_capture_of_more_than_authorized_is_refused(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    held = adapter.authorize(charge(), context(clock))

    with pytest.raises(InvalidRequestError) as caught:
        adapter.capture(CaptureRequest(held.vendor_id, Money(2000, USD)), context(clock))

    assert caught.value.code == "amount_too_large"
    assert adapter.get(PaymentLookup(held.vendor_id), context(clock)).status == "authorized"


def test_capture_in_another_currency_is_refused(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    held = adapter.authorize(charge(), context(clock))

    with pytest.raises(InvalidRequestError) as caught:
        adapter.capture(CaptureRequest(held.vendor_id, Money(100, "EUR")), context(clock))

    assert caught.value.code == "currency_mismatch"


def test_capture_of_a_payment_that_is_not_authorized_is_refused(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    paid = adapter.purchase(charge(), context(clock))

    with pytest.raises(InvalidRequestError) as caught:
        adapter.capture(CaptureRequest(paid.vendor_id), context(clock, "capture"))

    assert caught.value.code == "payment_unexpected_state"
    assert "succeeded" in caught.value.message


def test_void_cancels_an_authorization(adapter: MemoryPaymentAdapter, clock: FakeClock) -> None:
    held = adapter.authorize(charge(), context(clock))

    payment = adapter.void(VoidRequest(held.vendor_id), context(clock, "void"))

    assert payment.status == "canceled"
    assert payment.captured == Money(0, USD)


def test_void_of_a_captured_payment_is_refused(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    paid = adapter.purchase(charge(), context(clock))

    with pytest.raises(InvalidRequestError) as caught:
        adapter.void(VoidRequest(paid.vendor_id), context(clock, "void"))

    assert caught.value.code == "payment_unexpected_state"


def test_get_reports_the_payment_as_it_stands_now(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    held = adapter.authorize(charge(), context(clock))
    adapter.capture(CaptureRequest(held.vendor_id, Money(500, USD)), context(clock))

    payment = adapter.get(PaymentLookup(held.vendor_id), context(clock, "get"))

    assert (payment.status, payment.captured) == ("succeeded", Money(500, USD))


@pytest.mark.parametrize(
    "call",
    [
        lambda a, c: a.capture(CaptureRequest("pay_missing"), c),
        lambda a, c: a.refund(RefundRequest("pay_missing"), c),
        lambda a, c: a.void(VoidRequest("pay_missing"), c),
        lambda a, c: a.get(PaymentLookup("pay_missing"), c),
    ],
    ids=["capture", "refund", "void", "get"],
)
def test_an_unknown_payment_id_raises_object_not_found(
    adapter: MemoryPaymentAdapter,
    clock: FakeClock,
    call: Callable[[MemoryPaymentAdapter, CallContext], object],
) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        call(adapter, context(clock))

    assert caught.value.code == "resource_missing"


# --- refunds --------------------------------------------------------------------------------------


def test_refund_without_amount_refunds_everything(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    paid = adapter.purchase(charge(), context(clock))

    refund = adapter.refund(RefundRequest(paid.vendor_id), context(clock, "refund"))

    assert REFUND_ID.fullmatch(refund.vendor_id)
    assert (refund.payment_id, refund.amount, refund.status) == (
        paid.vendor_id,
        Money(1999, USD),
        "succeeded",
    )
    payment = adapter.get(PaymentLookup(paid.vendor_id), context(clock, "get"))
    assert (payment.status, payment.refunded) == ("refunded", Money(1999, USD))


def test_partial_refunds_leave_the_payment_partially_refunded_until_the_rest(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    paid = adapter.purchase(charge(), context(clock))
    adapter.refund(RefundRequest(paid.vendor_id, Money(999, USD)), context(clock))
    assert adapter.get(PaymentLookup(paid.vendor_id), context(clock)).status == (
        "partially_refunded"
    )

    rest = adapter.refund(RefundRequest(paid.vendor_id), context(clock))

    assert rest.amount == Money(1000, USD)
    assert adapter.get(PaymentLookup(paid.vendor_id), context(clock)).status == "refunded"


def test_refund_is_limited_to_what_was_captured(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    held = adapter.authorize(charge(), context(clock))
    adapter.capture(CaptureRequest(held.vendor_id, Money(1000, USD)), context(clock))

    with pytest.raises(InvalidRequestError) as caught:
        adapter.refund(RefundRequest(held.vendor_id, Money(1001, USD)), context(clock))

    assert caught.value.code == "amount_too_large"


def test_refund_of_an_uncaptured_payment_is_refused(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    held = adapter.authorize(charge(), context(clock))

    with pytest.raises(InvalidRequestError) as caught:
        adapter.refund(RefundRequest(held.vendor_id), context(clock, "refund"))

    assert caught.value.code == "payment_unexpected_state"


def test_refund_of_a_fully_refunded_payment_is_refused(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    paid = adapter.purchase(charge(), context(clock))
    adapter.refund(RefundRequest(paid.vendor_id), context(clock))

    with pytest.raises(InvalidRequestError):
        adapter.refund(RefundRequest(paid.vendor_id), context(clock))


# --- test tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("pm_card_chargeDeclined", "card_declined"),
        ("pm_card_insufficient_funds", "insufficient_funds"),
    ],
)
def test_declining_test_tokens_raise_payment_declined_with_the_stripe_code(
    adapter: MemoryPaymentAdapter, clock: FakeClock, method: str, code: str
) -> None:
    with pytest.raises(PaymentDeclinedError) as caught:
        adapter.purchase(charge(method=method), context(clock))

    assert caught.value.code == code
    assert caught.value.status_code == 402


# --- idempotency keys -----------------------------------------------------------------------------


def test_the_same_key_and_request_answer_as_the_first_time_without_a_second_charge(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    first = adapter.purchase(charge(), context(clock, idempotency_key="order-42"))
    again = adapter.purchase(charge(), context(clock, idempotency_key="order-42"))

    assert again == msgspec.structs.replace(first, replayed=True)  # marked, like Stripe's
    assert not first.replayed
    assert len(adapter.calls) == 2  # the vendor saw both requests


def test_a_replayed_refund_refunds_once(adapter: MemoryPaymentAdapter, clock: FakeClock) -> None:
    paid = adapter.purchase(charge(), context(clock))
    request = RefundRequest(paid.vendor_id, Money(500, USD))

    first = adapter.refund(request, context(clock, idempotency_key="refund-1"))
    again = adapter.refund(request, context(clock, idempotency_key="refund-1"))

    assert again.vendor_id == first.vendor_id
    payment = adapter.get(PaymentLookup(paid.vendor_id), context(clock))
    assert payment.refunded == Money(500, USD)


def test_the_same_key_with_another_request_is_a_conflict(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    adapter.purchase(charge(1999), context(clock, idempotency_key="order-42"))

    with pytest.raises(IdempotencyConflictError) as caught:
        adapter.purchase(charge(2999), context(clock, idempotency_key="order-42"))

    assert caught.value.key == "order-42"


def test_the_same_key_on_another_operation_is_a_conflict(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    adapter.authorize(charge(), context(clock, idempotency_key="k"))

    with pytest.raises(IdempotencyConflictError):
        adapter.purchase(charge(), context(clock, idempotency_key="k"))


def test_a_decline_is_replayed_for_its_key(adapter: MemoryPaymentAdapter, clock: FakeClock) -> None:
    declined = charge(method="pm_card_chargeDeclined")
    with pytest.raises(PaymentDeclinedError):
        adapter.purchase(declined, context(clock, idempotency_key="k"))

    with pytest.raises(PaymentDeclinedError) as caught:
        adapter.purchase(declined, context(clock, idempotency_key="k"))

    assert caught.value.code == "card_declined"


def test_a_key_is_forgotten_after_24_hours(adapter: MemoryPaymentAdapter, clock: FakeClock) -> None:
    first = adapter.purchase(charge(), context(clock, idempotency_key="k"))
    clock.advance(24 * 3600 + 1)

    later = adapter.purchase(charge(), context(clock, idempotency_key="k"))

    assert later.vendor_id != first.vendor_id


def test_two_identical_purchases_without_a_key_are_two_payments(
    adapter: MemoryPaymentAdapter, clock: FakeClock
) -> None:
    first = adapter.purchase(charge(), context(clock))
    second = adapter.purchase(charge(), context(clock))

    assert first.vendor_id != second.vendor_id


# --- misbehaving on request -----------------------------------------------------------------------


def test_fail_first_declined_fails_before_any_payment_is_made(clock: FakeClock) -> None:
    adapter = MemoryPaymentAdapter(settings(fail_first=1, failure="declined"))

    with pytest.raises(PaymentDeclinedError):
        adapter.purchase(charge(), context(clock, idempotency_key="k"))
    payment = adapter.purchase(charge(), context(clock, idempotency_key="k"))

    assert payment.status == "succeeded"  # the injected failure was not stored for the key


@pytest.mark.parametrize("operation", ["authorize", "purchase", "capture", "refund", "void", "get"])
def test_fail_first_applies_to_every_operation(clock: FakeClock, operation: str) -> None:
    adapter = MemoryPaymentAdapter(settings(fail_first=1))
    requests: dict[str, object] = {
        "authorize": charge(),
        "purchase": charge(),
        "capture": CaptureRequest("pay_x"),
        "refund": RefundRequest("pay_x"),
        "void": VoidRequest("pay_x"),
        "get": PaymentLookup("pay_x"),
    }

    with pytest.raises(VendorUnavailableError):
        getattr(adapter, operation)(requests[operation], context(clock, operation))

    assert adapter.calls == [(operation, requests[operation])]


def test_latency_beyond_the_timeout_raises_vendor_timeout(clock: FakeClock) -> None:
    adapter = MemoryPaymentAdapter(settings(latency=10.0))

    with pytest.raises(VendorTimeoutError):
        adapter.purchase(charge(), context(clock, timeout=3.0))

    assert clock.sleeps == [3.0]


# --- the async twin -------------------------------------------------------------------------------


async def test_async_payment_goes_through_authorize_capture_refund(clock: FakeClock) -> None:
    adapter = AsyncMemoryPaymentAdapter(settings())

    held = await adapter.authorize(charge(), context(clock))
    await adapter.capture(CaptureRequest(held.vendor_id), context(clock))
    await adapter.refund(RefundRequest(held.vendor_id, Money(99, USD)), context(clock))
    payment = await adapter.get(PaymentLookup(held.vendor_id), context(clock))

    assert (payment.status, payment.refunded) == ("partially_refunded", Money(99, USD))
    assert [op for op, _ in adapter.calls] == ["authorize", "capture", "refund", "get"]


async def test_async_void_and_purchase_share_the_sync_rules(clock: FakeClock) -> None:
    adapter = AsyncMemoryPaymentAdapter(settings())
    held = await adapter.authorize(charge(), context(clock))

    voided = await adapter.void(VoidRequest(held.vendor_id), context(clock))

    assert voided.status == "canceled"
    with pytest.raises(PaymentDeclinedError):
        await adapter.purchase(charge(method="pm_card_chargeDeclined"), context(clock))


async def test_async_idempotency_key_replays_the_first_answer(clock: FakeClock) -> None:
    adapter = AsyncMemoryPaymentAdapter(settings())

    first = await adapter.purchase(charge(), context(clock, idempotency_key="k"))
    again = await adapter.purchase(charge(), context(clock, idempotency_key="k"))

    assert again == msgspec.structs.replace(first, replayed=True)


async def test_async_latency_waits_on_the_clock(clock: FakeClock) -> None:
    adapter = AsyncMemoryPaymentAdapter(settings(latency=1.5))

    await adapter.purchase(charge(), context(clock))

    assert clock.sleeps == [1.5]


# --- threads --------------------------------------------------------------------------------------


def run_in_eight_threads(work: Callable[[], None]) -> None:
    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_one_adapter_serves_eight_threads_with_distinct_payments(clock: FakeClock) -> None:
    adapter = MemoryPaymentAdapter(settings())
    ids: list[str] = []
    ids_lock = threading.Lock()

    def purchase_fifty() -> None:
        for _ in range(50):
            payment = adapter.purchase(charge(), context(clock))
            with ids_lock:
                ids.append(payment.vendor_id)

    run_in_eight_threads(purchase_fifty)

    assert len(set(ids)) == 400
    assert len(adapter.calls) == 400


def test_eight_threads_refunding_with_one_key_refund_once(clock: FakeClock) -> None:
    adapter = MemoryPaymentAdapter(settings())
    paid = adapter.purchase(charge(), context(clock))
    request = RefundRequest(paid.vendor_id, Money(100, USD))
    refund_ids: set[str] = set()

    def refund_with_the_same_key() -> None:
        for _ in range(50):
            refund_ids.add(adapter.refund(request, context(clock, idempotency_key="r")).vendor_id)

    run_in_eight_threads(refund_with_the_same_key)

    assert len(refund_ids) == 1
    assert adapter.get(PaymentLookup(paid.vendor_id), context(clock)).refunded == Money(100, USD)
