"""Each operation as {{ cookiecutter.vendor_name }}'s HTTP request (pure: shared by both adapters).

Amounts travel as integers in minor units with their currency, never as floats.

TODO(vendor): the paths and bodies of {{ cookiecutter.vendor_name }}'s API reference (and the double in
testing.py, which answers them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from nexus_connector_core import Money, PaymentRequest, RefundRequest

__all__ = ["PAYMENTS", "amount_body", "payment_body", "payment_path", "refund_body"]

#: authorize and purchase: POST a payment; the others act on one by its id.
PAYMENTS = "/v1/payments"


def payment_body(request: PaymentRequest, *, capture: bool) -> dict[str, Any]:
    """The JSON body that creates a payment: held (`capture` False) or taken at once."""
    body: dict[str, Any] = {
        "amount": request.amount.amount,
        "currency": request.amount.currency,
        "payment_method": request.payment_method,
        "capture": capture,
        "metadata": dict(request.metadata),
    }
    if request.description is not None:
        body["description"] = request.description
    if request.customer is not None:
        body["customer"] = request.customer
    return body


def amount_body(amount: Money | None) -> dict[str, Any]:
    """The body of a capture: all of the payment (empty), or `amount` of it."""
    return {} if amount is None else {"amount": amount.amount, "currency": amount.currency}


def refund_body(request: RefundRequest) -> dict[str, Any]:
    """The body of a refund: all that is left (no amount), or `amount` of it."""
    body = amount_body(request.amount)
    if request.reason is not None:
        body["reason"] = request.reason
    return body


def payment_path(payment_id: str, action: str = "") -> str:
    """The path of one payment (or of an `action` on it: ``capture``, ``refunds``,
    ``void``); the id is quoted, so ``../admin`` stays one segment."""
    path = f"{PAYMENTS}/{quote(payment_id, safe='')}"
    return f"{path}/{action}" if action else path
