"""The memory payment vendor: a small Stripe-like processor, idempotency keys included."""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypeVar, cast

import msgspec

from ..._adapters import AdapterSettings
from ..._context import CallContext
from ..._errors import (
    IdempotencyConflictError,
    InvalidRequestError,
    ObjectNotFoundError,
    PaymentDeclinedError,
)
from ..._money import Money
from ..._payment import (
    CaptureRequest,
    Payment,
    PaymentLookup,
    PaymentRequest,
    PaymentStatus,
    Refund,
    RefundRequest,
    VoidRequest,
)
from ._behaviour import MemoryVendor

__all__ = ["AsyncMemoryPaymentAdapter", "DECLINING_PAYMENT_METHODS", "MemoryPaymentAdapter"]

#: Payment methods that are declined, like Stripe's test tokens: method -> (code, message).
DECLINING_PAYMENT_METHODS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "pm_card_chargeDeclined": ("card_declined", "Your card was declined."),
        "pm_card_insufficient_funds": ("insufficient_funds", "Your card has insufficient funds."),
    }
)

#: The card issuer's reason each declining method reports, as Stripe's ``decline_code``.
_DECLINE_CODES: Mapping[str, str] = MappingProxyType(
    {
        "pm_card_chargeDeclined": "generic_decline",
        "pm_card_insufficient_funds": "insufficient_funds",
    }
)

_T = TypeVar("_T")

# Stripe forgets an idempotency key after 24 hours; so does this vendor, so a long-running
# process does not keep every reply forever.
_KEY_LIFETIME = 24 * 3600.0


class _PaymentRecord:
    """One payment's running state; read out as a `Payment` snapshot."""

    __slots__ = ("captured", "created", "id", "refunded", "request", "status")

    def __init__(self, request: PaymentRequest, status: PaymentStatus, now: float) -> None:
        self.id = "pay_" + secrets.token_hex(12)
        self.request = request
        self.status: PaymentStatus = status
        self.captured = request.amount.amount if status == "succeeded" else 0
        self.refunded = 0
        self.created = int(now)

    def money(self, amount: int) -> Money:
        return Money(amount, self.request.amount.currency)

    def snapshot(self, vendor: str) -> Payment:
        request = self.request
        raw = {
            "id": self.id,
            "object": "payment",
            "amount": request.amount.amount,
            "amount_captured": self.captured,
            "amount_refunded": self.refunded,
            "currency": request.amount.currency.lower(),
            "status": self.status,
            "payment_method": request.payment_method,
            "customer": request.customer,
            "description": request.description,
            "metadata": dict(request.metadata),
            "created": self.created,
        }
        return Payment(
            vendor=vendor,
            vendor_id=self.id,
            status=self.status,
            amount=request.amount,
            captured=self.money(self.captured),
            refunded=self.money(self.refunded),
            payment_method=request.payment_method,
            customer=request.customer,
            description=request.description,
            metadata=request.metadata,
            raw=raw,
        )


class _KeyedReply:
    """What an idempotency key was first used for, and what it answered."""

    __slots__ = ("created", "error", "operation", "request", "result")

    def __init__(self, operation: str, request: object, now: float) -> None:
        self.operation = operation
        self.request = request
        self.created = now
        self.result: object = None
        self.error: PaymentDeclinedError | None = None


def _unexpected_state(record: _PaymentRecord, done: str, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"payment {record.id} is {record.status}; only {allowed} payments can be {done}",
        code="payment_unexpected_state",
        status_code=400,
        maybe_processed=False,  # refused: nothing moved
    )


def _check_amount(record: _PaymentRecord, amount: Money, limit: int, what: str) -> None:
    currency = record.request.amount.currency
    if amount.currency != currency:
        raise InvalidRequestError(
            f"{what} of {amount} does not match payment {record.id}'s currency {currency}",
            code="currency_mismatch",
            status_code=400,
            maybe_processed=False,
        )
    if amount.amount > limit:
        raise InvalidRequestError(
            f"{what} of {amount} is more than the {record.money(limit)} available on payment "
            f"{record.id}",
            code="amount_too_large",
            status_code=400,
            maybe_processed=False,
        )


