"""{{ cookiecutter.vendor_name }}'s answers read as results, and its error codes (pure).

An error answer is ``{"error": {"code", "message", "decline_code"}}``, which
`HttpVendor.read_error` reads; its status decides the error class (402: a decline) unless
`ERRORS` says more about its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from nexus_connector_core import (
    AuthenticationError,
    InvalidRequestError,
    Money,
    Payment,
    PaymentDeclinedError,
    PaymentStatus,
    Refund,
)
from nexus_connector_core.http import ErrorKind, ErrorTable, Redactor, json_body, vendor_text

__all__ = ["ERRORS", "STATUSES", "decline_code", "is_replayed", "read_payment", "read_refund"]

#: {{ cookiecutter.vendor_name }}'s error codes that say more than their HTTP status, and what to do.
#: TODO(vendor): the codes its API reference lists.
ERRORS: ErrorTable = {
    "unauthorized": ErrorKind(AuthenticationError, "check the connector's credentials"),
    "card_declined": ErrorKind(PaymentDeclinedError, "ask the customer for another card"),
    "amount_too_large": ErrorKind(InvalidRequestError, "ask for at most what is left"),
    "currency_mismatch": ErrorKind(InvalidRequestError, "use the payment's own currency"),
}

#: {{ cookiecutter.vendor_name }}'s payment states, as every payment vendor reports them.
STATUSES: Mapping[str, PaymentStatus] = {
    "authorized": "authorized",
    "succeeded": "succeeded",
    "canceled": "canceled",
    "failed": "failed",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "pending": "pending",
}


def is_replayed(response: httpx.Response) -> bool:
    """Whether the answer came from {{ cookiecutter.vendor_name }}'s idempotency store (a retry
    with the same key: nothing moved again). TODO(vendor): the header it sets, if any."""
    replayed: str = response.headers.get("idempotent-replayed", "")
    return replayed.strip().lower() == "true"


def decline_code(response: httpx.Response, redact: Redactor) -> str | None:
    """The card issuer's reason for a decline, when the answer gives one apart."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, Mapping) else None
    code = error.get("decline_code") if isinstance(error, Mapping) else None
    return vendor_text(code, redact, limit=60) or None


def read_payment(body: Any, vendor: str, replayed: bool = False) -> Payment:
    """A payment object as a `Payment` (exact minor units in its currency)."""
    currency = str(body["currency"])
    return Payment(
        vendor=vendor,
        vendor_id=str(body["id"]),
        status=STATUSES.get(body["status"], "pending"),
        amount=Money(int(body["amount"]), currency),
        captured=Money(int(body["captured"]), currency),
        refunded=Money(int(body["refunded"]), currency),
        payment_method=body.get("payment_method"),
        customer=body.get("customer"),
        description=body.get("description"),
        metadata=dict(body.get("metadata") or {}),
        raw=body,
        replayed=replayed,
    )


def read_refund(body: Any, vendor: str, replayed: bool = False) -> Refund:
    """A refund object as a `Refund`."""
    status = body["status"]
    return Refund(
        vendor=vendor,
        vendor_id=str(body["id"]),
        payment_id=str(body["payment_id"]),
        amount=Money(int(body["amount"]), str(body["currency"])),
        status=status if status in ("pending", "succeeded", "failed", "canceled") else "pending",
        raw=body,
        replayed=replayed,
    )
