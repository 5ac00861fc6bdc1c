"""Each operation as the HTTP request Stripe's v1 API expects (pure: no I/O, shared by both
adapters and the tests).

Stripe takes form-encoded bodies, nested keys written with brackets
(``metadata[order_id]=1042``, ``expand[]=latest_charge``), amounts as integers in the
currency's minor units and currencies in lower case::

    authorize  POST /v1/payment_intents                 confirm=true, capture_method=manual
    purchase   POST /v1/payment_intents                 confirm=true, capture_method=automatic
    capture    POST /v1/payment_intents/{id}/capture    amount_to_capture (partial)
    refund     POST /v1/refunds                         payment_intent, amount (partial), reason
    void       POST /v1/payment_intents/{id}/cancel
    get        GET  /v1/payment_intents/{id}

Authorize and purchase create and confirm the PaymentIntent in one request, so one
idempotency key covers the whole charge; ``automatic_payment_methods[allow_redirects]=never``
keeps the confirmation on the server (a payment method that needs a redirect is refused
rather than left waiting for a customer who is not there). Every PaymentIntent answer has
its ``latest_charge`` expanded: its ``amount_refunded`` is the payment's refunded total.

A request that cannot be right is refused here, before anything is sent: an id that is not
a PaymentIntent's, metadata Stripe would refuse, a refund reason it does not know.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from nexus_connector_core import (
    CaptureRequest,
    InvalidRequestError,
    Money,
    ObjectNotFoundError,
    Payment,
    PaymentLookup,
    PaymentRequest,
    Refund,
    RefundRequest,
    VoidRequest,
)

from ._answers import read_payment, read_refund

__all__ = [
    "METADATA_LIMITS",
    "REFUND_REASONS",
    "Call",
    "CurrencyGuard",
    "authorize",
    "capture",
    "get",
    "purchase",
    "refund",
    "void",
]

T = TypeVar("T")

Form = Sequence[tuple[str, str]]

#: Stripe's limits on metadata (docs.stripe.com/metadata): keys, characters of a key,
#: characters of a value.
METADATA_LIMITS = (50, 40, 500)
#: The refund reasons Stripe takes (``reason`` of a Refund).
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})

_PAYMENT_INTENT = re.compile(r"pi_[A-Za-z0-9]{1,250}")
_EXPAND: Form = (("expand[]", "latest_charge"),)
_INTENT = "a PaymentIntent"


class Call(NamedTuple, Generic[T]):
    """One operation as an HTTP exchange.

    Attributes:
        method / path: what to ask, relative to ``options.base_url``.
        form: the form fields of a POST, in order (a key may repeat).
        params: the query of a GET.
        read: reads a 2xx answer's JSON body (with the vendor key and whether Stripe
            replayed it) into the result.
        answer: what the answer is, as a message names it ("a PaymentIntent").
        guard: for a capture or refund of an amount, the check that the amount is in the
            payment's currency, made on the payment looked up first (Stripe takes a bare
            number, and would take 500 EUR from a USD payment as 500 cents).
    """

    method: str
    path: str
    form: Form | None
    params: Form | None
    read: Callable[[Any, str, bool], T]
    answer: str
    guard: CurrencyGuard | None = None

    @property
    def mutating(self) -> bool:
        """Whether the request changes something at Stripe (and carries an idempotency key)."""
        return self.method == "POST"


class CurrencyGuard(NamedTuple):
    """What a capture or refund of `amount` checks before it is sent: that payment
    `payment_id` is in the amount's currency."""

    payment_id: str
    amount: Money
    operation: str

    @property
    def lookup(self) -> Call[Payment]:
        """The request that fetches the payment."""
        return get(PaymentLookup(self.payment_id))

    def check(self, payment: Payment) -> None:
        """Refuse the operation when `payment` is in another currency than the amount."""
        if self.amount.currency != payment.amount.currency:
            raise InvalidRequestError(
                f"cannot {self.operation} {self.amount} of payment {payment.vendor_id}, which "
                f"is in {payment.amount.currency}; give the amount in {payment.amount.currency}",
                code="currency_mismatch",
                maybe_processed=False,
            )


def authorize(request: PaymentRequest) -> Call[Payment]:
    """Create and confirm a PaymentIntent that holds the amount for a later capture."""
    return _create(request, "manual")


def purchase(request: PaymentRequest) -> Call[Payment]:
    """Create and confirm a PaymentIntent that captures the amount at once."""
    return _create(request, "automatic")


