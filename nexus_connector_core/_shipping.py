"""The shipping category: addresses, shipments, rates, labels, tracking and the adapter protocol.

Units: a `Parcel` carries its weight and dimensions in the units the caller wrote them in
(`Parcel.mass_unit`: g, kg, oz, lb; `Parcel.distance_unit`: cm, in), and nothing in the
contract assumes one. Each adapter converts at its edge, exactly, to the units its vendor
wants (`Parcel.weight_as`, `Parcel.dimensions_as`: EasyPost takes ounces and inches), and
rounds only as the vendor requires, up, so that a parcel is never declared lighter or
smaller than it is. Money is `Money`; durations and dates are timezone-aware `datetime`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from fractions import Fraction
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

MassUnit = Literal["g", "kg", "oz", "lb"]
DistanceUnit = Literal["cm", "in"]
#: Grams per unit, exactly (the international avoirdupois pound is 453.59237 g, 1959).
_GRAMS: Mapping[str, Fraction] = {
    "g": Fraction(1),
    "kg": Fraction(1000),
    "oz": Fraction("28.349523125"),
    "lb": Fraction("453.59237"),
}
#: Centimetres per unit, exactly (the international inch is 2.54 cm, 1959).
_CENTIMETRES: Mapping[str, Fraction] = {"cm": Fraction(1), "in": Fraction("2.54")}
#: The largest weight or dimension a parcel may give, in its own unit: beyond any parcel,
#: and small enough that no vendor's arithmetic overflows on it.
MAX_MEASURE = 1_000_000_000


def _measure(value: object) -> Fraction | None:
    """`value` as written (a float by its shortest decimal form: 25.4 is 254/10, not the
    binary fraction nearest it), or None when it is not a finite number in range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    exact = Fraction(value) if isinstance(value, int) else Fraction(repr(value))
    return exact if 0 < exact <= MAX_MEASURE else None


def _shown(value: object) -> str:
    """`value` for a message, bounded (an int of a million digits is not printed)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_MEASURE:
        return f"an integer of {value.bit_length()} bits"
    shown = repr(value)
    return shown if len(shown) <= 40 else f"{shown[:39]}…"


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
    """A box: `weight` in `mass_unit`, optional dimensions in `distance_unit`.

    Every measure is a finite positive number, at most `MAX_MEASURE` in its unit;
    the dimensions are all given or none. Adapters read them in their vendor's units with
    `weight_as` and `dimensions_as`:

    >>> box = Parcel(weight=2, mass_unit="kg", length=25.4, width=20, height=10)
    >>> float(box.weight_as("oz")), [float(d) for d in box.dimensions_as("in")]
    (70.54792389916082, [10.0, 7.874015748031496, 3.937007874015748])
    """

    weight: float
    mass_unit: MassUnit = "g"
    length: float | None = None
    width: float | None = None
    height: float | None = None
    distance_unit: DistanceUnit = "cm"

    def __post_init__(self) -> None:
        if _measure(self.weight) is None:
            raise ValueError(
                f"Parcel.weight must be a positive number, at most {MAX_MEASURE:,} "
                f"{self.mass_unit}, got {_shown(self.weight)}"
            )
        dims = {"length": self.length, "width": self.width, "height": self.height}
        given = {name: value for name, value in dims.items() if value is not None}
        if given and len(given) < len(dims):
            raise ValueError("Parcel dimensions must be all given (length, width, height), or none")
        for name, value in given.items():
            if _measure(value) is None:
                raise ValueError(
                    f"Parcel.{name} must be a positive number, at most {MAX_MEASURE:,} "
                    f"{self.distance_unit}, got {_shown(value)}"
                )

    def weight_as(self, unit: MassUnit) -> Fraction:
        """The weight in `unit`, exactly (round it as the vendor requires, up)."""
        grams = _GRAMS[self.mass_unit] * _measure_of(self.weight)
        return grams / _GRAMS[unit]

    def dimensions_as(self, unit: DistanceUnit) -> tuple[Fraction, Fraction, Fraction] | None:
        """Length, width and height in `unit`, exactly; None when the parcel has none."""
        if self.length is None or self.width is None or self.height is None:
            return None
        scale = _CENTIMETRES[self.distance_unit] / _CENTIMETRES[unit]
        length, width, height = (
            _measure_of(d) * scale for d in (self.length, self.width, self.height)
        )
        return length, width, height

    @property
    def weight_grams(self) -> float:
        """The weight in grams, whatever unit it was given in."""
        return float(self.weight_as("g"))


def _measure_of(value: float) -> Fraction:
    exact = _measure(value)
    assert exact is not None  # checked when the parcel was made
    return exact


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
    """Whether an address is deliverable; `address` is the vendor's corrected form.

    `messages` are the vendor's words for people (what is wrong, or what it corrected);
    `fields` holds, for an address the vendor could not verify, its messages by `Address`
    field (``postal_code``, ``street1``...; ``address`` for the address as a whole), as
    `VendorError.fields` does for a vendor that refuses the address outright.
    """

    vendor: str
    vendor_id: str
    valid: bool
    address: Address | None = None
    messages: Sequence[str] = ()
    fields: Mapping[str, tuple[str, ...]] = {}
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
