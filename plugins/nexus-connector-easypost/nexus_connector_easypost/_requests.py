"""Each operation as the HTTP request EasyPost's v2 API expects (pure: no I/O, shared by both
adapters and the tests). Every body is JSON, its object wrapped under its name::

    rates             POST /v2/shipments              {"shipment": {"from_address", "to_address",
                                                        "parcel", "reference"}}   201 Shipment
    buy               POST /v2/shipments/{id}/buy     {"rate": {"id": rate_id}}    200 Shipment
    track             POST /v2/trackers               {"tracker": {"tracking_code",
                                                        "carrier"}}               201 Tracker
    cancel            POST /v2/shipments/{id}/refund  (no body)                   200 Shipment
    validate_address  POST /v2/addresses              {"address": {...}, "verify": true}
                                                                                  201 Address

Units: EasyPost takes a parcel's weight in ounces and its dimensions in inches, to one
decimal place. The contract's parcel is converted exactly (`Parcel.weight_as`,
`Parcel.dimensions_as`) and rounded up to the next tenth, never down, so that a parcel is
never declared lighter or smaller than it is (a carrier charges an under-declared parcel
again): 2 kg is 70.547... oz, sent as 70.6.

A request that cannot be right is refused here, before anything is sent, with
``maybe_processed=False``: a second parcel (an EasyPost shipment has one), an id that is
not EasyPost's (it would change the path), text that is not UTF-8 or is absurdly long.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any, Generic, NamedTuple, TypeVar
from urllib.parse import quote

from nexus_connector_core import (
    Address,
    AddressValidation,
    BuyLabel,
    Cancellation,
    CancelShipment,
    InvalidRequestError,
    Label,
    ObjectNotFoundError,
    Parcel,
    Rate,
    Shipment,
    Tracking,
    TrackRequest,
)

from ._answers import read_cancellation, read_label, read_rates, read_tracking, read_validation
from ._options import AddressVerification

__all__ = [
    "API",
    "MAX_TEXT",
    "Call",
    "address_body",
    "buy",
    "cancel",
    "parcel_body",
    "rates",
    "track",
    "validate_address",
]

T = TypeVar("T")

#: The version prefix of every path of EasyPost's API.
API = "/v2"
#: The longest text a field may hold (EasyPost prints street lines of 35 characters).
MAX_TEXT = 1_000

_ID = re.compile(r"[0-9A-Za-z]{1,64}")
#: The contract's `Address` fields, as EasyPost names them.
_ADDRESS_FIELDS: Mapping[str, str] = {
    "name": "name",
    "company": "company",
    "street1": "street1",
    "street2": "street2",
    "city": "city",
    "state": "state",
    "postal_code": "zip",
    "country": "country",
    "phone": "phone",
    "email": "email",
    "residential": "residential",
}


class Call(NamedTuple, Generic[T]):
    """One operation as an HTTP exchange: what to send, how to read a 2xx answer (its JSON
    body and the vendor's key give the result), and what that answer should have been."""

    method: str
    path: str
    body: bytes | None
    read: Callable[[Any, str], T]
    #: What a 2xx answer is, for the error when it cannot be read.
    what: str


def rates(shipment: Shipment) -> Call[list[Rate]]:
    """Create a shipment: EasyPost rates it with every carrier of the account."""
    if len(shipment.parcels) != 1:
        raise InvalidRequestError(
            f"an EasyPost shipment carries one parcel, this one has {len(shipment.parcels)}: "
            "ask for the rates of each parcel as its own Shipment",
            code="too_many_parcels",
            fields={"parcels": ("EasyPost takes one parcel per shipment",)},
            maybe_processed=False,
        )
    body: dict[str, Any] = {
        "from_address": address_body(shipment.from_address, "from_address"),
        "to_address": address_body(shipment.to_address, "to_address"),
        "parcel": parcel_body(shipment.parcels[0]),
    }
    if shipment.reference is not None:
        body["reference"] = _text(shipment.reference, "reference")
    return Call("POST", f"{API}/shipments", _json({"shipment": body}), read_rates, "a Shipment")


def buy(request: BuyLabel) -> Call[Label]:
    """Buy the label of a shipment at one of its rates."""
    shipment = _id(request.shipment_id, "shp", "shipment_id", "the shipment_id of a Rate")
    rate = _id(request.rate_id, "rate", "rate_id", "the vendor_id of a Rate")
    return Call(
        "POST",
        f"{API}/shipments/{shipment}/buy",
        _json({"rate": {"id": rate}}),
        read_label,
        f"a bought Shipment (the label may have been bought: look at shipment {shipment} at "
        "EasyPost before buying again)",
    )


def track(request: TrackRequest) -> Call[Tracking]:
    """Create (or find: EasyPost keeps one per code and carrier) the tracker of a code."""
    tracker = {"tracking_code": _text(request.tracking_code, "tracking_code", blank=False)}
    if request.carrier is not None:
        tracker["carrier"] = _text(request.carrier, "carrier", blank=False)
    return Call("POST", f"{API}/trackers", _json({"tracker": tracker}), read_tracking, "a Tracker")


def cancel(request: CancelShipment) -> Call[Cancellation]:
    """Ask EasyPost to refund the shipment's label."""
    shipment = _id(request.shipment_id, "shp", "shipment_id", "the shipment_id of a Label")
    path = f"{API}/shipments/{shipment}/refund"
    return Call("POST", path, None, read_cancellation, "a refunded Shipment")


def validate_address(
    address: Address, verification: AddressVerification
) -> Call[AddressValidation]:
    """Create an address, verified (``verify``) or verified strictly (``verify_strict``:
    EasyPost refuses an address it cannot verify)."""
    body = {"address": address_body(address, "address"), verification: True}
    return Call("POST", f"{API}/addresses", _json(body), read_validation, "a verified Address")


def address_body(address: Address, where: str) -> dict[str, Any]:
    """An `Address` as EasyPost's Address object; `where` names it in errors."""
    body: dict[str, Any] = {}
    for ours, theirs in _ADDRESS_FIELDS.items():
        value = getattr(address, ours)
        if isinstance(value, str):
            value = _text(value, f"{where}.{ours}")
        if value is not None:
            body[theirs] = value
    return body


def parcel_body(parcel: Parcel) -> dict[str, float]:
    """A `Parcel` as EasyPost's Parcel object: ounces and inches, each rounded up to a tenth.

    >>> parcel_body(Parcel(weight=2, mass_unit="kg", length=25.4, width=20, height=2.54))
    {'weight': 70.6, 'length': 10.0, 'width': 7.9, 'height': 1.0}
    """
    body = {"weight": _tenths_up(parcel.weight_as("oz"))}
    dimensions = parcel.dimensions_as("in")
    if dimensions is not None:
        for name, value in zip(("length", "width", "height"), dimensions, strict=True):
            body[name] = _tenths_up(value)
    return body


def _tenths_up(value: Fraction) -> float:
    return float(Fraction(math.ceil(value * 10), 10))


def _id(value: str, prefix: str, field: str, hint: str) -> str:
    """An EasyPost id (``shp_...``), checked: anything else would change the request's path."""
    kind, _, rest = value.partition("_") if isinstance(value, str) else ("", "", "")
    if kind != prefix or not _ID.fullmatch(rest):
        raise ObjectNotFoundError(
            f"{field} {_shown(value)} is not an EasyPost id ('{prefix}_' then letters and "
            f"digits); pass {hint}",
            code="NOT_FOUND",
            maybe_processed=False,
        )
    return quote(value, safe="")


def _text(value: object, field: str, *, blank: bool = True) -> str:
    """`value`, checked to be sendable: UTF-8, at most `MAX_TEXT` characters (the request
    structs are not type-checked when made in Python, so a number may come here too)."""
    if isinstance(value, str):
        problem = _text_problem(value, blank)
        if problem is None:
            return value
    else:
        problem = f"must be text, got {type(value).__name__}"
    raise InvalidRequestError(
        f"{field} {problem}; nothing was sent to EasyPost",
        code="invalid_text",
        fields={field: (problem,)},
        maybe_processed=False,
    )


def _text_problem(value: str, blank: bool) -> str | None:
    if not blank and not value.strip():
        return "must not be empty"
    if len(value) > MAX_TEXT:
        return f"holds {len(value):,} characters; EasyPost takes at most {MAX_TEXT:,}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid text (it holds a lone surrogate, which UTF-8 cannot carry)"
    return None


def _json(body: Mapping[str, Any]) -> bytes:
    # Every text was checked by _text, every number is a finite tenth.
    return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else f"{shown[:59]}…"
