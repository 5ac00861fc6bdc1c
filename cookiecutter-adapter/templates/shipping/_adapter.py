{%- set C = cookiecutter.__class -%}
"""The {{ cookiecutter.vendor_name }} shipping adapters: the base holds all but the sending, each twin sends.

`nexus_connector_core.http` sends within ``ctx.timeout``, sets ``ctx.request_sent`` and
``ctx.status_code``, and maps every failure and error answer to the library's errors.
"""

from __future__ import annotations

from typing import Any

from nexus_connector_core import (
    AdapterSettings,
    Address,
    AddressValidation,
    BuyLabel,
    CallContext,
    Cancellation,
    CancelShipment,
    Label,
    Rate,
    Shipment,
    Tracking,
    TrackRequest,
)
{%- include "common/auth_imports.py" %}
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

from ._answers import (
    ERRORS,
    read_cancellation,
    read_label,
    read_rates,
    read_tracking,
    read_validation,
)
from ._options import {{ C }}Options
from ._requests import (
    ADDRESSES,
    SHIPMENTS,
    address_body,
    shipment_body,
    shipment_path,
    tracker_path,
)

__all__ = {{ ["Async" ~ C ~ "ShippingAdapter", C ~ "ShippingAdapter"] | sort(case_sensitive=true) | tojson }}
{%- include "common/base.py" %}


class {{ C }}ShippingAdapter(_{{ C }}, HttpAdapter):
    """Quotes, buys, tracks and cancels labels through {{ cookiecutter.vendor_name }}'s HTTP API."""

    def rates(self, request: Shipment, ctx: CallContext) -> list[Rate]:
        response = self.request("POST", SHIPMENTS, ctx, json=shipment_body(request))
        return self.read(response, lambda body: read_rates(body, self.vendor), "a shipment")

    def buy(self, request: BuyLabel, ctx: CallContext) -> Label:
        path, rate = shipment_path(request.shipment_id, "buy"), {"rate_id": request.rate_id}
        response = self.request("POST", path, ctx, json=rate)
        return self.read(response, lambda body: read_label(body, self.vendor), "a label")

    def track(self, request: TrackRequest, ctx: CallContext) -> Tracking:
        response = self.request("GET", tracker_path(request.tracking_code), ctx)
        return self.read(response, lambda body: read_tracking(body, self.vendor), "a tracker")

    def cancel(self, request: CancelShipment, ctx: CallContext) -> Cancellation:
        response = self.request("POST", shipment_path(request.shipment_id, "refund"), ctx)
        return self.read(response, lambda body: read_cancellation(body, self.vendor), "a refund")

    def validate_address(self, request: Address, ctx: CallContext) -> AddressValidation:
        response = self.request("POST", ADDRESSES, ctx, json=address_body(request))
        return self.read(response, lambda body: read_validation(body, self.vendor), "an address")


class Async{{ C }}ShippingAdapter(_{{ C }}, AsyncHttpAdapter):
    """The asynchronous twin of `{{ C }}ShippingAdapter`."""

    async def rates(self, request: Shipment, ctx: CallContext) -> list[Rate]:
        response = await self.request("POST", SHIPMENTS, ctx, json=shipment_body(request))
        return self.read(response, lambda body: read_rates(body, self.vendor), "a shipment")

    async def buy(self, request: BuyLabel, ctx: CallContext) -> Label:
        path, rate = shipment_path(request.shipment_id, "buy"), {"rate_id": request.rate_id}
        response = await self.request("POST", path, ctx, json=rate)
        return self.read(response, lambda body: read_label(body, self.vendor), "a label")

    async def track(self, request: TrackRequest, ctx: CallContext) -> Tracking:
        response = await self.request("GET", tracker_path(request.tracking_code), ctx)
        return self.read(response, lambda body: read_tracking(body, self.vendor), "a tracker")

    async def cancel(self, request: CancelShipment, ctx: CallContext) -> Cancellation:
        response = await self.request("POST", shipment_path(request.shipment_id, "refund"), ctx)
        return self.read(response, lambda body: read_cancellation(body, self.vendor), "a refund")

    async def validate_address(self, request: Address, ctx: CallContext) -> AddressValidation:
        response = await self.request("POST", ADDRESSES, ctx, json=address_body(request))
        return self.read(response, lambda body: read_validation(body, self.vendor), "an address")
