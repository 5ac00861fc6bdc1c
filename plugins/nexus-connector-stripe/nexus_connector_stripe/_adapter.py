"""The Stripe payment adapters: `StripePaymentAdapter` (sync) and its async twin, on the core's
HTTP toolkit (`nexus_connector_core.http`). They differ only in how a request is sent;
`_requests` builds every request, `_answers` reads every answer and says what Stripe's
refusals mean.

Every mutating request (a POST) carries an ``Idempotency-Key``: the call's key
(``ctx.idempotency_key``: the caller's, or the one the pipeline makes once per call, before
the first attempt, for a vendor registered with ``idempotency_keys=True``), the same on
every retry. An operation the pipeline makes no key for (void, which is idempotent) gets one
made the same way, once per call, so that a retried cancellation is answered from Stripe's
idempotency store instead of failing on the state the first one left.
"""

from __future__ import annotations

import os
import re
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import msgspec

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    CaptureRequest,
    ConfigError,
    ConnectorError,
    Payment,
    PaymentLookup,
    PaymentRequest,
    Refund,
    RefundRequest,
    VoidRequest,
)
from nexus_connector_core.auth import BearerAuth
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

from . import _requests
from ._answers import ERRORS, is_replayed, vendor_error
from ._options import StripeOptions
from ._requests import Call
from ._version import __version__

__all__ = ["AsyncStripePaymentAdapter", "StripePaymentAdapter"]

T = TypeVar("T")

#: Where the key of a call the pipeline gave none is kept between its attempts.
_CALL_KEY = "stripe.idempotency_key"
_FORM = "application/x-www-form-urlencoded"
_SECRET_KEY = re.compile(r"(sk|rk)_[A-Za-z0-9_]+")


class _Stripe(HttpVendor):
    """What both twins share: settings, credentials, and one call's request and answer."""

    vendor_name = "Stripe"
    errors = ERRORS

    def __init__(self, settings: AdapterSettings) -> None:
        options = settings.options
        if options is None or isinstance(options, dict):  # built without the registration
            options = msgspec.convert(options or {}, StripeOptions)
        self.options: StripeOptions = options
        api_key = settings.secret("api_key")
        if not _SECRET_KEY.fullmatch(api_key):
            # The value is not shown: it is a credential, even when it is the wrong one.
            raise ConfigError(
                "api_key must be a secret key (sk_...) or a restricted key (rk_...) as the API "
                "keys page of the Stripe Dashboard shows it: letters, digits and underscores, "
                "no space or line break; a publishable key (pk_...) cannot take payments",
                path=f"connectors.{settings.connector}.credentials.api_key",
            )
        super().__init__(
            settings,
            base_url=self.options.base_url,
            auth=BearerAuth(settings.credentials["api_key"]),
            headers={
                "Accept": "application/json",
                "Stripe-Version": self.options.api_version,
                "User-Agent": f"nexus-connector-stripe/{__version__}",
            },
            timeout=self.options.timeout,
            transport=self.options.transport,
            secrets=[settings.credentials["api_key"]],
        )

    def error_for(self, response: httpx.Response) -> ConnectorError:
        return vendor_error(response, self.clock.time(), self.redact)

    def _send(self, call: Call[Any], ctx: CallContext) -> dict[str, Any]:
        """The keyword arguments of `HttpVendor.request` for `call`."""
        if not call.mutating:
            return {"params": call.params}
        key = ctx.idempotency_key
        if key is None:
            key = ctx.extras.setdefault(_CALL_KEY, "nc-" + os.urandom(16).hex())
        return {
            "content": urlencode(call.form or ()).encode("ascii"),
            "headers": {"Content-Type": _FORM, "Idempotency-Key": key},
        }

    def _read(self, response: httpx.Response, call: Call[T]) -> T:
        replayed = is_replayed(response)
        return self.read(response, lambda data: call.read(data, self.vendor, replayed), call.answer)


class StripePaymentAdapter(_Stripe, HttpAdapter):
    """Takes payments through Stripe's PaymentIntents API.

    Configured as a connector::

        [connectors.payment]
        vendor = "stripe"
        credentials = { api_key = "env:STRIPE_SECRET_KEY" }

    `authorize` holds the amount (``capture_method=manual``), `purchase` captures it at once;
    `capture` and `refund` take all or part; `void` cancels; `get` fetches the payment with
    its refunded total.
    """

    def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        """Create and confirm a PaymentIntent that holds ``request.amount``."""
        return self._call(_requests.authorize(request), ctx)

    def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        """Create and confirm a PaymentIntent that captures ``request.amount``."""
        return self._call(_requests.purchase(request), ctx)

    def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment:
        """Capture an authorized payment, all of it or ``request.amount``."""
        return self._call(_requests.capture(request), ctx)

    def refund(self, request: RefundRequest, ctx: CallContext) -> Refund:
        """Refund what is left of a captured payment, or ``request.amount`` of it."""
        return self._call(_requests.refund(request), ctx)

    def void(self, request: VoidRequest, ctx: CallContext) -> Payment:
        """Cancel an authorized, uncaptured payment."""
        return self._call(_requests.void(request), ctx)

    def get(self, request: PaymentLookup, ctx: CallContext) -> Payment:
        """The payment as Stripe reports it now."""
        return self._call(_requests.get(request), ctx)

    def _call(self, call: Call[T], ctx: CallContext) -> T:
        if call.guard is not None:
            call.guard.check(self._call(call.guard.lookup, ctx))
        response = self.request(call.method, call.path, ctx, **self._send(call, ctx))
        return self._read(response, call)


class AsyncStripePaymentAdapter(_Stripe, AsyncHttpAdapter):
    """The asynchronous twin of `StripePaymentAdapter`: the same requests on
    `httpx.AsyncClient`."""

    async def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        """Create and confirm a PaymentIntent that holds ``request.amount``."""
        return await self._call(_requests.authorize(request), ctx)

    async def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        """Create and confirm a PaymentIntent that captures ``request.amount``."""
        return await self._call(_requests.purchase(request), ctx)

    async def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment:
        """Capture an authorized payment, all of it or ``request.amount``."""
        return await self._call(_requests.capture(request), ctx)

    async def refund(self, request: RefundRequest, ctx: CallContext) -> Refund:
        """Refund what is left of a captured payment, or ``request.amount`` of it."""
        return await self._call(_requests.refund(request), ctx)

    async def void(self, request: VoidRequest, ctx: CallContext) -> Payment:
        """Cancel an authorized, uncaptured payment."""
        return await self._call(_requests.void(request), ctx)

    async def get(self, request: PaymentLookup, ctx: CallContext) -> Payment:
        """The payment as Stripe reports it now."""
        return await self._call(_requests.get(request), ctx)

    async def _call(self, call: Call[T], ctx: CallContext) -> T:
        if call.guard is not None:
            call.guard.check(await self._call(call.guard.lookup, ctx))
        response = await self.request(call.method, call.path, ctx, **self._send(call, ctx))
        return self._read(response, call)
