"""EasyPost's answers read as results and errors (pure: no I/O, shared by both adapters).

EasyPost answers with its objects as JSON: a Shipment (with its ``rates``, and once bought
its ``postage_label``, ``tracking_code`` and ``selected_rate``), a Tracker (``status``,
``tracking_details``), an Address (``verifications.delivery``). The readers below turn them
into the results every shipping vendor returns; an answer they cannot read raises
`TypeError`, `KeyError` or `ValueError`, which the adapter reports as a `VendorError` that
may have been processed.

EasyPost refuses a request with a status and an error object::

    {"error": {"code": "ADDRESS.VERIFY.FAILURE", "message": "Unable to verify address.",
               "errors": [{"field": "street1", "message": "House number is missing"}]}}

The code decides the class when it is one of the well-known ones below (`ERRORS`), else the
status, as the core's HTTP toolkit maps it (`nexus_connector_core.http.answer_error`)::

    401, 403                     AuthenticationError
    402 PAYMENT_REQUIRED         PaymentDeclinedError (the EasyPost account cannot pay)
    404 NOT_FOUND                ObjectNotFoundError
    422, 400 (PARAMETER.REQUIRED, ADDRESS.VERIFY.FAILURE, SHIPMENT.POSTAGE.EXISTS, ...)
                                 InvalidRequestError
    429                          RateLimitExceededError (Retry-After; nothing was done)
    5xx                          VendorUnavailableError (EasyPost may have acted)

The ``errors`` of the body are kept by field in `VendorError.fields`, under the field's
name in the library's contract (`contract_field`: EasyPost's ``zip`` is ``postal_code``,
``shipment.parcel.weight`` is ``parcels[0].weight``), and quoted in the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx

from nexus_connector_core import (
    Address,
    AddressValidation,
    Cancellation,
    ConnectorError,
    InvalidRequestError,
    Label,
    Money,
    ObjectNotFoundError,
    PaymentDeclinedError,
    Rate,
    Tracking,
    TrackingEvent,
    TrackingStatus,
    VendorError,
)
from nexus_connector_core.http import (
    ErrorKind,
    ErrorTable,
    Redactor,
    answer_error,
    error_fields,
    json_body,
    vendor_text,
)

__all__ = [
    "ERRORS",
    "REFUND_STATUSES",
    "STATUSES",
    "Problem",
    "contract_field",
    "read_cancellation",
    "read_label",
    "read_problem",
    "read_rates",
    "read_tracking",
    "read_validation",
    "vendor_error",
]

#: Well-known codes of a refused request: what they mean, and what to do about them.
ERRORS: ErrorTable = {
    "ADDRESS.VERIFY.FAILURE": ErrorKind(
        InvalidRequestError,
        "EasyPost could not verify the address; the error's fields say what to correct",
    ),
    "PARAMETER.REQUIRED": ErrorKind(
        InvalidRequestError, "a required field is missing; the error's fields name it"
    ),
    "SHIPMENT.INVALID_PARAMS": ErrorKind(
        InvalidRequestError, "the error's fields name what EasyPost refused"
    ),
    "PARCEL.PARAMETERS.INVALID": ErrorKind(
        InvalidRequestError, "check the parcel's weight and dimensions"
    ),
    "SHIPMENT.POSTAGE.EXISTS": ErrorKind(
        InvalidRequestError,
        "the shipment has a label already, so an earlier buy went through: do not buy it "
        "again; ask for rates again to ship another parcel",
        maybe_processed=False,
    ),
    "SHIPMENT.PURCHASE.IN_PROGRESS": ErrorKind(
        VendorError,
        "a buy of this shipment is still in progress: look at the shipment before buying",
        maybe_processed=False,
    ),
    "SHIPMENT.POSTAGE.FAILURE": ErrorKind(
        VendorError, "the carrier made no label; try another rate", maybe_processed=False
    ),
    "SHIPMENT.REFUND.UNAVAILABLE": ErrorKind(
        InvalidRequestError,
        "nothing to refund: the shipment has no label, or the carrier cannot refund it",
    ),
    "TRACKER.INVALID_TEST_CODE": ErrorKind(
        ObjectNotFoundError,
        "a test API key tracks EasyPost's test codes (EZ1000000001 to EZ7000000007) and the "
        "labels bought with it",
    ),
    "NOT_FOUND": ErrorKind(
        ObjectNotFoundError,
        "no such object on this EasyPost account (test and production keys see different objects)",
    ),
    "PAYMENT_REQUIRED": ErrorKind(
        PaymentDeclinedError,
        "the EasyPost account cannot pay for the label: add funds or a payment method",
        maybe_processed=False,
    ),
}

#: EasyPost's tracker statuses, as every shipping vendor reports them. A parcel waiting at a
#: pickup point is at the last step before delivery.
STATUSES: Mapping[str, TrackingStatus] = {
    "unknown": "unknown",
    "pre_transit": "pre_transit",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "available_for_pickup": "out_for_delivery",
    "delivered": "delivered",
    "return_to_sender": "returned",
    "failure": "failure",
    "error": "failure",
    "cancelled": "cancelled",
}

#: A shipment's ``refund_status`` as a `Cancellation` status. ``not_applicable`` is a label
#: a bill-on-scan carrier charges only once scanned: there is nothing to refund, and nothing
#: will be charged.
REFUND_STATUSES: Mapping[str, Any] = {
    "submitted": "submitted",
    "refunded": "refunded",
    "rejected": "rejected",
    "not_applicable": "cancelled",
}

#: EasyPost's names of fields that the contract names otherwise; the wrappers of a
#: request's body (``shipment``, ``tracker``) are left out of a field's path.
_FIELD_NAMES: Mapping[str, str] = {"zip": "postal_code", "parcel": "parcels[0]", "rate": "rate_id"}
_WRAPPERS = frozenset({"shipment", "tracker"})
#: At most this many field messages are kept from one error (a vendor's list is unbounded).
_MAX_FIELD_MESSAGES = 20
#: Address fields in the contract and at EasyPost, where they differ.
_ADDRESS_NAMES: Mapping[str, str] = {"postal_code": "zip"}


def contract_field(field: str) -> str:
    """The contract's name of a field EasyPost names.

    >>> contract_field("zip"), contract_field("shipment.parcel.weight")
    ('postal_code', 'parcels[0].weight')
    >>> contract_field("shipment.to_address.zip"), contract_field("address")
    ('to_address.postal_code', 'address')
    """
    parts = [part for part in field.split(".") if part]
    if len(parts) > 1 and parts[0] in _WRAPPERS:
        parts = parts[1:]
    return ".".join(_FIELD_NAMES.get(part, part) for part in parts)


class Problem(NamedTuple):
    """What an error answer says: EasyPost's code, its message, its messages by field."""

    code: str | None
    message: str
    fields: Mapping[str, tuple[str, ...]]