def capture(request: CaptureRequest) -> Call[Payment]:
    """Capture an authorized PaymentIntent, all of it or ``request.amount``."""
    form = [] if request.amount is None else [("amount_to_capture", str(request.amount.amount))]
    path = f"{_intent_path(request.payment_id)}/capture"
    guard = _guard(request.payment_id, request.amount, "capture")
    return Call("POST", path, [*form, *_EXPAND], None, read_payment, _INTENT, guard)


def refund(request: RefundRequest) -> Call[Refund]:
    """Refund a PaymentIntent's capture, what is left of it or ``request.amount``."""
    _intent_path(request.payment_id)
    form = [("payment_intent", request.payment_id)]
    if request.amount is not None:
        form.append(("amount", str(request.amount.amount)))
    if request.reason is not None:
        if request.reason not in REFUND_REASONS:
            raise InvalidRequestError(
                f"refund reason {request.reason!r} is not one Stripe takes; use one of "
                f"{', '.join(sorted(REFUND_REASONS))}, or none",
                code="refund_reason_invalid",
                maybe_processed=False,
            )
        form.append(("reason", request.reason))
    guard = _guard(request.payment_id, request.amount, "refund")
    return Call("POST", "/v1/refunds", form, None, read_refund, "a Refund", guard)


def void(request: VoidRequest) -> Call[Payment]:
    """Cancel a PaymentIntent that was authorized and not captured."""
    path = f"{_intent_path(request.payment_id)}/cancel"
    return Call("POST", path, _EXPAND, None, read_payment, _INTENT)


def get(request: PaymentLookup) -> Call[Payment]:
    """Fetch a PaymentIntent, its latest charge (and so its refunds) expanded."""
    return Call("GET", _intent_path(request.payment_id), None, _EXPAND, read_payment, _INTENT)


def _guard(payment_id: str, amount: Money | None, operation: str) -> CurrencyGuard | None:
    return None if amount is None else CurrencyGuard(payment_id, amount, operation)


def _create(request: PaymentRequest, capture_method: str) -> Call[Payment]:
    _encodable(request.payment_method, "payment_method")
    _encodable(request.description, "description")
    _encodable(request.customer, "customer")
    form = [
        ("amount", str(request.amount.amount)),
        ("currency", request.amount.currency.lower()),
        ("payment_method", request.payment_method),
        ("confirm", "true"),
        ("capture_method", capture_method),
        ("automatic_payment_methods[enabled]", "true"),
        ("automatic_payment_methods[allow_redirects]", "never"),
    ]
    if request.description is not None:
        form.append(("description", request.description))
    if request.customer is not None:
        form.append(("customer", request.customer))
    form += _metadata(request.metadata)
    return Call("POST", "/v1/payment_intents", [*form, *_EXPAND], None, read_payment, _INTENT)


def _metadata(metadata: Mapping[str, str]) -> Form:
    most_keys, key_length, value_length = METADATA_LIMITS
    if len(metadata) > most_keys:
        raise _bad_metadata(f"has {len(metadata)} keys; Stripe takes at most {most_keys}")
    for key, value in metadata.items():
        _encodable(key, "metadata key")
        _encodable(value, f"metadata[{key}]")
        if not key or len(key) > key_length or "[" in key or "]" in key:
            raise _bad_metadata(
                f"key {key[:50]!r} must have 1 to {key_length} characters and no square brackets"
            )
        if len(value) > value_length:
            raise _bad_metadata(f"value of {key!r} has more than {value_length} characters")
    return [(f"metadata[{key}]", value) for key, value in metadata.items()]


def _encodable(text: str | None, field: str) -> None:
    """Refuse text that has no UTF-8 form (a lone surrogate), which no form can carry."""
    if text is None:
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(
            f"PaymentRequest.{field} holds a character that has no UTF-8 form (a lone "
            "surrogate, from text decoded with errors='surrogateescape'); decode it properly",
            code="text_invalid",
            maybe_processed=False,
        ) from None


def _bad_metadata(problem: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"PaymentRequest.metadata {problem}", code="metadata_invalid", maybe_processed=False
    )


def _intent_path(payment_id: str) -> str:
    if not _PAYMENT_INTENT.fullmatch(payment_id):
        # Stripe would answer 404; refusing here also keeps the id out of the path.
        raise ObjectNotFoundError(
            f"{payment_id[:60]!r} is not a Stripe PaymentIntent id ('pi_' and letters or "
            "digits); pass the vendor_id of a Payment this connector returned",
            code="resource_missing",
            maybe_processed=False,
        )
    return f"/v1/payment_intents/{payment_id}"
