"""Stripe's answers read as results and errors (pure: no I/O, shared by both adapters).

A payment comes back as a PaymentIntent, its ``latest_charge`` expanded (the adapter asks
for it on every request), which `read_payment` turns into the `Payment` every payment
vendor returns; a refund comes back as a Refund (`read_refund`). An answer Stripe replayed
from its idempotency store (header ``Idempotent-Replayed: true``) is marked ``replayed``.

    PaymentIntent status                           Payment status
    requires_capture                               authorized
    succeeded                                      succeeded; partially_refunded or refunded
                                                   by the charge's amount_refunded
    canceled                                       canceled
    processing, requires_action,                   pending (Stripe has not finished, or the
      requires_confirmation                          customer must authenticate: 3-D Secure)
    requires_payment_method                        failed (the last attempt was declined)

Stripe answers a refused request with a status and ``{"error": {"type", "code",
"decline_code", "message", "param"}}``. The type ``card_error`` is a decline; otherwise the
code, else the type, decides the class when it is in `ERRORS`, else the status, as the
core's HTTP toolkit maps it (`nexus_connector_core.http.status_error`)::

    card_error (402)                       PaymentDeclinedError(code, decline_code)
    idempotency_error (400)                IdempotencyConflictError: key reused elsewhere
    409 (idempotency_key_in_use)           VendorUnavailableError, maybe processed: an
                                             earlier request with the key is executing;
                                             retried with the same key
    429, lock_timeout, rate_limit          RateLimitExceededError (Retry-After); not processed
    401, 403, api_key_expired              AuthenticationError
    404, resource_missing                  ObjectNotFoundError
    other 4xx (invalid_request_error)      InvalidRequestError with Stripe's code
    424, 5xx, api_error                    VendorUnavailableError, maybe processed

Every refusal below 500 (but 409 and 424) means Stripe moved no money
(``maybe_processed=False``). ``Stripe-Should-Retry`` overrides the verdict on retrying:
``false`` makes the error not retryable, ``true`` makes it a retryable
`VendorUnavailableError` (with what the status said about whether Stripe acted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import httpx

from nexus_connector_core import (
    AuthenticationError,
    ConnectorError,
    IdempotencyConflictError,
    InvalidRequestError,
    Money,
    ObjectNotFoundError,
    Payment,
    PaymentDeclinedError,
    PaymentStatus,
    RateLimitExceededError,
    Refund,
    VendorUnavailableError,
    parse_retry_after,
)
from nexus_connector_core.http import (
    ErrorKind,
    ErrorTable,
    Redactor,
    json_body,
    status_error,
    vendor_text,
)

__all__ = [
    "ERRORS",
    "REFUND_STATES",
    "STATES",
    "is_replayed",
    "read_payment",
    "read_refund",
    "vendor_error",
]

#: PaymentIntent statuses, as the payment states every vendor reports (before refunds).
STATES: Mapping[str, PaymentStatus] = {
    "requires_payment_method": "failed",
    "requires_confirmation": "pending",
    "requires_action": "pending",
    "processing": "pending",
    "requires_capture": "authorized",
    "canceled": "canceled",
    "succeeded": "succeeded",
}

#: Refund statuses, as the refund states every vendor reports.
REFUND_STATES: Mapping[str, Literal["pending", "succeeded", "failed", "canceled"]] = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
}

#: Stripe's error codes (and, where the code says nothing more, error types) that mean more
#: than their HTTP status, and what to do about them (docs.stripe.com/error-codes).
ERRORS: ErrorTable = {
    "idempotency_error": ErrorKind(
        IdempotencyConflictError,
        "the idempotency key was first used with other parameters or another operation; use "
        "a new key for a new request",
        maybe_processed=False,
    ),
    "idempotency_key_in_use": ErrorKind(
        VendorUnavailableError,
        "an earlier request with this idempotency key is still executing at Stripe; it is "
        "asked again with the same key",
        maybe_processed=True,
    ),
    "lock_timeout": ErrorKind(
        RateLimitExceededError,
        "another request is changing this payment; it is asked again after a pause",
    ),
    "rate_limit": ErrorKind(RateLimitExceededError, "too many requests; asked again after a pause"),
    "resource_missing": ErrorKind(
        ObjectNotFoundError,
        "pass the vendor_id of a Payment this connector returned, on the same Stripe account",
    ),
    "api_key_expired": ErrorKind(
        AuthenticationError, "roll the key in the Stripe Dashboard and update credentials.api_key"
    ),
    "secret_key_required": ErrorKind(
        AuthenticationError, "credentials.api_key must be a secret (sk_) or restricted (rk_) key"
    ),
    "payment_intent_unexpected_state": ErrorKind(
        InvalidRequestError,
        "get() the payment to see its status: only an authorized payment is captured or "
        "voided, only a captured one refunded",
    ),
    "amount_too_large": ErrorKind(
        InvalidRequestError,
        "capture at most what was authorized, refund at most what is left of the capture",
    ),
    "amount_too_small": ErrorKind(
        InvalidRequestError, "the amount is below Stripe's minimum charge for the currency"
    ),
    "charge_already_refunded": ErrorKind(
        InvalidRequestError, "the payment is refunded in full already"
    ),
    "api_error": ErrorKind(
        VendorUnavailableError, "Stripe failed on its side; treat the outcome as unknown"
    ),
}


def is_replayed(response: httpx.Response) -> bool:
    """Whether Stripe answered from its idempotency store (``Idempotent-Replayed: true``)."""
    replayed: str = response.headers.get("idempotent-replayed", "")
    return replayed.strip().lower() == "true"


def read_payment(data: Any, vendor: str, replayed: bool = False) -> Payment:
    """The `Payment` a PaymentIntent (its ``latest_charge`` expanded) stands for.

    Raises TypeError, KeyError or ValueError when `data` is not a PaymentIntent.
    """
    if not isinstance(data, Mapping) or data.get("object") != "payment_intent":
        raise ValueError("not a PaymentIntent")
    currency = _text(data, "currency").upper()
    status = STATES[_text(data, "status")]
    charge = data.get("latest_charge")
    refunded = _amount(charge, "amount_refunded") if isinstance(charge, Mapping) else 0
    captured = _amount(data, "amount_received")
    if status == "succeeded" and refunded:
        status = "refunded" if refunded >= captured else "partially_refunded"
    method = data.get("payment_method")
    if isinstance(method, Mapping):  # expanded by a caller's own expand[]
        method = method.get("id")
    return Payment(
        vendor=vendor,
        vendor_id=_text(data, "id"),
        status=status,
        amount=Money(_amount(data, "amount", least=1), currency),
        captured=Money(captured, currency),
        refunded=Money(refunded, currency),
        payment_method=method if isinstance(method, str) else None,
        customer=_optional_text(data, "customer"),
        description=_optional_text(data, "description"),
        metadata=_metadata(data.get("metadata")),
        raw=data,
        replayed=replayed,
    )


def read_refund(data: Any, vendor: str, replayed: bool = False) -> Refund:
    """The `Refund` a Stripe Refund stands for (TypeError, KeyError or ValueError when it
    is not one)."""
    if not isinstance(data, Mapping) or data.get("object") != "refund":
        raise ValueError("not a Refund")
    return Refund(
        vendor=vendor,
        vendor_id=_text(data, "id"),
        payment_id=_text(data, "payment_intent"),
        amount=Money(_amount(data, "amount", least=1), _text(data, "currency").upper()),
        status=REFUND_STATES[_text(data, "status")],
        raw=data,
        replayed=replayed,
    )


def vendor_error(
    response: httpx.Response, now: float, redact: Redactor | None = None
) -> ConnectorError:
    """The error a non-2xx answer means (see the module).

    `now` (Unix time) reads Retry-After dates; `redact` masks the API key should Stripe, or
    a proxy in between, echo it.
    """
    status = response.status_code
    error = _error_object(response)
    kind, code, decline_code = (
        _field(error, name, redact) for name in ("type", "code", "decline_code")
    )
    message = vendor_text(error.get("message"), redact) or response.reason_phrase or None
    param = _field(error, "param", redact)
    if message and param:
        message = f"{message} (param {param})"
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    result: ConnectorError
    if kind == "card_error":
        reasons = ", ".join(
            f"{label} {value}"
            for label, value in (("code", code), ("decline_code", decline_code))
            if value
        )
        result = PaymentDeclinedError(
            f"Stripe declined the payment ({status}{', ' + reasons if reasons else ''})"
            f"{': ' + message if message else ''}",
            code=code,
            decline_code=decline_code,
            status_code=status,
            vendor_message=message,
            maybe_processed=False,  # declined: no money moved
        )
    elif code not in ERRORS and kind not in ERRORS and status in (409, 424):
        # 409: a request with the same idempotency key is still executing; 424: a failure
        # of a dependency outside Stripe. Either way Stripe may act, or have acted.
        result = VendorUnavailableError(
            f"Stripe answered {status}{', code ' + code if code else ''}"
            f"{': ' + message if message else ''}",
            status_code=status,
            retry_after=retry_after,
            maybe_processed=True,
        )
    else:
        shown = code if code in ERRORS or kind not in ERRORS else kind
        result = status_error(
            status,
            vendor="Stripe",
            code=shown,
            message=message,
            retry_after=retry_after,
            table=ERRORS,
        )
        if isinstance(result, IdempotencyConflictError):
            result.key = _sent_key(response)
    return _should_retry(result, response, retry_after)


def _should_retry(
    error: ConnectorError, response: httpx.Response, retry_after: float | None
) -> ConnectorError:
    """Stripe's own verdict on retrying (``Stripe-Should-Retry``), where it gives one."""
    verdict = response.headers.get("stripe-should-retry", "").strip().lower()
    if verdict == "false":
        error.retryable = False
        return error
    if verdict != "true":
        return error
    if isinstance(error, VendorUnavailableError | RateLimitExceededError):
        error.retryable = True
        return error
    return VendorUnavailableError(
        f"{error.message} (Stripe-Should-Retry: true)",
        status_code=response.status_code,
        retry_after=retry_after,
        maybe_processed=error.maybe_processed,
    )


def _error_object(response: httpx.Response) -> Mapping[str, Any]:
    body = json_body(response)  # None for a proxy's HTML page, an empty body
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def _field(error: Mapping[str, Any], name: str, redact: Redactor | None) -> str | None:
    """A short identifier field of Stripe's error object, checked (None when absent)."""
    return vendor_text(error.get(name), redact, limit=80) or None


def _sent_key(response: httpx.Response) -> str | None:
    try:
        key: str | None = response.request.headers.get("idempotency-key")
        return key
    except RuntimeError:  # a response made without a request
        return None


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is not a non-empty string")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, Mapping):  # an expanded object: its id
        value = value.get("id")
    return value if isinstance(value, str) else None


def _amount(data: Any, key: str, *, least: int = 0) -> int:
    """An amount of Stripe's in minor units: an integer, at least `least` (a negative
    refunded total would read as a refund). Anything else is a ValueError that does not
    quote the value; `Money` refuses one beyond what it holds."""
    value = data[key]
    if type(value) is not int or value < least:
        raise ValueError(f"{key} is not an integer of minor units, at least {least}")
    return value


def _metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}
