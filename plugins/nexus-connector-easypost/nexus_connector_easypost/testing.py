"""A local EasyPost for tests, an application's or the plugin's: real HTTP on 127.0.0.1,
EasyPost's v2 API with its rules and its answers, in test mode.

`EasyPostDouble` is the default responder of a core `FaultServer`. It checks every request as
EasyPost documents it (the ``/v2`` paths, HTTP Basic auth with the API key as the user name
and no password, JSON bodies with the object wrapped under its name, the required fields)
and answers in EasyPost's formats: its Shipment, Rate, PostageLabel, Tracker and Address
objects, errors as ``{"error": {"code", "message", "errors": [{"field", "message"}]}}``.
Its ``shipments`` and ``labels`` are what it created and sold. Point a connector's
``options.base_url`` at the server and give it the double's key (`API_KEY` unless you chose
another). In an application's test:

>>> from nexus_connector_core import Address, ConnectorManager, Parcel, Shipment
>>> from nexus_connector_core.testing import FaultServer
>>> from nexus_connector_easypost.testing import API_KEY, EasyPostDouble
>>> shop = Address(street1="388 Townsend St", city="San Francisco", state="CA",
...                postal_code="94107", country="US")
>>> home = Address(street1="179 N Harbor Dr", city="Redondo Beach", state="CA",
...                postal_code="90277", country="US")
>>> easypost = EasyPostDouble()
>>> with FaultServer(default=easypost) as server:
...     shipping = {
...         "vendor": "easypost",
...         "credentials": {"api_key": "env:EASYPOST_API_KEY"},
...         "options": {"base_url": server.url},
...     }
...     with ConnectorManager.from_config(
...         {"connectors": {"shipping": shipping}}, environ={"EASYPOST_API_KEY": API_KEY}
...     ) as manager:
...         # in a real test: the application's own code
...         box = Parcel(weight=2, mass_unit="kg", length=30, width=20, height=10)
...         rates = manager.shipping.rates(Shipment(from_address=shop, to_address=home,
...                                                 parcels=[box]))
...         label = manager.shipping.buy(rates[0].shipment_id, rates[0].vendor_id)
...         tracking = manager.shipping.track(label.tracking_code)
>>> [sold["tracking_code"] for sold in easypost.labels] == [label.tracking_code]
True
>>> easypost.shipments[0]["parcel"]["weight"], tracking.status  # 2 kg, in ounces
(70.6, 'pre_transit')

What it does, as EasyPost's test mode does:

- A shipment is rated by USPS (`SERVICES`, or `INTERNATIONAL_SERVICES` across a border),
  priced by the started pound. Buying sells one label (a second buy of the shipment is
  ``SHIPMENT.POSTAGE.EXISTS``); a rate of another shipment is ``NOT_FOUND``.
- A label's tracker shows ``pre_transit`` at the first lookup, then moves one step per
  lookup: ``in_transit``, ``out_for_delivery``, ``delivered``. EasyPost's test codes
  (`TEST_TRACKING_CODES`: ``EZ1000000001``...) answer with their fixed status; any other
  code is ``TRACKER.INVALID_TEST_CODE``.
- A refund is ``submitted`` while the parcel has not moved and ``rejected`` after; asked
  again, the same; a shipment without a label has nothing to refund
  (``SHIPMENT.REFUND.UNAVAILABLE``).
- Address verification (``verify`` or ``verify_strict``): a US street1 without a house
  number fails (``E.HOUSE_NUMBER.MISSING`` on ``street1``, ``E.ADDRESS.NOT_FOUND`` on
  ``address``), as does a street1 holding ``undeliverable`` or a zip of zeros (the
  latter); ``verify_strict`` turns the failure into a 422 ``ADDRESS.VERIFY.FAILURE``.
  Other addresses verify, upper-cased as USPS writes them.

Scripted faults come before the double's answers: ``server.script(FAULTS["rate_limited"])``
(or any `easypost_error`) makes the next answer a refusal that did nothing;
``easypost.lose_next_answer()`` makes the double act on the next request and the server
reset the connection instead of answering, so the caller cannot know it happened. The
double reads JSON bodies only (EasyPost also takes forms).
"""

from __future__ import annotations

