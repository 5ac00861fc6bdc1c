"""{{ cookiecutter.vendor_name }}'s answers read as results, and its error codes (pure).

An error answer is ``{"error": {"code", "message"}}``, which `HttpVendor.read_error` reads;
its status decides the error class unless `ERRORS` says more about its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from nexus_connector_core import (
    Address,
    AddressValidation,
    AuthenticationError,
    Cancellation,
    InvalidRequestError,
    Label,
    Money,
    ObjectNotFoundError,
    Rate,
    Tracking,
    TrackingEvent,
    TrackingStatus,
)
from nexus_connector_core.http import ErrorKind, ErrorTable

__all__ = [
    "ERRORS",
    "STATUSES",
    "read_cancellation",
    "read_label",
    "read_rates",
    "read_tracking",
    "read_validation",
]

#: {{ cookiecutter.vendor_name }}'s error codes that say more than their HTTP status, and what to do.
#: TODO(vendor): the codes its API reference lists.
ERRORS: ErrorTable = {
    "unauthorized": ErrorKind(AuthenticationError, "check the connector's credentials"),
    "already_purchased": ErrorKind(InvalidRequestError, "the shipment has its label already"),
    "rate_not_found": ErrorKind(ObjectNotFoundError, "buy a rate quoted for this shipment"),
}

#: {{ cookiecutter.vendor_name }}'s tracking states, as every shipping vendor reports them.
STATUSES: Mapping[str, TrackingStatus] = {
    "pre_transit": "pre_transit",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "returned": "returned",
    "failure": "failure",
    "cancelled": "cancelled",
}


def read_rates(body: Any, vendor: str) -> list[Rate]:
    """A shipment's answer as its rates, cheapest first."""
    rates = [
        Rate(
            vendor=vendor,
            vendor_id=str(rate["id"]),
            shipment_id=str(body["id"]),
            carrier=str(rate["carrier"]),
            service=str(rate["service"]),
            amount=Money(int(rate["amount"]), str(rate["currency"])),
            delivery_days=rate.get("delivery_days"),
            raw=rate,
        )
        for rate in body["rates"]
    ]
    return sorted(rates, key=lambda rate: (rate.amount.currency, rate.amount.amount))


def read_label(body: Any, vendor: str) -> Label:
    """A bought label."""
    return Label(
        vendor=vendor,
        vendor_id=str(body["id"]),
        shipment_id=str(body["shipment_id"]),
        tracking_code=str(body["tracking_code"]),
        label_url=str(body["label_url"]),
        carrier=str(body["carrier"]),
        service=str(body["service"]),
        amount=Money(int(body["amount"]), str(body["currency"])),
        raw=body,
    )


def read_tracking(body: Any, vendor: str) -> Tracking:
    """A tracker: its status and its events, oldest first."""
    events = sorted(
        (
            TrackingEvent(
                timestamp=datetime.fromisoformat(event["timestamp"]),
                status=STATUSES.get(event["status"], "unknown"),
                message=str(event.get("message") or ""),
            )
            for event in body.get("events") or ()
        ),
        key=lambda event: event.timestamp,
    )
    return Tracking(
        vendor=vendor,
        vendor_id=str(body["id"]),
        tracking_code=str(body["tracking_code"]),
        status=STATUSES.get(body["status"], "unknown"),
        carrier=body.get("carrier"),
        events=events,
        raw=body,
    )


def read_cancellation(body: Any, vendor: str) -> Cancellation:
    """A refund request's answer."""
    status = body["status"]
    known = ("submitted", "refunded", "rejected", "cancelled")
    return Cancellation(
        vendor=vendor,
        vendor_id=str(body["id"]),
        shipment_id=str(body["shipment_id"]),
        status=status if status in known else "submitted",
        raw=body,
    )


def read_validation(body: Any, vendor: str) -> AddressValidation:
    """A verification: the corrected address, or the messages by `Address` field."""
    address = body.get("address")
    fields = {str(k): tuple(str(m) for m in v) for k, v in (body.get("fields") or {}).items()}
    return AddressValidation(
        vendor=vendor,
        vendor_id=str(body["id"]),
        valid=body["valid"] is True,
        address=Address(**address) if address else None,
        messages=[str(message) for message in body.get("messages") or ()],
        fields=fields,
        raw=body,
    )
