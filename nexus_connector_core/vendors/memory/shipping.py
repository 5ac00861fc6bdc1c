"""The memory shipping vendor: an EasyPost-like carrier whose parcels move as you track them."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from ..._adapters import AdapterSettings
from ..._context import CallContext
from ..._errors import InvalidRequestError, ObjectNotFoundError
from ..._money import Money
from ..._shipping import (
    Address,
    AddressValidation,
    BuyLabel,
    Cancellation,
    CancelShipment,
    Label,
    Rate,
    Shipment,
    Tracking,
    TrackingEvent,
    TrackingStatus,
    TrackRequest,
)
from ._behaviour import MemoryVendor

__all__ = ["AsyncMemoryShippingAdapter", "CARRIER", "MemoryShippingAdapter"]

#: The carrier every memory rate and label is with.
CARRIER = "MemoryPost"

# service, base price and price per started 100 g in US cents, delivery days at home/abroad.
_SERVICES = (
    ("Ground", 599, 35, 5, 10),
    ("Express", 1299, 60, 2, 4),
    ("Overnight", 2999, 95, 1, 2),
)
# Crossing a border adds a flat fee and doubles the weight charge.
_INTERNATIONAL_FEE = 1500

_JOURNEY: tuple[tuple[TrackingStatus, str], ...] = (
    ("pre_transit", "Shipping label created"),
    ("in_transit", "Departed MemoryPost facility"),
    ("out_for_delivery", "Out for delivery"),
    ("delivered", "Delivered"),
)
# EasyPost's test tracking codes answer with a fixed status, whatever was bought.
_TEST_CODES: dict[str, TrackingStatus] = {
    "EZ1000000001": "pre_transit",
    "EZ2000000002": "in_transit",
    "EZ3000000003": "out_for_delivery",
    "EZ4000000004": "delivered",
    "EZ5000000005": "returned",
    "EZ6000000006": "failure",
    "EZ7000000007": "unknown",
}
_BLANK_POSTAL_CODE = re.compile(r"[\s0-]*")


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _price(shipment: Shipment, base: int, per_100g: int) -> int:
    units = math.ceil(sum(parcel.weight_grams for parcel in shipment.parcels) / 100)
    if shipment.from_address.country != shipment.to_address.country:
        return base + _INTERNATIONAL_FEE + 2 * per_100g * units
    return base + per_100g * units


class _ShipmentRecord:
    """A shipment, its rates, and once bought its label and the parcel's journey."""

    __slots__ = ("cancellation", "events", "id", "label", "looked_up", "rates", "shipment")

    def __init__(self, shipment: Shipment) -> None:
        self.id = "shp_" + secrets.token_hex(12)
        self.shipment = shipment
        self.rates: dict[str, Rate] = {}
        self.label: Label | None = None
        self.events: list[TrackingEvent] = []
        self.looked_up = False
        self.cancellation: Cancellation | None = None

    @property
    def status(self) -> TrackingStatus:
        return self.events[-1].status if self.events else "unknown"

    def record_event(self, step: int, now: float) -> None:
        status, message = _JOURNEY[step]
        address = self.shipment.from_address if step < 2 else self.shipment.to_address
        location = f"{address.city}, {address.country}"
        event = TrackingEvent(
            timestamp=_utc(now), status=status, message=message, location=location
        )
        self.events.append(event)