import base64
import math
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nexus_connector_core.testing import Fault, ReceivedRequest

__all__ = [
    "API_KEY",
    "FAULTS",
    "INTERNATIONAL_SERVICES",
    "RETRY_AFTER",
    "SERVICES",
    "TEST_TRACKING_CODES",
    "EasyPostDouble",
    "easypost_error",
    "operation_of",
    "parcel_of",
]

#: The API key the double accepts unless given another (EasyPost's test keys start EZTK).
API_KEY = "EZTK" + "0123456789abcdef" * 2
#: The Retry-After (seconds) of ``FAULTS["rate_limited"]``.
RETRY_AFTER = 2
#: The carrier of every rate.
CARRIER = "USPS"
#: Domestic services: (service, base price in cents, cents per started pound, days).
SERVICES = (("GroundAdvantage", 593, 85, 5), ("Priority", 695, 120, 2), ("Express", 3125, 250, 1))
#: Services across a border, the same way.
INTERNATIONAL_SERVICES = (
    ("FirstClassPackageInternationalService", 1585, 310, 10),
    ("PriorityMailInternational", 4250, 460, 8),
    ("ExpressMailInternational", 5695, 610, 5),
)
#: EasyPost's test tracking codes and the status each one always has.
TEST_TRACKING_CODES: Mapping[str, str] = {
    "EZ1000000001": "pre_transit",
    "EZ2000000002": "in_transit",
    "EZ3000000003": "out_for_delivery",
    "EZ4000000004": "delivered",
    "EZ5000000005": "return_to_sender",
    "EZ6000000006": "failure",
    "EZ7000000007": "unknown",
}
#: The steps of a sold label's journey, with the carrier's words.
_JOURNEY = (
    ("pre_transit", "Shipping Label Created, USPS Awaiting Item"),
    ("in_transit", "Arrived at USPS Regional Facility"),
    ("out_for_delivery", "Out for Delivery"),
    ("delivered", "Delivered, In/At Mailbox"),
)
_NOT_FOUND = "The requested resource could not be found."
_SHIPMENT = re.compile(r"/v2/shipments/([^/]+)")
_BUY = re.compile(r"/v2/shipments/([^/]+)/buy")
_REFUND = re.compile(r"/v2/shipments/([^/]+)/refund")
_HOUSE_NUMBER = re.compile(r"\s*\d")
_NO_ZIP = re.compile(r"[\s0-]*")
_ADDRESS_TEXT = (
    "name",
    "company",
    "street1",
    "street2",
    "city",
    "state",
    "zip",
    "country",
    "phone",
    "email",
)


def easypost_error(
    status: int,
    code: str,
    message: str,
    errors: Iterable[Mapping[str, Any]] = (),
    **headers: str,
) -> Fault:
    """An error answer in EasyPost's format; `headers` as keywords, ``_`` for ``-``.

    >>> fault = easypost_error(422, "PARAMETER.REQUIRED", "Missing required parameter.",
    ...                        [{"field": "shipment", "message": "cannot be blank"}])
    >>> fault.status_code, fault.body.decode()[:39]
    (422, '{"error": {"code": "PARAMETER.REQUIRED"')
    """
    body = {"error": {"code": code, "message": message, "errors": list(errors)}}
    return Fault.respond(status, body, {name.replace("_", "-"): v for name, v in headers.items()})


#: EasyPost's answers for each fault of the core's shipping conformance suite but
#: ``lost_answer`` (`EasyPostDouble.lose_next_answer`), to script with
#: ``server.script(FAULTS[kind])``. None of them reaches the double: nothing is done.
FAULTS: Mapping[str, Fault] = {
    "auth": easypost_error(
        401, "UNAUTHORIZED", "The API key is not valid: send it as the HTTP Basic user name."
    ),
    "rate_limited": easypost_error(
        429,
        "RATE_LIMITED",
        "Your account has been temporarily rate-limited. Please retry later.",
        Retry_After=str(RETRY_AFTER),
    ),
    "transient": easypost_error(
        500, "INTERNAL_SERVER_ERROR", "We're sorry, something went wrong. Please try again."
    ),
}


