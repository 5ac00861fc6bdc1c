"""Our errors as HTTP answers: the status, ``Retry-After``, and an RFC 9457 problem details
body (pure: no web framework here).

=============================  ======  ======================  =============
error                          status  ``code``                Retry-After
=============================  ======  ======================  =============
CircuitOpenError               503     circuit_open            when known
VendorTimeoutError             504     vendor_timeout
VendorUnavailableError         503     vendor_unavailable      when known
RateLimitExceededError         429     rate_limited            when known
StateBackendUnavailableError   503     state_unavailable
PaymentDeclinedError           402     payment_declined
InvalidRequestError            422     invalid_request
ObjectNotFoundError            404     not_found
IdempotencyConflictError       409     idempotency_conflict
any other VendorError          502     vendor_error
WebhookVerificationError       401     webhook_rejected        (400: a replay, or a
                                                               body it will not read)
anything else                  500     (none)
=============================  ======  ======================  =============

The body says what happened in our own fixed words: never the exception's message, the
vendor's code, message or fields, a decline reason (Stripe asks that some stay unsaid to
the customer), the connector's or vendor's name, or anything else the client should not
see. A 500 (a config error, a plugin that failed, the vendor refusing our credentials, a
bug) has no ``detail`` and no ``code`` at all; the server's log has the error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from nexus_connector_core import (
    CircuitOpenError,
    IdempotencyConflictError,
    InvalidRequestError,
    ObjectNotFoundError,
    PaymentDeclinedError,
    RateLimitExceededError,
    StateBackendUnavailableError,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
    WebhookVerificationError,
)

__all__ = ["CONTENT_TYPE", "MAX_RETRY_AFTER", "Problem", "problem_for", "webhook_status"]

#: The media type of a problem details body (RFC 9457).
CONTENT_TYPE = "application/problem+json"
#: The longest ``Retry-After`` sent, in seconds (a day).
MAX_RETRY_AFTER = 86_400


@dataclass(frozen=True)
class Problem:
    """An HTTP answer to an error: `status`, `headers` (``Retry-After``) and the `body`."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


#: (error class, status, code, detail): the first class the error is an instance of wins.
_TABLE: tuple[tuple[type[Exception], int, str, str], ...] = (
    (
        CircuitOpenError,
        503,
        "circuit_open",
        "A service this request needs is failing; calls to it are paused. Retry later.",
    ),
    (
        VendorTimeoutError,
        504,
        "vendor_timeout",
        "A service this request needs did not answer in time.",
    ),
    (
        VendorUnavailableError,
        503,
        "vendor_unavailable",
        "A service this request needs is unavailable. Retry later.",
    ),
    (
        RateLimitExceededError,
        429,
        "rate_limited",
        "Too many requests to a service this request needs. Retry later.",
    ),
    (
        StateBackendUnavailableError,
        503,
        "state_unavailable",
        "A service this request needs is unavailable. Retry later.",
    ),
    (PaymentDeclinedError, 402, "payment_declined", "The payment was declined."),
    (InvalidRequestError, 422, "invalid_request", "The request was refused as invalid."),
    (ObjectNotFoundError, 404, "not_found", "What the request refers to does not exist."),
    (
        IdempotencyConflictError,
        409,
        "idempotency_conflict",
        "This idempotency key was used for another request, or that request is still in progress.",
    ),
    (VendorError, 502, "vendor_error", "A service this request needs answered with an error."),
)


def problem_for(error: BaseException) -> Problem:
    """The answer to `error` (see the module's table)."""
    if isinstance(error, WebhookVerificationError):
        status = webhook_status(error)
        detail = f"webhook rejected: {error.reason}"  # our words: the sender may act on them
        return Problem(status, {**_body(status), "detail": detail, "code": "webhook_rejected"})
    for kind, status, code, detail in _TABLE:
        if isinstance(error, kind):
            body = {**_body(status), "detail": detail, "code": code}
            seconds = _retry_after(getattr(error, "retry_after", None))
            if seconds is None:
                return Problem(status, body)
            return Problem(status, {**body, "retry_after": seconds}, {"Retry-After": str(seconds)})
    return Problem(500, _body(500))


def webhook_status(error: WebhookVerificationError) -> int:
    """400 for a replay or a body that is not read; 401 for anything else: a delivery
    whose sender is not proven (signature missing, malformed or wrong; timestamp stale)."""
    reason = error.reason
    if reason == "replayed" or reason.startswith(("body too large", "body is not valid text")):
        return 400
    return 401


def _body(status: int) -> dict[str, Any]:
    return {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}


def _retry_after(value: object) -> int | None:
    """Whole seconds, rounded up and at most a day; None for none, a negative, inf or nan."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return min(math.ceil(value), MAX_RETRY_AFTER)
