"""Each operation as {{ cookiecutter.vendor_name }}'s HTTP request (pure: shared by both adapters).

Parcels travel in the caller's units, which {{ cookiecutter.vendor_name }} takes as they are.
TODO(vendor): a vendor of fixed units (ounces and inches, say) gets them converted here with
`Parcel.weight_as` / `Parcel.dimensions_as`, rounded up to its precision, never down; then
set the harness's ``weight_step`` / ``length_step`` in tests/test_conformance.py.

TODO(vendor): the paths and bodies of {{ cookiecutter.vendor_name }}'s API reference (and the double in
testing.py, which answers them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from nexus_connector_core import Address, Parcel, Shipment

__all__ = [
    "ADDRESSES",
    "SHIPMENTS",
    "address_body",
    "parcel_body",
    "shipment_body",
    "shipment_path",
    "tracker_path",
]

#: rates: POST a shipment (its rates come back); buy and cancel act on one by its id.
SHIPMENTS = "/v1/shipments"
#: validate_address: POST an address to verify.
ADDRESSES = "/v1/addresses/verify"


def address_body(address: Address) -> dict[str, Any]:
    """An address as the API takes it: its fields, those left out omitted."""
    return {k: v for k, v in msgspec.structs.asdict(address).items() if v is not None}


def parcel_body(parcel: Parcel) -> dict[str, Any]:
    """A parcel in its own units (see the module)."""
    return {k: v for k, v in msgspec.structs.asdict(parcel).items() if v is not None}


def shipment_body(shipment: Shipment) -> dict[str, Any]:
    """The JSON body that creates a shipment and asks for its rates."""
    body: dict[str, Any] = {
        "from_address": address_body(shipment.from_address),
        "to_address": address_body(shipment.to_address),
        "parcels": [parcel_body(parcel) for parcel in shipment.parcels],
    }
    if shipment.reference is not None:
        body["reference"] = shipment.reference
    return body


def shipment_path(shipment_id: str, action: str) -> str:
    """The path of an `action` (``buy``, ``refund``) on one shipment; the id is quoted, so
    ``../admin`` stays one segment."""
    return f"{SHIPMENTS}/{quote(shipment_id, safe='')}/{action}"


def tracker_path(tracking_code: str) -> str:
    """The path of a tracking code's tracker."""
    return f"/v1/trackers/{quote(tracking_code, safe='')}"