def read_problem(body: Any, redact: Redactor | None = None) -> Problem:
    """The code, message and field messages of an error body (its code and message read as
    the toolkit reads them: `error_fields`), each text checked (`vendor_text`: printable,
    bounded, credentials masked); anything else gives empties.

    >>> problem = read_problem({"error": {"code": "PARAMETER.REQUIRED", "message": "Missing "
    ...     "required parameter.", "errors": [{"field": "shipment.parcel", "message": "cannot be "
    ...     "blank"}, "a bare string names no field"]}})
    >>> problem.code, problem.message
    ('PARAMETER.REQUIRED', 'Missing required parameter.')
    >>> problem.fields
    {'parcels[0]': ('cannot be blank',)}
    """
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return Problem(None, "", {})
    code, message = error_fields(body)
    if isinstance(message, list):  # EasyPost's libraries note it sometimes is one
        message = ", ".join(m for m in message if isinstance(m, str))
    fields = _fields(error.get("errors"), redact)
    return Problem(
        vendor_text(code, redact, limit=60) or None, vendor_text(message, redact), fields
    )


def _fields(errors: Any, redact: Redactor | None) -> dict[str, tuple[str, ...]]:
    """EasyPost's FieldErrors (``{"field", "message"}``), by the contract's field name."""
    fields: dict[str, tuple[str, ...]] = {}
    if not isinstance(errors, list):
        return fields
    for item in errors[:_MAX_FIELD_MESSAGES]:
        if not isinstance(item, Mapping):
            continue  # EasyPost also sends bare strings: they name no field
        name = vendor_text(item.get("field"), redact, limit=80)
        message = vendor_text(item.get("message"), redact)
        if name and message:
            key = contract_field(name)
            fields[key] = (*fields.get(key, ()), message)
    return fields


