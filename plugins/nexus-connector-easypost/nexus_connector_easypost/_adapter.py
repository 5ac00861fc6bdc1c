"""The EasyPost shipping adapters: `EasyPostShippingAdapter` (sync) and its async twin, on the
core's HTTP toolkit (`nexus_connector_core.http`). They differ only in how a request is sent;
`_requests` builds every request, `_answers` reads every answer and says what EasyPost's
refusals mean.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
import msgspec

from nexus_connector_core import (
    AdapterSettings,
    Address,
    AddressValidation,
    BuyLabel,
    CallContext,
    Cancellation,
    CancelShipment,
    ConfigError,
    ConnectorError,
    Label,
    Rate,
    Shipment,
    Tracking,
    TrackRequest,
)
from nexus_connector_core.auth import BasicAuth
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

from . import _requests
from ._answers import ERRORS, vendor_error
from ._options import EasyPostOptions
from ._requests import Call
from ._version import __version__

__all__ = ["AsyncEasyPostShippingAdapter", "EasyPostShippingAdapter"]

T = TypeVar("T")

_HEADERS = {"Accept": "application/json", "User-Agent": f"nexus-connector-easypost/{__version__}"}
_JSON = {"Content-Type": "application/json"}


class _EasyPost(HttpVendor):
    """What both twins share: settings, the API key, and one call's request and answer."""

    vendor_name = "EasyPost"
    errors = ERRORS

    def __init__(self, settings: AdapterSettings) -> None:
        options = settings.options
        if options is None or isinstance(options, dict):  # built without the registration
            options = msgspec.convert(options or {}, EasyPostOptions)
        self.options: EasyPostOptions = options
        api_key = settings.secret("api_key")
        if not api_key or any(c.isspace() or not c.isprintable() for c in api_key):
            # The value is not shown: it is a credential.
            raise ConfigError(
                "api_key must be an EasyPost API key (EZAK... in production, EZTK... in test "
                "mode) without spaces, line breaks or other invisible characters",
                path=f"connectors.{settings.connector}.credentials.api_key",
            )
        secret = settings.credentials["api_key"]
        super().__init__(
            settings,
            base_url=self.options.base_url,
            # The key is the Basic user name, with no password (EasyPost's documented auth).
            auth=BasicAuth(secret, ""),
            headers=_HEADERS,
            timeout=self.options.timeout,
            transport=self.options.transport,
            # Masked as sent too: Basic is base64 of "<key>:".
            secrets=[secret, f"{api_key}:"],
        )

    def error_for(self, response: httpx.Response) -> ConnectorError:
        return vendor_error(response, self.clock.time(), self.redact)

    def _read(self, response: httpx.Response, call: Call[T]) -> T:
        # EasyPost acted (2xx): an answer we cannot read is a VendorError, maybe processed.
        return self.read(response, lambda body: call.read(body, self.vendor), call.what)

    def _validate(self, address: Address) -> Call[AddressValidation]:
        return _requests.validate_address(address, self.options.address_verification)


class EasyPostShippingAdapter(_EasyPost, HttpAdapter):
    """Quotes, buys, tracks and refunds shipments and verifies addresses through EasyPost.

    Configured as a connector::

        [connectors.shipping]
        vendor = "easypost"
        credentials = { api_key = "env:EASYPOST_API_KEY" }

    Parcels go to EasyPost in ounces and inches, rounded up to a tenth; a shipment carries
    one parcel. `buy` is never retried once it may have reached EasyPost.
    """

    def rates(self, request: Shipment, ctx: CallContext) -> list[Rate]:
        """Create a Shipment: EasyPost's rates for it, cheapest first."""
        return self._call(_requests.rates(request), ctx)

    def buy(self, request: BuyLabel, ctx: CallContext) -> Label:
        """Buy the shipment's label at the rate."""
        return self._call(_requests.buy(request), ctx)

    def track(self, request: TrackRequest, ctx: CallContext) -> Tracking:
        """The Tracker of the code: its status and events."""
        return self._call(_requests.track(request), ctx)

    def cancel(self, request: CancelShipment, ctx: CallContext) -> Cancellation:
        """Ask EasyPost to refund the shipment's label."""
        return self._call(_requests.cancel(request), ctx)

    def validate_address(self, request: Address, ctx: CallContext) -> AddressValidation:
        """Verify the address (``options.address_verification``)."""
        return self._call(self._validate(request), ctx)

    def _call(self, call: Call[T], ctx: CallContext) -> T:
        sent: dict[str, Any] = {"content": call.body, "headers": _JSON} if call.body else {}
        return self._read(self.request(call.method, call.path, ctx, **sent), call)


class AsyncEasyPostShippingAdapter(_EasyPost, AsyncHttpAdapter):
    """The asynchronous twin of `EasyPostShippingAdapter`: the same requests on
    `httpx.AsyncClient`."""

    async def rates(self, request: Shipment, ctx: CallContext) -> list[Rate]:
        """Create a Shipment: EasyPost's rates for it, cheapest first."""
        return await self._call(_requests.rates(request), ctx)

    async def buy(self, request: BuyLabel, ctx: CallContext) -> Label:
        """Buy the shipment's label at the rate."""
        return await self._call(_requests.buy(request), ctx)

    async def track(self, request: TrackRequest, ctx: CallContext) -> Tracking:
        """The Tracker of the code: its status and events."""
        return await self._call(_requests.track(request), ctx)

    async def cancel(self, request: CancelShipment, ctx: CallContext) -> Cancellation:
        """Ask EasyPost to refund the shipment's label."""
        return await self._call(_requests.cancel(request), ctx)

    async def validate_address(self, request: Address, ctx: CallContext) -> AddressValidation:
        """Verify the address (``options.address_verification``)."""
        return await self._call(self._validate(request), ctx)

    async def _call(self, call: Call[T], ctx: CallContext) -> T:
        sent: dict[str, Any] = {"content": call.body, "headers": _JSON} if call.body else {}
        return self._read(await self.request(call.method, call.path, ctx, **sent), call)
