"""The payment category: payment requests, payments, refunds and the payment adapter protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from ._context import CallContext
from ._money import Money
from ._operations import Category, Operation

__all__ = [
    "AsyncPaymentAdapter",
    "CaptureRequest",
    "PAYMENT",
    "Payment",
    "PaymentAdapter",
    "PaymentLookup",
    "PaymentRequest",
    "PaymentStatus",
    "Refund",
    "RefundRequest",
    "VoidRequest",
]

#: Where a payment stands. ``authorized``: funds held, waiting for capture; ``succeeded``:
#: captured; ``canceled``: voided before capture; ``failed``: declined or errored.
PaymentStatus = Literal[
    "pending", "authorized", "succeeded", "canceled", "failed", "refunded", "partially_refunded"
]


def _require_id(value: object, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")


def _require_positive(money: Money | None, what: str) -> None:
    if money is not None and money.amount <= 0:
        raise ValueError(f"{what} must be positive, got {money}")


class PaymentRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Charge (or hold) `amount` on `payment_method` (a vendor token such as ``pm_card_visa``)."""

    amount: Money
    payment_method: str
    description: str | None = None
    customer: str | None = None
    metadata: Mapping[str, str] = {}

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Money):
            raise ValueError(f"PaymentRequest.amount must be Money, got {self.amount!r}")
        _require_positive(self.amount, "PaymentRequest.amount")
        _require_id(self.payment_method, "PaymentRequest.payment_method")


class CaptureRequest(msgspec.Struct, frozen=True):
    """Capture an authorized payment, all of it or `amount` of it."""

    payment_id: str
    amount: Money | None = None

    def __post_init__(self) -> None:
        _require_id(self.payment_id, "payment_id")
        _require_positive(self.amount, "capture amount")


class RefundRequest(msgspec.Struct, frozen=True):
    """Refund a captured payment, all of it or `amount` of it."""

    payment_id: str
    amount: Money | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        _require_id(self.payment_id, "payment_id")
        _require_positive(self.amount, "refund amount")


class VoidRequest(msgspec.Struct, frozen=True):
    """Cancel an authorized, uncaptured payment."""

    payment_id: str

    def __post_init__(self) -> None:
        _require_id(self.payment_id, "payment_id")


class PaymentLookup(msgspec.Struct, frozen=True):
    """Read a payment by the vendor's id."""

    payment_id: str

    def __post_init__(self) -> None:
        _require_id(self.payment_id, "payment_id")


class Payment(msgspec.Struct, frozen=True, kw_only=True):
    """A payment as the vendor reports it; `captured` and `refunded` are running totals.

    `replayed` is true when the vendor answered from its own idempotency store: a retry
    with the same idempotency key found the first attempt's outcome (Stripe's
    ``Idempotent-Replayed: true``), and no money moved again.
    """

    vendor: str
    vendor_id: str
    status: PaymentStatus
    amount: Money
    captured: Money
    refunded: Money
    payment_method: str | None = None
    customer: str | None = None
    description: str | None = None
    metadata: Mapping[str, str] = {}
    raw: Any = None
    replayed: bool = False


class Refund(msgspec.Struct, frozen=True, kw_only=True):
    """A refund of (part of) a payment; `replayed` as for `Payment`."""

    vendor: str
    vendor_id: str
    payment_id: str
    amount: Money
    status: Literal["pending", "succeeded", "failed", "canceled"]
    raw: Any = None
    replayed: bool = False


@runtime_checkable
class PaymentAdapter(Protocol):
    """What a synchronous payment vendor adapter implements."""

    def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment: ...

    def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment: ...

    def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment: ...

    def refund(self, request: RefundRequest, ctx: CallContext) -> Refund: ...

    def void(self, request: VoidRequest, ctx: CallContext) -> Payment: ...

    def get(self, request: PaymentLookup, ctx: CallContext) -> Payment: ...


@runtime_checkable
class AsyncPaymentAdapter(Protocol):
    """What an asynchronous payment vendor adapter implements."""

    async def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment: ...

    async def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment: ...

    async def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment: ...

    async def refund(self, request: RefundRequest, ctx: CallContext) -> Refund: ...

    async def void(self, request: VoidRequest, ctx: CallContext) -> Payment: ...

    async def get(self, request: PaymentLookup, ctx: CallContext) -> Payment: ...


PAYMENT_AUTHORIZE = Operation("authorize", "payment", PaymentRequest, Payment, idempotent=False)
PAYMENT_PURCHASE = Operation("purchase", "payment", PaymentRequest, Payment, idempotent=False)
PAYMENT_CAPTURE = Operation("capture", "payment", CaptureRequest, Payment, idempotent=False)
PAYMENT_REFUND = Operation("refund", "payment", RefundRequest, Refund, idempotent=False)
PAYMENT_VOID = Operation("void", "payment", VoidRequest, Payment, idempotent=True)
PAYMENT_GET = Operation("get", "payment", PaymentLookup, Payment, idempotent=True, reads=True)

#: The payment category. Only `void` and `get` are safe to repeat: a repeated authorize,
#: purchase, capture or refund moves money again unless the vendor honours idempotency keys.
PAYMENT = Category(
    "payment",
    (
        PAYMENT_AUTHORIZE,
        PAYMENT_PURCHASE,
        PAYMENT_CAPTURE,
        PAYMENT_REFUND,
        PAYMENT_VOID,
        PAYMENT_GET,
    ),
)