def operation_of(request: ReceivedRequest) -> str | None:
    """The shipping operation a request to EasyPost serves (``rates``, ``buy``, ``track``,
    ``cancel``, ``validate_address``), or None for any other request."""
    path = request.path.partition("?")[0]
    if request.method != "POST":
        return None
    if path == "/v2/shipments":
        return "rates"
    if _BUY.fullmatch(path):
        return "buy"
    if _REFUND.fullmatch(path):
        return "cancel"
    return {"/v2/trackers": "track", "/v2/addresses": "validate_address"}.get(path)


def parcel_of(request: ReceivedRequest) -> dict[str, Any] | None:
    """The Parcel object of a shipment request as EasyPost received it (ounces, inches)."""
    try:
        parcel = request.json()["shipment"]["parcel"]
    except (ValueError, KeyError, TypeError):
        return None
    return parcel if isinstance(parcel, dict) else None


class EasyPostDouble:
    """Answers requests to EasyPost's v2 API like EasyPost in test mode (see the module).

    Args:
        api_key: the only API key accepted (the Basic user name, with no password).
        now: the double's clock (timestamps of objects and tracking events).
    """

    def __init__(
        self, *, api_key: str = API_KEY, now: Callable[[], datetime] | None = None
    ) -> None:
        token = base64.b64encode(f"{api_key}:".encode()).decode("ascii")
        self._authorization = f"Basic {token}"
        self._now = now or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._shipments: dict[str, dict[str, Any]] = {}
        self._labels: list[dict[str, Any]] = []
        self._trackers: dict[str, _Tracker] = {}
        self._lose_next = False

    @property
    def shipments(self) -> list[dict[str, Any]]:
        """Every Shipment created, in order, as EasyPost would show it now."""
        with self._lock:
            return [dict(shipment) for shipment in self._shipments.values()]

    @property
    def labels(self) -> list[dict[str, Any]]:
        """Every label sold, in order: its PostageLabel with ``shipment_id`` and
        ``tracking_code``. Buying the same shipment twice never adds one."""
        with self._lock:
            return [dict(label) for label in self._labels]

    def lose_next_answer(self) -> None:
        """Act on the next request as usual, then reset the connection without answering:
        the caller cannot know whether EasyPost did it."""
        with self._lock:
            self._lose_next = True

    def __call__(self, request: ReceivedRequest) -> Fault:
        """The answer to one request."""
        with self._lock:
            losing, self._lose_next = self._lose_next, False
            answer = self._answer(request)
        return Fault.reset_after_request() if losing else answer

    def __repr__(self) -> str:
        return f"<EasyPostDouble {len(self._shipments)} shipments, {len(self._labels)} labels>"

    # -- routing -----------------------------------------------------------------------------

    def _answer(self, request: ReceivedRequest) -> Fault:
        if request.headers.get("authorization") != self._authorization:
            return FAULTS["auth"]
        path = request.path.partition("?")[0]
        if request.method == "POST":
            if path == "/v2/shipments":
                return self._create_shipment(request)
            if match := _BUY.fullmatch(path):
                return self._buy(match[1], request)
            if match := _REFUND.fullmatch(path):
                return self._refund(match[1])
            if path == "/v2/trackers":
                return self._track(request)
            if path == "/v2/addresses":
                return self._address(request)
        if request.method == "GET" and (match := _SHIPMENT.fullmatch(path)):
            shipment = self._shipments.get(match[1])
            return Fault.respond(200, shipment) if shipment else _not_found()
        return _not_found()

    # -- shipments ---------------------------------------------------------------------------

    def _create_shipment(self, request: ReceivedRequest) -> Fault:
        body = _body(request, "shipment")
        if isinstance(body, Fault):
            return body
        problems = [
            {"field": f"shipment.{name}", "message": "cannot be blank"}
            for name in ("from_address", "to_address", "parcel")
            if not isinstance(body.get(name), dict)
        ]
        if problems:
            return easypost_error(
                422, "PARAMETER.REQUIRED", "Missing required parameter.", problems
            )
        parcel = _parcel(body["parcel"])
        if isinstance(parcel, Fault):
            return parcel
        now = self._stamp()
        shipment_id = _id("shp")
        to_address = _address_object(body["to_address"], now)
        from_address = _address_object(body["from_address"], now)
        abroad = to_address.get("country", "US") != from_address.get("country", "US")
        rates = [
            _rate(shipment_id, service, price, days, now)
            for service, base, per_pound, days in (INTERNATIONAL_SERVICES if abroad else SERVICES)
            for price in [base + per_pound * math.ceil(parcel["weight"] / 16)]
        ]
        shipment = {
            "id": shipment_id,
            "object": "Shipment",
            "mode": "test",
            "created_at": now,
            "updated_at": now,
            "reference": body.get("reference"),
            "status": "unknown",
            "is_return": False,
            "options": {"currency": "USD", "payment": {"type": "SENDER"}, "date_advance": 0},
            "messages": [],
            "from_address": from_address,
            "to_address": to_address,
            "return_address": from_address,
            "buyer_address": to_address,
            "parcel": {**parcel, "id": _id("prcl"), "object": "Parcel", "mode": "test"},
            "customs_info": None,
            "rates": rates,
            "selected_rate": None,
            "postage_label": None,
            "tracking_code": None,
            "tracker": None,
            "refund_status": None,
            "insurance": None,
            "forms": [],
            "fees": [],
        }
        self._shipments[shipment_id] = shipment
        return Fault.respond(201, shipment)

    def _buy(self, shipment_id: str, request: ReceivedRequest) -> Fault:
        shipment = self._shipments.get(shipment_id)
        if shipment is None:
            return _not_found()
        body = _body(request, "rate")
        if isinstance(body, Fault):
            return body
        if shipment["postage_label"] is not None:
            return easypost_error(
                422, "SHIPMENT.POSTAGE.EXISTS", "This shipment already has postage."
            )
        rate = next((r for r in shipment["rates"] if r["id"] == body.get("id")), None)
        if rate is None:
            return _not_found([{"field": "rate", "message": "is not a rate of this shipment"}])
        now = self._stamp()
        code = "9400100" + "".join(str(secrets.randbelow(10)) for _ in range(15))
        label = {
            "object": "PostageLabel",
            "id": _id("pl"),
            "created_at": now,
            "updated_at": now,
            "date_advance": 0,
            "integrated_form": "none",
            "label_date": now,
            "label_resolution": 300,
            "label_size": "4x6",
            "label_type": "default",
            "label_file_type": "image/png",
            "label_url": f"https://easypost-files.s3.us-west-2.amazonaws.com/files/"
            f"postage_label/{now[:10].replace('-', '')}/{secrets.token_hex(16)}.png",
            "label_pdf_url": None,
            "label_zpl_url": None,
            "label_epl2_url": None,
            "label_file": None,
        }
        tracker = _Tracker(_id("trk"), code, shipment_id, now)
        shipment.update(
            postage_label=label,
            tracking_code=code,
            selected_rate=rate,
            tracker=tracker.object(),
            updated_at=now,
            fees=[_fee("LabelFee", "0.00000"), _fee("PostageFee", f"{rate['rate']}000")],
        )
        self._trackers[code] = tracker
        self._labels.append({**label, "shipment_id": shipment_id, "tracking_code": code})
        return Fault.respond(200, shipment)

    def _refund(self, shipment_id: str) -> Fault:
        shipment = self._shipments.get(shipment_id)
        if shipment is None:
            return _not_found()
        if shipment["postage_label"] is None:
            return easypost_error(
                422, "SHIPMENT.REFUND.UNAVAILABLE", "This shipment has no postage to refund."
            )
        if shipment["refund_status"] is None:
            tracker = self._trackers[shipment["tracking_code"]]
            moved = tracker.step > 0
            shipment["refund_status"] = "rejected" if moved else "submitted"
            tracker.frozen = not moved
            shipment["updated_at"] = self._stamp()
        return Fault.respond(200, shipment)

    # -- trackers ----------------------------------------------------------------------------

    def _track(self, request: ReceivedRequest) -> Fault:
        body = _body(request, "tracker")
        if isinstance(body, Fault):
            return body
        code = body.get("tracking_code")
        if not isinstance(code, str) or not code.strip():
            field = {"field": "tracker.tracking_code", "message": "cannot be blank"}
            return easypost_error(422, "PARAMETER.REQUIRED", "Missing required parameter.", [field])
        tracker = self._trackers.get(code)
        created = tracker is None
        if tracker is None:
            if code not in TEST_TRACKING_CODES:
                return easypost_error(
                    422,
                    "TRACKER.INVALID_TEST_CODE",
                    "Invalid test tracking code: use one of EasyPost's test codes "
                    "(EZ1000000001 to EZ7000000007) or one of a label bought in test mode.",
                )
            tracker = self._trackers[code] = _Tracker.test(code, self._stamp())
        else:
            tracker.advance(self._stamp())
        return Fault.respond(201 if created else 200, tracker.object())

    # -- addresses ---------------------------------------------------------------------------

    def _address(self, request: ReceivedRequest) -> Fault:
        body = _body(request, "address", whole=True)
        if isinstance(body, Fault):
            return body
        now = self._stamp()
        address = _address_object(body["address"], now)
        if "verify" not in body and "verify_strict" not in body:
            return Fault.respond(201, address)  # EasyPost verifies only when asked to
        errors = _verification_errors(address)
        if errors and "verify_strict" in body:
            return easypost_error(
                422, "ADDRESS.VERIFY.FAILURE", "Unable to verify address.", errors
            )
        if not errors:
            for name in ("street1", "street2", "city", "state"):
                if isinstance(address.get(name), str):
                    address[name] = " ".join(address[name].split()).upper()
            address["residential"] = False
        outcome = {"success": not errors, "errors": errors, "details": {}}
        address["verifications"] = {"delivery": outcome}
        if address.get("country") == "US":
            address["verifications"]["zip4"] = {**outcome, "details": None}
        return Fault.respond(201, address)

    def _stamp(self) -> str:
        return self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Tracker:
    """A label's tracker and how far its parcel has come (-1: not looked up yet)."""

    id: str
    tracking_code: str
    shipment_id: str | None
    created_at: str
    status: str = "unknown"
    step: int = -1
    frozen: bool = False
    details: list[dict[str, Any]] | None = None

    @classmethod
    def test(cls, code: str, now: str) -> _Tracker:
        """The tracker of one of EasyPost's test codes: a history ending in its status."""
        tracker = cls(_id("trk"), code, None, now, TEST_TRACKING_CODES[code], frozen=True)
        steps = [status for status, _ in _JOURNEY]
        status = tracker.status
        if status == "unknown":
            path: list[str] = []
        elif status in steps:
            path = steps[: steps.index(status) + 1]
        else:
            path = [*steps[:2], status]
        start = datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        tracker.details = [
            _detail(step, _stamp_of(start - timedelta(days=len(path) - 1 - i)))
            for i, step in enumerate(path)
        ]
        return tracker

    def advance(self, now: str) -> None:
        """One lookup later: the first shows the label created, each next one a step on."""
        if self.frozen or self.step == len(_JOURNEY) - 1:
            return
        self.step += 1
        self.status = _JOURNEY[self.step][0]
        last = self.details[-1]["datetime"] if self.details else now
        self.details = [*(self.details or []), _detail(self.status, max(now, last))]

    def object(self) -> dict[str, Any]:
        details = self.details or []
        return {
            "id": self.id,
            "object": "Tracker",
            "mode": "test",
            "tracking_code": self.tracking_code,
            "status": self.status,
            "status_detail": "unknown",
            "created_at": self.created_at,
            "updated_at": details[-1]["datetime"] if details else self.created_at,
            "signed_by": None,
            "weight": None,
            "est_delivery_date": None,
            "shipment_id": self.shipment_id,
            "carrier": CARRIER,
            "tracking_details": list(details),
            "carrier_detail": None,
            "finalized": self.status in ("delivered", "return_to_sender", "failure"),
            "is_return": False,
            "public_url": f"https://track.easypost.com/{self.id}",
            "fees": [],
        }