def vendor_error(
    response: httpx.Response, now: float, redact: Redactor | None = None
) -> ConnectorError:
    """The error a non-2xx answer means, its field messages kept (`VendorError.fields`).

    `now` (Unix time) reads Retry-After dates; `redact` masks credentials EasyPost echoes.
    """
    problem = read_problem(json_body(response), redact)
    message = problem.message or response.reason_phrase or ""
    if problem.fields:
        quoted = "; ".join(f"{f}: {', '.join(m)}" for f, m in problem.fields.items())
        message = f"{message} [{quoted}]" if message else quoted
    error = answer_error(
        response,
        vendor="EasyPost",
        code=problem.code,
        message=message,
        now=now,
        table=ERRORS,
        redact=redact,
    )
    if isinstance(error, VendorError):  # the toolkit maps the status; the fields are ours
        error.fields = problem.fields
    return error


# -- results -------------------------------------------------------------------------------------


def read_rates(data: Any, vendor: str) -> list[Rate]:
    """The rates of a created Shipment, cheapest first; a shipment no carrier would rate
    is a `VendorError` quoting the carriers' messages."""
    shipment = _object(data, "the Shipment")
    shipment_id = _text(shipment["id"], "id")
    rates = []
    for item in _list(shipment.get("rates"), "rates"):
        rate = _object(item, "a Rate")
        days = rate.get("delivery_days")
        if days is None:
            days = rate.get("est_delivery_days")
        rates.append(
            Rate(
                vendor=vendor,
                vendor_id=_text(rate["id"], "rate id"),
                shipment_id=shipment_id,
                carrier=_text(rate["carrier"], "carrier"),
                service=_text(rate["service"], "service"),
                amount=_money(rate),
                delivery_days=days if _is_count(days) else None,
                raw=rate,
            )
        )
    if not rates:
        said = [
            f"{vendor_text(m.get('carrier'), limit=40)}: {vendor_text(m.get('message'))}"
            for m in _list(shipment.get("messages"), "messages")[:5]
            if isinstance(m, Mapping)
        ]
        raise VendorError(
            f"EasyPost quoted no rate for shipment {shipment_id}"
            + (f"; the carriers said: {'; '.join(said)}" if said else "")
            + " (check the addresses and the parcel, and the carrier accounts)",
            code="SHIPMENT.RATES.UNAVAILABLE",
            maybe_processed=False,
        )
    return sorted(rates, key=lambda rate: (rate.amount.currency, rate.amount.amount))


def read_label(data: Any, vendor: str) -> Label:
    """The label of a bought Shipment: its postage label, tracking code and selected rate."""
    shipment = _object(data, "the Shipment")
    label = _object(shipment["postage_label"], "its postage_label")
    selected = _object(shipment["selected_rate"], "its selected_rate")
    urls = (label.get(k) for k in ("label_url", "label_pdf_url", "label_zpl_url"))
    return Label(
        vendor=vendor,
        vendor_id=_text(label["id"], "postage_label id"),
        shipment_id=_text(shipment["id"], "id"),
        tracking_code=_text(shipment["tracking_code"], "tracking_code"),
        label_url=_text(next((u for u in urls if u), None), "label_url"),
        carrier=_text(selected["carrier"], "carrier"),
        service=_text(selected["service"], "service"),
        amount=_money(selected),
        raw=shipment,
    )


