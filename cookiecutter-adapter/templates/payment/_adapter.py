{%- set C = cookiecutter.__class -%}
"""The {{ cookiecutter.vendor_name }} payment adapters: the base holds all but the sending, each twin sends.

`nexus_connector_core.http` sends within ``ctx.timeout``, sets ``ctx.request_sent`` and
``ctx.status_code``, and maps every failure and error answer to the library's errors. Every
mutating request carries the call's idempotency key (the caller's, or one the pipeline
makes per call and keeps for every retry), so a retry after a lost answer is answered from
{{ cookiecutter.vendor_name }}'s idempotency store: the customer is charged once.
"""

from __future__ import annotations

from typing import Any

import httpx
from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    CaptureRequest,
    ConnectorError,
    InvalidRequestError,
    Money,
    Payment,
    PaymentDeclinedError,
    PaymentLookup,
    PaymentRequest,
    Refund,
    RefundRequest,
    VoidRequest,
)
{%- include "common/auth_imports.py" %}
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

from ._answers import ERRORS, decline_code, is_replayed, read_payment, read_refund
from ._options import {{ C }}Options
from ._requests import PAYMENTS, amount_body, payment_body, payment_path, refund_body

__all__ = {{ ["Async" ~ C ~ "PaymentAdapter", C ~ "PaymentAdapter"] | sort(case_sensitive=true) | tojson }}
{%- include "common/base.py" %}

    def error_for(self, response: httpx.Response) -> ConnectorError:
        error = super().error_for(response)
        if isinstance(error, PaymentDeclinedError):
            error.decline_code = decline_code(response, self.redact)
        return error

    @staticmethod
    def _keyed(ctx: CallContext) -> dict[str, str]:
        """The idempotency key's header (TODO(vendor): the header its API reference names)."""
        return {"Idempotency-Key": ctx.idempotency_key} if ctx.idempotency_key else {}

    @staticmethod
    def _same_currency(payment: Payment, amount: Money, operation: str) -> None:
        """Refuse to `operation` `amount` of `payment` in another currency, before anything
        that moves money is sent (the payment is looked up first). TODO(vendor): keep it if
        {{ cookiecutter.vendor_name }} takes a bare number (it would read 500 EUR of a USD payment
        as 500 cents)."""
        if amount.currency != payment.amount.currency:
            raise InvalidRequestError(
                f"cannot {operation} {amount} of payment {payment.vendor_id}, which is in "
                f"{payment.amount.currency}; give the amount in {payment.amount.currency}",
                code="currency_mismatch",
                maybe_processed=False,
            )

    def _payment(self, response: httpx.Response) -> Payment:
        replayed = is_replayed(response)
        return self.read(
            response, lambda body: read_payment(body, self.vendor, replayed), "a payment"
        )

    def _refund(self, response: httpx.Response) -> Refund:
        replayed = is_replayed(response)
        return self.read(
            response, lambda body: read_refund(body, self.vendor, replayed), "a refund"
        )


class {{ C }}PaymentAdapter(_{{ C }}, HttpAdapter):
    """Takes payments through {{ cookiecutter.vendor_name }}'s HTTP API."""

    def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        body = payment_body(request, capture=False)
        response = self.request("POST", PAYMENTS, ctx, json=body, headers=self._keyed(ctx))
        return self._payment(response)

    def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        body = payment_body(request, capture=True)
        response = self.request("POST", PAYMENTS, ctx, json=body, headers=self._keyed(ctx))
        return self._payment(response)

    def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment:
        if request.amount is not None:
            payment = self.get(PaymentLookup(request.payment_id), ctx)
            self._same_currency(payment, request.amount, "capture")
        path, body = payment_path(request.payment_id, "capture"), amount_body(request.amount)
        response = self.request("POST", path, ctx, json=body, headers=self._keyed(ctx))
        return self._payment(response)

    def refund(self, request: RefundRequest, ctx: CallContext) -> Refund:
        if request.amount is not None:
            payment = self.get(PaymentLookup(request.payment_id), ctx)
            self._same_currency(payment, request.amount, "refund")
        path, body = payment_path(request.payment_id, "refunds"), refund_body(request)
        response = self.request("POST", path, ctx, json=body, headers=self._keyed(ctx))
        return self._refund(response)

    def void(self, request: VoidRequest, ctx: CallContext) -> Payment:
        path = payment_path(request.payment_id, "void")
        response = self.request("POST", path, ctx, json={}, headers=self._keyed(ctx))
        return self._payment(response)

    def get(self, request: PaymentLookup, ctx: CallContext) -> Payment:
        return self._payment(self.request("GET", payment_path(request.payment_id), ctx))


class Async{{ C }}PaymentAdapter(_{{ C }}, AsyncHttpAdapter):
    """The asynchronous twin of `{{ C }}PaymentAdapter`."""

    async def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        body = payment_body(request, capture=False)
        response = await self.request("POST", PAYMENTS, ctx, json=body, headers=self._keyed(ctx))
        return self._payment(response)

    async def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        body = payment_body(request, capture=True)
        response = await self.request("POST", PAYMENTS, ctx, json=body, headers=self._keyed(ctx))
        return self._payment(response)

    async def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment:
        if request.amount is not None:
            payment = await self.get(PaymentLookup(request.payment_id), ctx)
            self._same_currency(payment, request.amount, "capture")
        path, body = payment_path(request.payment_id, "capture"), amount_body(request.amount)
        response = await self.request("POST", path, ctx, json=body, headers=self._keyed(ctx))
        return self._payment(response)

    async def refund(self, request: RefundRequest, ctx: CallContext) -> Refund:
        if request.amount is not None:
            payment = await self.get(PaymentLookup(request.payment_id), ctx)
            self._same_currency(payment, request.amount, "refund")
        path, body = payment_path(request.payment_id, "refunds"), refund_body(request)
        response = await self.request("POST", path, ctx, json=body, headers=self._keyed(ctx))
        return self._refund(response)

    async def void(self, request: VoidRequest, ctx: CallContext) -> Payment:
        path = payment_path(request.payment_id, "void")
        response = await self.request("POST", path, ctx, json={}, headers=self._keyed(ctx))
        return self._payment(response)

    async def get(self, request: PaymentLookup, ctx: CallContext) -> Payment:
        return self._payment(await self.request("GET", payment_path(request.payment_id), ctx))