def _detail(status: str, when: str) -> dict[str, Any]:
    message = dict(_JOURNEY).get(status, status.replace("_", " ").capitalize())
    return {
        "object": "TrackingDetail",
        "message": message,
        "description": None,
        "status": status,
        "status_detail": None,
        "datetime": when,
        "source": CARRIER,
        "carrier_code": None,
        "tracking_location": {
            "object": "TrackingLocation",
            "city": None,
            "state": None,
            "country": None,
            "zip": None,
        },
    }


def _stamp_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(request: ReceivedRequest, name: str, *, whole: bool = False) -> Any:
    """The object a request wraps under `name` (the whole body with `whole`), or the
    error answer when it has none."""
    media = request.headers.get("content-type", "").partition(";")[0].strip()
    try:
        body = request.json() if media == "application/json" else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return easypost_error(400, "BAD_REQUEST", "The request body is not a JSON object.")
    if not isinstance(body.get(name), dict):
        field = {"field": name, "message": "cannot be blank"}
        return easypost_error(422, "PARAMETER.REQUIRED", "Missing required parameter.", [field])
    return body if whole else body[name]


def _parcel(data: dict[str, Any]) -> dict[str, Any] | Fault:
    """A Parcel as EasyPost checks it: a weight in ounces above 0, dimensions all or none."""
    parcel = {name: data.get(name) for name in ("length", "width", "height", "weight")}
    bad = [
        {"field": f"shipment.parcel.{name}", "message": "must be a number greater than 0"}
        for name, value in parcel.items()
        if (value is not None or name == "weight") and not _positive(value)
    ]
    given = [parcel[name] is not None for name in ("length", "width", "height")]
    if any(given) and not all(given):
        message = "length, width and height go together"
        bad.append({"field": "shipment.parcel", "message": message})
    if bad:
        return easypost_error(422, "PARCEL.PARAMETERS.INVALID", "Invalid parcel.", bad)
    return {**parcel, "predefined_package": data.get("predefined_package")}


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _address_object(data: dict[str, Any], now: str) -> dict[str, Any]:
    address: dict[str, Any] = {
        "id": _id("adr"),
        "object": "Address",
        "mode": "test",
        "created_at": now,
        "updated_at": now,
    }
    for name in _ADDRESS_TEXT:
        value = data.get(name)
        address[name] = value if isinstance(value, str) else None
    address["country"] = (address["country"] or "US").upper()
    residential = data.get("residential")
    address["residential"] = residential if isinstance(residential, bool) else None
    address.update(carrier_facility=None, federal_tax_id=None, state_tax_id=None)
    address["verifications"] = {}
    return address


