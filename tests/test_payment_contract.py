"""The payment contract's errors and results: what a decline carries, and what every
vendor error accepts."""

from __future__ import annotations

import pickle

import pytest

from nexus_connector_core import Money, Payment, PaymentDeclinedError, Refund, VendorError
from nexus_connector_core._resilience.errors import ERROR_CLASSES


def test_a_decline_keeps_the_vendors_code_and_the_issuers_reason_through_pickle() -> None:
    error = PaymentDeclinedError(
        "declined", code="card_declined", decline_code="insufficient_funds", status_code=402
    )

    again = pickle.loads(pickle.dumps(error))

    assert (again.code, again.decline_code, again.status_code) == (
        "card_declined",
        "insufficient_funds",
        402,
    )
    assert PaymentDeclinedError("declined").decline_code is None


@pytest.mark.parametrize(
    "cls",
    [c for c in ERROR_CLASSES.values() if issubclass(c, VendorError)],
    ids=lambda c: c.__name__,
)
def test_every_vendor_error_takes_what_vendor_error_takes(cls: type[VendorError]) -> None:
    error = cls(
        "refused",
        code="x",
        status_code=400,
        vendor_message="no",
        fields={"amount": ["too large"]},
        maybe_processed=False,
    )

    assert (error.code, error.fields, error.maybe_processed) == (
        "x",
        {"amount": ("too large",)},
        False,
    )


def test_a_result_is_not_replayed_unless_the_vendor_said_so() -> None:
    usd = Money(1999, "USD")
    payment = Payment(
        vendor="v", vendor_id="p", status="succeeded", amount=usd, captured=usd, refunded=usd
    )
    refund = Refund(vendor="v", vendor_id="r", payment_id="p", amount=usd, status="succeeded")

    assert (payment.replayed, refund.replayed) == (False, False)