class _PaymentLedger(MemoryVendor):
    """The state and logic both payment twins share; they differ only in how a call begins."""

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self._payments: dict[str, _PaymentRecord] = {}
        self._replies: dict[str, _KeyedReply] = {}
        # One lock around check, effect and store, so two threads using the same key (or the
        # same payment) cannot both move money; the base's lock guards only `calls`.
        self._ledger_lock = threading.Lock()

    def _once(
        self, operation: str, request: object, ctx: CallContext, effect: Callable[[], _T]
    ) -> _T:
        """Run `effect` once per idempotency key, like Stripe: a replay answers as the first."""
        key = ctx.idempotency_key
        with self._ledger_lock:
            if key is None:
                return effect()
            now = ctx.clock.time()
            self._forget_replies_before(now - _KEY_LIFETIME)
            reply = self._replies.get(key)
            if reply is not None:
                if reply.operation != operation or reply.request != request:
                    raise IdempotencyConflictError(
                        f"idempotency key {key!r} was first used for another request "
                        f"({reply.operation}); use a new key for a new request",
                        key=key,
                    )
                if reply.error is not None:
                    raise copy.copy(reply.error)
                # Answered from the key's store, as Stripe marks it (Idempotent-Replayed).
                assert isinstance(reply.result, Payment | Refund)
                return cast(_T, msgspec.structs.replace(reply.result, replayed=True))
            reply = _KeyedReply(operation, request, now)
            try:
                result = effect()
            except PaymentDeclinedError as exc:
                # A decline is a processed request and is replayed; validation errors are not
                # stored (as at Stripe), so the same key may be retried once the state allows.
                reply.error = exc
                self._replies[key] = reply
                raise
            reply.result = result
            self._replies[key] = reply
            return result

    def _forget_replies_before(self, cutoff: float) -> None:
        # Replies are stored in the order they were made, so the expired ones come first.
        while self._replies:
            oldest = next(iter(self._replies))
            if self._replies[oldest].created > cutoff:
                return
            del self._replies[oldest]

    def _record(self, payment_id: str) -> _PaymentRecord:
        record = self._payments.get(payment_id)
        if record is None:
            raise ObjectNotFoundError(
                f"no payment with id {payment_id!r}; pass the vendor_id of a Payment this "
                "adapter returned",
                code="resource_missing",
                status_code=404,
                maybe_processed=False,
            )
        return record

    def _create(self, request: PaymentRequest, ctx: CallContext, *, capture: bool) -> Payment:
        decline = DECLINING_PAYMENT_METHODS.get(request.payment_method)
        if decline is not None:
            code, text = decline
            raise PaymentDeclinedError(
                f"payment method {request.payment_method} was declined: {text}",
                code=code,
                decline_code=_DECLINE_CODES.get(request.payment_method),
                status_code=402,
                vendor_message=text,
            )
        status: PaymentStatus = "succeeded" if capture else "authorized"
        record = _PaymentRecord(request, status, ctx.clock.time())
        self._payments[record.id] = record
        return record.snapshot(self.settings.vendor)

    def _authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        return self._once(
            "authorize", request, ctx, lambda: self._create(request, ctx, capture=False)
        )

    def _purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        return self._once(
            "purchase", request, ctx, lambda: self._create(request, ctx, capture=True)
        )

    def _capture(self, request: CaptureRequest, ctx: CallContext) -> Payment:
        def effect() -> Payment:
            record = self._record(request.payment_id)
            if record.status != "authorized":
                raise _unexpected_state(record, "captured", "authorized")
            authorized = record.request.amount
            amount = authorized if request.amount is None else request.amount
            _check_amount(record, amount, authorized.amount, "capture")
            record.captured = amount.amount
            record.status = "succeeded"
            return record.snapshot(self.settings.vendor)

        return self._once("capture", request, ctx, effect)

    def _refund(self, request: RefundRequest, ctx: CallContext) -> Refund:
        def effect() -> Refund:
            record = self._record(request.payment_id)
            if record.status not in ("succeeded", "partially_refunded"):
                raise _unexpected_state(record, "refunded", "succeeded or partially_refunded")
            remaining = record.captured - record.refunded
            amount = record.money(remaining) if request.amount is None else request.amount
            _check_amount(record, amount, remaining, "refund")
            record.refunded += amount.amount
            record.status = (
                "refunded" if record.refunded == record.captured else "partially_refunded"
            )
            refund_id = "re_" + secrets.token_hex(12)
            raw = {
                "id": refund_id,
                "object": "refund",
                "amount": amount.amount,
                "currency": amount.currency.lower(),
                "payment": record.id,
                "reason": request.reason,
                "status": "succeeded",
            }
            return Refund(
                vendor=self.settings.vendor,
                vendor_id=refund_id,
                payment_id=record.id,
                amount=amount,
                status="succeeded",
                raw=raw,
            )

        return self._once("refund", request, ctx, effect)

    def _void(self, request: VoidRequest, ctx: CallContext) -> Payment:
        def effect() -> Payment:
            record = self._record(request.payment_id)
            if record.status != "authorized":
                raise _unexpected_state(record, "voided", "authorized")
            record.status = "canceled"
            return record.snapshot(self.settings.vendor)

        return self._once("void", request, ctx, effect)

    def _get(self, request: PaymentLookup) -> Payment:
        with self._ledger_lock:
            return self._record(request.payment_id).snapshot(self.settings.vendor)