class _Carrier(MemoryVendor):
    """The state and logic both shipping twins share; they differ only in how a call begins."""

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self._shipments: dict[str, _ShipmentRecord] = {}
        self._by_tracking_code: dict[str, _ShipmentRecord] = {}
        self._labels: list[Label] = []

    @property
    def labels(self) -> list[Label]:
        """Every label sold, in order (a copy), refunded ones included."""
        with self._lock:
            return list(self._labels)

    def _shipment(self, shipment_id: str) -> _ShipmentRecord:
        record = self._shipments.get(shipment_id)
        if record is None:
            raise ObjectNotFoundError(
                f"no shipment with id {shipment_id!r}; ask for rates first and use the "
                "shipment_id of one of them",
                code="SHIPMENT.NOT_FOUND",
                status_code=404,
            )
        return record

    def _rates(self, shipment: Shipment) -> list[Rate]:
        record = _ShipmentRecord(shipment)
        abroad = shipment.from_address.country != shipment.to_address.country
        for service, base, per_100g, days_home, days_abroad in _SERVICES:
            rate_id = "rate_" + secrets.token_hex(12)
            amount = Money(_price(shipment, base, per_100g), "USD")
            days = days_abroad if abroad else days_home
            raw = {
                "id": rate_id,
                "object": "Rate",
                "shipment_id": record.id,
                "carrier": CARRIER,
                "service": service,
                "rate": str(amount.to_decimal()),
                "currency": amount.currency,
                "delivery_days": days,
            }
            record.rates[rate_id] = Rate(
                vendor=self.settings.vendor,
                vendor_id=rate_id,
                shipment_id=record.id,
                carrier=CARRIER,
                service=service,
                amount=amount,
                delivery_days=days,
                raw=raw,
            )
        with self._lock:
            self._shipments[record.id] = record
        return sorted(record.rates.values(), key=lambda rate: rate.amount.amount)

    def _buy(self, request: BuyLabel, ctx: CallContext) -> Label:
        with self._lock:
            record = self._shipment(request.shipment_id)
            rate = record.rates.get(request.rate_id)
            if rate is None:
                raise ObjectNotFoundError(
                    f"shipment {record.id} has no rate {request.rate_id!r}; use the vendor_id "
                    "of one of the rates returned with it",
                    code="RATE.NOT_FOUND",
                    status_code=404,
                )
            if record.label is not None or record.cancellation is not None:
                raise InvalidRequestError(
                    f"shipment {record.id} already has a label or was cancelled; create a new "
                    "shipment (ask for rates again) to buy another label",
                    code="already_purchased",
                    status_code=422,
                )
            tracking_code = f"MP{secrets.randbelow(10**18):018d}"
            while tracking_code in self._by_tracking_code:  # astronomically rare, but cheap
                tracking_code = f"MP{secrets.randbelow(10**18):018d}"
            label_id = "pl_" + secrets.token_hex(12)
            label_url = f"memory://labels/{record.id}.pdf"
            raw = {
                "id": label_id,
                "object": "PostageLabel",
                "shipment_id": record.id,
                "tracking_code": tracking_code,
                "label_url": label_url,
                "label_file_type": "application/pdf",
                "created_at": _utc(ctx.clock.time()).isoformat(),
                "rate": rate.raw,
            }
            record.label = Label(
                vendor=self.settings.vendor,
                vendor_id=label_id,
                shipment_id=record.id,
                tracking_code=tracking_code,
                label_url=label_url,
                carrier=CARRIER,
                service=rate.service,
                amount=rate.amount,
                raw=raw,
            )
            record.record_event(0, ctx.clock.time())
            self._by_tracking_code[tracking_code] = record
            self._labels.append(record.label)
            return record.label

    def _track(self, request: TrackRequest, ctx: CallContext) -> Tracking:
        now = ctx.clock.time()
        test_status = _TEST_CODES.get(request.tracking_code)
        if test_status is not None:
            return self._tracking(
                request.tracking_code, test_status, _test_events(test_status, now)
            )
        with self._lock:
            record = self._by_tracking_code.get(request.tracking_code)
            if record is None:
                raise ObjectNotFoundError(
                    f"no parcel with tracking code {request.tracking_code!r}; use the "
                    "tracking_code of a Label this adapter sold",
                    code="TRACKER.NOT_FOUND",
                    status_code=404,
                )
            # The first lookup shows the label just created; each later one moves it on.
            step = len(record.events) - 1
            if record.looked_up and record.cancellation is None and step < len(_JOURNEY) - 1:
                record.record_event(step + 1, now)
            record.looked_up = True
            return self._tracking(request.tracking_code, record.status, tuple(record.events))

    def _tracking(
        self, code: str, status: TrackingStatus, events: Sequence[TrackingEvent]
    ) -> Tracking:
        raw = {
            "id": "trk_" + code,
            "object": "Tracker",
            "tracking_code": code,
            "carrier": CARRIER,
            "status": status,
            "tracking_details": [
                {"datetime": e.timestamp.isoformat(), "status": e.status, "message": e.message}
                for e in events
            ],
        }
        return Tracking(
            vendor=self.settings.vendor,
            vendor_id="trk_" + code,
            tracking_code=code,
            status=status,
            carrier=CARRIER,
            events=events,
            raw=raw,
        )

    def _cancel(self, request: CancelShipment, ctx: CallContext) -> Cancellation:
        with self._lock:
            record = self._shipment(request.shipment_id)
            if record.cancellation is not None:
                return record.cancellation  # asked again: the same answer
            status: Literal["cancelled", "refunded", "rejected"]
            if record.label is None:
                status = "cancelled"
            elif record.status == "pre_transit":
                status = "refunded"
            else:
                # The parcel is with the carrier: too late to void the label.
                status = "rejected"
            refund_id = "rfnd_" + secrets.token_hex(12)
            raw = {"id": refund_id, "object": "Refund", "shipment_id": record.id, "status": status}
            cancellation = Cancellation(
                vendor=self.settings.vendor,
                vendor_id=refund_id,
                shipment_id=record.id,
                status=status,
                raw=raw,
            )
            if status != "rejected":
                record.cancellation = cancellation
                if record.label is not None:
                    event = TrackingEvent(
                        timestamp=_utc(ctx.clock.time()),
                        status="cancelled",
                        message="Label voided and refunded",
                    )
                    record.events.append(event)
            return cancellation

    def _validate_address(self, address: Address) -> AddressValidation:
        problems: list[tuple[str, str]] = []  # (Address field, message)
        if _BLANK_POSTAL_CODE.fullmatch(address.postal_code):
            message = f"postal code {address.postal_code!r} is missing or blank"
            problems.append(("postal_code", message))
        if "invalid" in address.street1.lower():
            problems.append(("street1", f"street {address.street1!r} was not found"))
        changes: dict[str, str] = {}
        for field in ("street1", "street2", "city", "state", "postal_code"):
            value = getattr(address, field)
            if value is not None:
                normal = " ".join(value.split()).upper()
                if normal != value:
                    changes[field] = normal
        normalised = msgspec.structs.replace(address, **changes)
        messages = [message for _, message in problems] or [
            f"{field} corrected to {value!r}" for field, value in changes.items()
        ]
        fields: dict[str, tuple[str, ...]] = {}
        for field, message in problems:
            fields[field] = (*fields.get(field, ()), message)
        address_id = "adr_" + secrets.token_hex(12)
        raw = {
            "id": address_id,
            "object": "Address",
            **msgspec.to_builtins(normalised),
            "verifications": {
                "delivery": {
                    "success": not problems,
                    "errors": [{"field": f, "message": m} for f, m in problems],
                }
            },
        }
        return AddressValidation(
            vendor=self.settings.vendor,
            vendor_id=address_id,
            valid=not problems,
            address=None if problems else normalised,
            messages=messages,
            fields=fields,
            raw=raw,
        )