def read_tracking(data: Any, vendor: str) -> Tracking:
    """Where a parcel is, from its Tracker; events oldest first."""
    tracker = _object(data, "the Tracker")
    code = _text(tracker["tracking_code"], "tracking_code")
    events = [_event(item) for item in _list(tracker.get("tracking_details"), "details")]
    carrier = tracker.get("carrier")
    estimated = tracker.get("est_delivery_date")
    return Tracking(
        vendor=vendor,
        vendor_id=_text(tracker.get("id") or code, "id"),
        tracking_code=code,
        status=_status(tracker.get("status")),
        carrier=carrier if isinstance(carrier, str) and carrier else None,
        events=sorted(events, key=lambda event: event.timestamp),
        estimated_delivery=_when(estimated) if estimated else None,
        raw=tracker,
    )


def read_cancellation(data: Any, vendor: str) -> Cancellation:
    """What EasyPost said to a refund request, from the Shipment's ``refund_status``."""
    shipment = _object(data, "the Shipment")
    shipment_id = _text(shipment["id"], "id")
    return Cancellation(
        vendor=vendor,
        vendor_id=shipment_id,  # the Refund's own id is not in the answer
        shipment_id=shipment_id,
        status=REFUND_STATUSES[shipment["refund_status"]],
        raw=shipment,
    )


def read_validation(data: Any, vendor: str) -> AddressValidation:
    """Whether a verified Address is deliverable, from its ``verifications.delivery``:
    the corrected address when it is, EasyPost's messages by field when it is not."""
    address = _object(data, "the Address")
    verifications = _object(address.get("verifications"), "its verifications")
    delivery = _object(verifications["delivery"], "its delivery verification")
    valid = delivery.get("success") is True
    errors = _list(delivery.get("errors"), "errors")
    messages = [vendor_text(item.get("message")) for item in errors if isinstance(item, Mapping)]
    return AddressValidation(
        vendor=vendor,
        vendor_id=_text(address["id"], "id"),
        valid=valid,
        address=_address(address) if valid else None,
        messages=[message for message in messages if message],
        fields={} if valid else _fields(errors, None),
        raw=address,
    )


def _address(data: Mapping[str, Any]) -> Address:
    """An EasyPost Address object as the contract's `Address`."""
    values: dict[str, Any] = {}
    for name in Address.__struct_fields__:
        value = data.get(_ADDRESS_NAMES.get(name, name))
        if name == "residential":
            values[name] = value if isinstance(value, bool) else None
        elif isinstance(value, str) and value:
            values[name] = value
    return Address(**values)


def _event(data: Any) -> TrackingEvent:
    detail = _object(data, "a TrackingDetail")
    message = detail.get("message")
    return TrackingEvent(
        timestamp=_when(detail["datetime"]),
        status=_status(detail.get("status")),
        message=message if isinstance(message, str) else "",
        location=_location(detail.get("tracking_location")),
    )


def _status(value: Any) -> TrackingStatus:
    return STATUSES.get(value, "unknown") if isinstance(value, str) else "unknown"


def _location(data: Any) -> str | None:
    if not isinstance(data, Mapping):
        return None
    parts = [data.get(k) for k in ("city", "state", "zip", "country")]
    shown = ", ".join(part for part in parts if isinstance(part, str) and part)
    return shown or None


def _when(value: Any) -> datetime:
    """An ISO 8601 time of EasyPost's (``2025-05-09T20:40:06Z``), timezone-aware."""
    moment = datetime.fromisoformat(_text(value, "a time"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _money(rate: Mapping[str, Any]) -> Money:
    """A rate's amount: EasyPost writes it as a decimal string (``"5.93"``), a price above
    zero in an ISO-4217 currency. Anything else (``"-5.93"``, ``"0.00"``, ``"NaN"``,
    ``"1e999999"``, more decimals than the currency has) is a ValueError that does not
    quote it: the text is EasyPost's, of any length."""
    text, currency = _text(rate["rate"], "rate"), _text(rate["currency"], "currency")
    try:
        money = Money.from_decimal(text, currency)
    except ValueError:
        money = None
    if money is None or money.amount <= 0:
        raise ValueError("rate is not a price above zero, in its currency's minor units")
    return money


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 366


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} is not a JSON object")
    return value


def _list(value: Any, what: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError(f"{what} is not a JSON list")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} is not a non-empty string")
    return value