class MemoryPaymentAdapter(_PaymentLedger):
    """An in-process payment processor with Stripe's lifecycle, ids ``pay_...``/``re_...``.

    ``authorize`` holds funds (status ``authorized``), ``capture`` takes all or part of them
    (``succeeded``), ``purchase`` does both at once, ``refund`` gives back all or part of the
    captured amount (``partially_refunded``, then ``refunded``), ``void`` cancels an
    uncaptured authorization (``canceled``). A transition from the wrong state, a wrong
    currency or too large an amount is an `InvalidRequestError` with a Stripe-like code.

    Test convention, as Stripe's test tokens: payment method ``pm_card_chargeDeclined`` is
    declined with code ``card_declined`` (decline code ``generic_decline``),
    ``pm_card_insufficient_funds`` with ``insufficient_funds``; every other method succeeds.

    Like Stripe it honours ``ctx.idempotency_key`` on every mutating call: the same key with
    the same request answers as the first time (a decline included) without moving money
    again, its result marked ``replayed``; the same key with another request is an
    `IdempotencyConflictError`. Keys are forgotten 24 hours after first use.

    Attributes:
        calls: every ``(operation, request)`` served, replays and failed ones included.
    """

    def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        """Hold `request.amount` on the payment method."""
        self._begin("authorize", request, ctx)
        return self._authorize(request, ctx)

    def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        """Charge `request.amount` at once (authorize and capture)."""
        self._begin("purchase", request, ctx)
        return self._purchase(request, ctx)

    def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment:
        """Capture an authorized payment, all of it or `request.amount` of it."""
        self._begin("capture", request, ctx)
        return self._capture(request, ctx)

    def refund(self, request: RefundRequest, ctx: CallContext) -> Refund:
        """Refund what is left of a captured payment, or `request.amount` of it."""
        self._begin("refund", request, ctx)
        return self._refund(request, ctx)

    def void(self, request: VoidRequest, ctx: CallContext) -> Payment:
        """Cancel an authorized, uncaptured payment."""
        self._begin("void", request, ctx)
        return self._void(request, ctx)

    def get(self, request: PaymentLookup, ctx: CallContext) -> Payment:
        """The payment as it stands now."""
        self._begin("get", request, ctx)
        return self._get(request)


class AsyncMemoryPaymentAdapter(_PaymentLedger):
    """The asynchronous twin of `MemoryPaymentAdapter`, with the same ledger and conventions."""

    async def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        """Hold `request.amount` on the payment method."""
        await self._abegin("authorize", request, ctx)
        return self._authorize(request, ctx)

    async def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        """Charge `request.amount` at once (authorize and capture)."""
        await self._abegin("purchase", request, ctx)
        return self._purchase(request, ctx)

    async def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment:
        """Capture an authorized payment, all of it or `request.amount` of it."""
        await self._abegin("capture", request, ctx)
        return self._capture(request, ctx)

    async def refund(self, request: RefundRequest, ctx: CallContext) -> Refund:
        """Refund what is left of a captured payment, or `request.amount` of it."""
        await self._abegin("refund", request, ctx)
        return self._refund(request, ctx)

    async def void(self, request: VoidRequest, ctx: CallContext) -> Payment:
        """Cancel an authorized, uncaptured payment."""
        await self._abegin("void", request, ctx)
        return self._void(request, ctx)

    async def get(self, request: PaymentLookup, ctx: CallContext) -> Payment:
        """The payment as it stands now."""
        await self._abegin("get", request, ctx)
        return self._get(request)