def _verification_errors(address: dict[str, Any]) -> list[dict[str, Any]]:
    """Why the address does not verify (the double's rules, see the module), or []."""
    not_found = {
        "code": "E.ADDRESS.NOT_FOUND",
        "field": "address",
        "message": "Address not found",
        "suggestion": None,
    }
    street, zip_code = address.get("street1") or "", address.get("zip") or ""
    if address["country"] == "US" and street and not _HOUSE_NUMBER.match(street):
        missing = {
            "code": "E.HOUSE_NUMBER.MISSING",
            "field": "street1",
            "message": "House number is missing",
            "suggestion": None,
        }
        return [not_found, missing]
    if not street or "undeliverable" in street.lower() or _NO_ZIP.fullmatch(zip_code):
        return [not_found]
    return []


def _rate(shipment_id: str, service: str, cents: int, days: int, now: str) -> dict[str, Any]:
    price = f"{cents // 100}.{cents % 100:02d}"
    return {
        "id": _id("rate"),
        "object": "Rate",
        "created_at": now,
        "updated_at": now,
        "mode": "test",
        "service": service,
        "carrier": CARRIER,
        "rate": price,
        "currency": "USD",
        "retail_rate": price,
        "retail_currency": "USD",
        "list_rate": price,
        "list_currency": "USD",
        "billing_type": "easypost",
        "delivery_days": days,
        "delivery_date": None,
        "delivery_date_guaranteed": False,
        "est_delivery_days": days,
        "shipment_id": shipment_id,
        "carrier_account_id": "ca_" + "0" * 32,
    }


def _fee(kind: str, amount: str) -> dict[str, Any]:
    return {"object": "Fee", "type": kind, "amount": amount, "charged": True, "refunded": False}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def _not_found(errors: Iterable[Mapping[str, Any]] = ()) -> Fault:
    return easypost_error(404, "NOT_FOUND", _NOT_FOUND, errors)