def _test_events(status: TrackingStatus, now: float) -> tuple[TrackingEvent, ...]:
    """A plausible history ending in `status`, a day per event, the last one now."""
    if status == "unknown":
        return ()
    steps = [s for s, _ in _JOURNEY]
    path = steps[: steps.index(status) + 1] if status in steps else [*steps[:2], status]
    return tuple(
        TrackingEvent(timestamp=_utc(now) - timedelta(days=len(path) - 1 - i), status=s)
        for i, s in enumerate(path)
    )


class MemoryShippingAdapter(_Carrier):
    """An in-process carrier, ``MemoryPost``, with EasyPost-like ids and behaviour.

    `rates` quotes Ground, Express and Overnight in USD from the total parcel weight (per
    started 100 g) and whether the parcel crosses a border; each call creates a shipment
    (``shp_...``) with its rates (``rate_...``). `buy` sells a label with a tracking code
    ``MP`` + 18 digits. `track` shows the label created (``pre_transit``) on the first
    lookup, then moves one step per lookup: ``in_transit``, ``out_for_delivery``,
    ``delivered``. `cancel` refunds a label still in ``pre_transit`` and rejects one already
    moving. EasyPost's test codes ``EZ1000000001`` to ``EZ7000000007`` track with their
    fixed status.

    Test conventions of `validate_address`: an address is invalid when its postal code is
    blank, zeros or dashes (``"00000"``, ``"-"``) or its street1 contains ``invalid``, each
    problem in `messages` and under its field in `AddressValidation.fields`
    (``postal_code``, ``street1``); otherwise it is valid and returned upper-cased with
    spaces collapsed, as USPS does, each correction listed in `messages`.

    Attributes:
        calls: every ``(operation, request)`` served, failed ones included.
        labels: every label sold, in order.
    """

    def rates(self, request: Shipment, ctx: CallContext) -> list[Rate]:
        """Quote the shipment with every service, cheapest first."""
        self._begin("rates", request, ctx)
        return self._rates(request)

    def buy(self, request: BuyLabel, ctx: CallContext) -> Label:
        """Buy the label of a shipment at one of its rates."""
        self._begin("buy", request, ctx)
        return self._buy(request, ctx)

    def track(self, request: TrackRequest, ctx: CallContext) -> Tracking:
        """Where the parcel is, with its history (one step further each lookup)."""
        self._begin("track", request, ctx)
        return self._track(request, ctx)

    def cancel(self, request: CancelShipment, ctx: CallContext) -> Cancellation:
        """Cancel a shipment, refunding its label if the parcel has not moved yet."""
        self._begin("cancel", request, ctx)
        return self._cancel(request, ctx)

    def validate_address(self, request: Address, ctx: CallContext) -> AddressValidation:
        """Whether the address is deliverable, and its normalised form."""
        self._begin("validate_address", request, ctx)
        return self._validate_address(request)


class AsyncMemoryShippingAdapter(_Carrier):
    """The asynchronous twin of `MemoryShippingAdapter`, with the same carrier and rules."""

    async def rates(self, request: Shipment, ctx: CallContext) -> list[Rate]:
        """Quote the shipment with every service, cheapest first."""
        await self._abegin("rates", request, ctx)
        return self._rates(request)

    async def buy(self, request: BuyLabel, ctx: CallContext) -> Label:
        """Buy the label of a shipment at one of its rates."""
        await self._abegin("buy", request, ctx)
        return self._buy(request, ctx)

    async def track(self, request: TrackRequest, ctx: CallContext) -> Tracking:
        """Where the parcel is, with its history (one step further each lookup)."""
        await self._abegin("track", request, ctx)
        return self._track(request, ctx)

    async def cancel(self, request: CancelShipment, ctx: CallContext) -> Cancellation:
        """Cancel a shipment, refunding its label if the parcel has not moved yet."""
        await self._abegin("cancel", request, ctx)
        return self._cancel(request, ctx)

    async def validate_address(self, request: Address, ctx: CallContext) -> AddressValidation:
        """Whether the address is deliverable, and its normalised form."""
        await self._abegin("validate_address", request, ctx)
        return self._validate_address(request)
