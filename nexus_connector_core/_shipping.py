"""The shipping category: addresses, shipments, rates, labels, tracking and the adapter protocol."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from ._context import CallContext
from ._money import Money
from ._operations import Category, Operation

__all__ = [
    "Address",
    "AddressValidation",
    "AsyncShippingAdapter",
    "BuyLabel",
    "CancelShipment",
    "Cancellation",
    "Label",
    "Parcel",
    "Rate",
    "SHIPPING",
    "Shipment",
    "ShippingAdapter",
    "TrackRequest",
    "Tracking",
    "TrackingEvent",
    "TrackingStatus",
]

_COUNTRY = re.compile(r"[A-Z]{2}")


class Address(msgspec.Struct, frozen=True, kw_only=True):
    """A postal address; `country` is an ISO 3166-1 alpha-2 code (``US``, ``DE``)."""

    name: str | None = None
    company: str | None = None
    street1: str
    street2: str | None = None
    city: str
    state: str | None = None
    postal_code: str
    country: str
    phone: str | None = None
    email: str | None = None
    residential: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.country, str) or not _COUNTRY.fullmatch(self.country.upper()):
            raise ValueError(
                "Address.country must be an ISO 3166-1 alpha-2 code like 'US', "
                f"got {self.country!r}"
            )
        if self.country != self.country.upper():
            msgspec.structs.force_setattr(self, "country", self.country.upper())
        for field in ("street1", "city", "postal_code"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"Address.{field} must be a non-empty string")


class Parcel(msgspec.Struct, frozen=True, kw_only=True):
    """A box: `weight` in `mass_unit`, optional dimensions in `distance_unit`."""

    weight: float
    mass_unit: Literal["g", "kg", "oz", "lb"] = "g"
    length: float | None = None
    width: float | None = None
    height: float | None = None
    distance_unit: Literal["cm", "in"] = "cm"

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"Parcel.weight must be positive, got {self.weight!r}")
        dims = (self.length, self.width, self.height)
        if any(d is not None for d in dims) and not all(d is not None and d > 0 for d in dims):
            raise ValueError("Parcel dimensions must be all given and positive, or none")

    @property
    def weight_grams(self) -> float:
        """The weight in grams, whatever unit it was given in."""
        return (
            self.weight
            * {"g": 1.0, "kg": 1000.0, "oz": 28.349523125, "lb": 453.59237}[self.mass_unit]
        )


class Shipment(msgspec.Struct, frozen=True, kw_only=True):
    """Parcels to ship from one address to another; `reference` is yours (an order number)."""

    from_address: Address
    to_address: Address
    parcels: Sequence[Parcel]
    reference: str | None = None

    def __post_init__(self) -> None:
        if not self.parcels:
            raise ValueError("Shipment needs at least one parcel")
        msgspec.structs.force_setattr(self, "parcels", tuple(self.parcels))


class Rate(msgspec.Struct, frozen=True, kw_only=True):
    """A price to ship a shipment with one carrier service; buy it with its `vendor_id`."""

    vendor: str
    vendor_id: str
    shipment_id: str
    carrier: str
    service: str
    amount: Money
    delivery_days: int | None = None
    raw: Any = None


class BuyLabel(msgspec.Struct, frozen=True):
    """Buy the label for a shipment at one of its rates."""

    shipment_id: str
    rate_id: str


class Label(msgspec.Struct, frozen=True, kw_only=True):
    """A bought label: print `label_url`, follow `tracking_code`."""

    vendor: str
    vendor_id: str
    shipment_id: str
    tracking_code: str
    label_url: str
    carrier: str
    service: str
    amount: Money
    raw: Any = None


TrackingStatus = Literal[
    "pre_transit",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "returned",
    "failure",
    "cancelled",
    "unknown",
]


class TrackRequest(msgspec.Struct, frozen=True):
    """Where is the parcel with this tracking code (at this carrier, when known)?"""

    tracking_code: str
    carrier: str | None = None


class TrackingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One scan or status change."""

    timestamp: datetime
    status: TrackingStatus
    message: str = ""
    location: str | None = None


class Tracking(msgspec.Struct, frozen=True, kw_only=True):
    """The tracking history of a parcel, newest event last."""

    vendor: str
    vendor_id: str
    tracking_code: str
    status: TrackingStatus
    carrier: str | None = None
    events: Sequence[TrackingEvent] = ()
    estimated_delivery: datetime | None = None
    raw: Any = None


class CancelShipment(msgspec.Struct, frozen=True):
    """Cancel a shipment (void its label and ask for a refund where one was bought)."""

    shipment_id: str


class Cancellation(msgspec.Struct, frozen=True, kw_only=True):
    """What the vendor said to a cancellation."""

    vendor: str
    vendor_id: str
    shipment_id: str
    status: Literal["submitted", "refunded", "rejected", "cancelled"]
    raw: Any = None


class AddressValidation(msgspec.Struct, frozen=True, kw_only=True):
    """Whether an address is deliverable; `address` is the vendor's corrected form."""

    vendor: str
    vendor_id: str
    valid: bool
    address: Address | None = None
    messages: Sequence[str] = ()
    raw: Any = None


@runtime_checkable
class ShippingAdapter(Protocol):
    """What a synchronous shipping vendor adapter implements."""

    def rates(self, request: Shipment, ctx: CallContext) -> list[Rate]: ...

    def buy(self, request: BuyLabel, ctx: CallContext) -> Label: ...

    def track(self, request: TrackRequest, ctx: CallContext) -> Tracking: ...

    def cancel(self, request: CancelShipment, ctx: CallContext) -> Cancellation: ...

    def validate_address(self, request: Address, ctx: CallContext) -> AddressValidation: ...


@runtime_checkable
class AsyncShippingAdapter(Protocol):
    """What an asynchronous shipping vendor adapter implements."""

    async def rates(self, request: Shipment, ctx: CallContext) -> list[Rate]: ...

    async def buy(self, request: BuyLabel, ctx: CallContext) -> Label: ...

    async def track(self, request: TrackRequest, ctx: CallContext) -> Tracking: ...

    async def cancel(self, request: CancelShipment, ctx: CallContext) -> Cancellation: ...

    async def validate_address(self, request: Address, ctx: CallContext) -> AddressValidation: ...


SHIPPING_RATES: Operation[Shipment, list[Rate]] = Operation(
    "rates", "shipping", Shipment, list, idempotent=True, reads=True
)
SHIPPING_BUY = Operation("buy", "shipping", BuyLabel, Label, idempotent=False)
SHIPPING_TRACK = Operation("track", "shipping", TrackRequest, Tracking, idempotent=True, reads=True)
SHIPPING_CANCEL = Operation("cancel", "shipping", CancelShipment, Cancellation, idempotent=True)
SHIPPING_VALIDATE_ADDRESS = Operation(
    "validate_address", "shipping", Address, AddressValidation, idempotent=True, reads=True
)


#: The shipping category. Buying a label spends money, so `buy` is not idempotent; asking
#: for rates creates a quote at some vendors but repeating it is harmless.
SHIPPING = Category(
    "shipping",
    (SHIPPING_RATES, SHIPPING_BUY, SHIPPING_TRACK, SHIPPING_CANCEL, SHIPPING_VALIDATE_ADDRESS),
)
