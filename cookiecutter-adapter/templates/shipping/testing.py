{%- set C = cookiecutter.__class -%}
"""A local {{ cookiecutter.vendor_name }} for tests, an application's or the plugin's: a `FaultServer`
responder that speaks {{ cookiecutter.vendor_name }}'s documented shipping API.

`{{ C }}Double` quotes shipments, sells one label per shipment (``labels``), moves each
tracked parcel on one lookup at a time to ``delivered``, refunds labels whose parcel has
not moved, and verifies addresses (one without a house number is not deliverable);
`connector` is the table of a connector to it. Faults (errors, resets, stalls) are the
server's to script; `lose_next_answer` makes the double act, then lose its answer. In an
application's test:

>>> from nexus_connector_core import Address, ConnectorManager, Parcel, Shipment
>>> from nexus_connector_core.testing import FaultServer
>>> from {{ cookiecutter.package_name }}.testing import {{ C }}Double, connector
>>> double = {{ C }}Double()
>>> home = Address(street1="1 Main St", city="Springfield", postal_code="62701", country="US")
>>> with FaultServer(default=double) as server:
...     config = {"connectors": {"shipping": connector(server.url)}}
...     with ConnectorManager.from_config(config) as manager:
...         box = Parcel(weight=1.5, mass_unit="kg")
...         rates = manager.shipping.rates(Shipment(from_address=home, to_address=home, parcels=[box]))
...         label = manager.shipping.buy(rates[0].shipment_id, rates[0].vendor_id)
>>> [sold["tracking_code"] == label.tracking_code for sold in double.labels]
[True]

TODO(vendor): make the double answer as {{ cookiecutter.vendor_name }}'s API reference documents
(paths, auth, bodies, statuses, error codes): it knows the vendor, not our client, so that it
catches the client's mistakes.
"""

from __future__ import annotations
{% if cookiecutter.auth_method in ("basic", "oauth2_client_credentials") %}
import base64
{%- endif %}
import re
import threading
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import {% if cookiecutter.auth_method == "oauth2_client_credentials" %}parse_qs, {% endif %}unquote

from nexus_connector_core.testing import Fault, ReceivedRequest

__all__ = [
    "FAULTS",
    "RETRY_AFTER",
    "{{ C }}Double",
    "connector",
    "credentials",
    "operation_of",
    "vendor_error",
]
{%- include "common/double_auth.py" %}


#: The answers of the faults the conformance suite asks for (`ShippingFaultKind`), but
#: ``lost_answer``, which the double makes itself.
FAULTS: Mapping[str, Fault] = {
    "auth": AUTH_REFUSED,
    "rate_limited": vendor_error(429, "rate_limited", "Too many requests", retry_after=RETRY_AFTER),
    "transient": vendor_error(503, "unavailable", "Try again later"),
}
#: The services the double quotes: (carrier, service, cents per kilogram, days).
SERVICES = (("ACME Post", "Ground", 450, 5), ("ACME Post", "Express", 1290, 1))
_JOURNEY = ("pre_transit", "in_transit", "out_for_delivery", "delivered")
_ROUTES = {
    ("POST", r"/v1/shipments"): "rates",
    ("POST", r"/v1/shipments/[^/]+/buy"): "buy",
    ("GET", r"/v1/trackers/[^/]+"): "track",
    ("POST", r"/v1/shipments/[^/]+/refund"): "cancel",
    ("POST", r"/v1/addresses/verify"): "validate_address",
}
_GRAMS = {"g": 1.0, "kg": 1000.0, "oz": 28.349523125, "lb": 453.59237}


def operation_of(request: ReceivedRequest) -> str | None:
    """The shipping operation a request serves (``rates``, ``buy``...), or None."""
    path = request.path.partition("?")[0]
    for (method, pattern), operation in _ROUTES.items():
        if request.method == method and re.fullmatch(pattern, path):
            return operation
    return None


class {{ C }}Double:
    """Answers like {{ cookiecutter.vendor_name }}; ``labels`` holds every label it sold."""

    def __init__(self) -> None:
        self.shipments: dict[str, dict[str, Any]] = {}
        self.labels: list[dict[str, Any]] = []
        self._trackers: dict[str, dict[str, Any]] = {}
        self._lose_next = False
        self._lock = threading.Lock()

    def lose_next_answer(self) -> None:
        """Act on the next request, then reset the connection instead of answering."""
        with self._lock:
            self._lose_next = True

    def __call__(self, request: ReceivedRequest) -> Fault:
        refused = _credentials_answer(request)
        if refused is not None:
            return refused
        operation = operation_of(request)
        path = request.path.partition("?")[0]
        parts = [unquote(part) for part in path.split("/")]
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return vendor_error(400, "invalid_request", "The body is not JSON")
        with self._lock:
            if operation == "rates":
                answer = self._rates(body)
            elif operation == "buy":
                answer = self._buy(parts[3], body)
            elif operation == "track":
                answer = self._track(parts[3])
            elif operation == "cancel":
                answer = self._refund(parts[3])
            elif operation == "validate_address":
                answer = self._verify(body)
            else:
                answer = vendor_error(404, "not_found", f"No route for {request.method} {path}")
            if self._lose_next:
                self._lose_next = False
                return Fault.reset()  # acted; the answer is lost
        return answer

    def _rates(self, body: Mapping[str, Any]) -> Fault:
        parcels = body.get("parcels")
        if not isinstance(parcels, list) or not parcels:
            return vendor_error(422, "invalid_request", "A shipment needs parcels")
        kilograms = sum(p["weight"] * _GRAMS[p.get("mass_unit", "g")] / 1000 for p in parcels)
        shipment_id = f"shp_{uuid.uuid4().hex}"
        rates = [
            {
                "id": f"rate_{uuid.uuid4().hex}",
                "carrier": carrier,
                "service": service,
                "amount": max(1, round(cents * kilograms)),
                "currency": "USD",
                "delivery_days": days,
            }
            for carrier, service, cents, days in SERVICES
        ]
        self.shipments[shipment_id] = {"id": shipment_id, **body, "rates": rates, "label": None}
        return Fault.respond(201, {"id": shipment_id, "rates": rates})

    def _buy(self, shipment_id: str, body: Mapping[str, Any]) -> Fault:
        shipment = self.shipments.get(shipment_id)
        if shipment is None:
            return vendor_error(404, "not_found", "No such shipment")
        rate = next((r for r in shipment["rates"] if r["id"] == body.get("rate_id")), None)
        if rate is None:
            return vendor_error(404, "rate_not_found", "No such rate for this shipment")
        if shipment["label"] is not None:
            return vendor_error(422, "already_purchased", "The shipment has a label")
        code = f"NX{uuid.uuid4().int % 10**16:016d}"
        label = {
            "id": f"lbl_{uuid.uuid4().hex}",
            "shipment_id": shipment_id,
            "tracking_code": code,
            "label_url": f"https://labels.example/{code}.pdf",
            **{k: rate[k] for k in ("carrier", "service", "amount", "currency")},
        }
        shipment["label"] = label
        self.labels.append(label)
        self._trackers[code] = {"shipment_id": shipment_id, "lookups": 0, "refund": None}
        return Fault.respond(200, label)

    def _track(self, code: str) -> Fault:
        tracker = self._trackers.get(code)
        if tracker is None:
            return vendor_error(404, "not_found", "No such tracking code")
        tracker["lookups"] += 1
        reached = min(tracker["lookups"], len(_JOURNEY)) - 1
        events = [
            {"timestamp": f"2026-01-01T{10 + step:02d}:00:00+00:00", "status": _JOURNEY[step]}
            for step in range(reached + 1)
        ]
        answer = {
            "id": f"trk_{code}",
            "tracking_code": code,
            "status": _JOURNEY[reached],
            "carrier": self.shipments[tracker["shipment_id"]]["label"]["carrier"],
            "events": events,
        }
        return Fault.respond(200, answer)

    def _refund(self, shipment_id: str) -> Fault:
        shipment = self.shipments.get(shipment_id)
        if shipment is None or shipment["label"] is None:
            return vendor_error(404, "not_found", "No label for this shipment")
        tracker = self._trackers[shipment["label"]["tracking_code"]]
        if tracker["refund"] is None:
            moved = tracker["lookups"] >= 2  # the carrier has the parcel
            status = "rejected" if moved else "submitted"
            tracker["refund"] = {"id": f"rfnd_{uuid.uuid4().hex}", "status": status}
        return Fault.respond(200, {**tracker["refund"], "shipment_id": shipment_id})

    def _verify(self, body: Mapping[str, Any]) -> Fault:
        answer: dict[str, Any] = {"id": f"adr_{uuid.uuid4().hex}"}
        street = body.get("street1")
        if not isinstance(street, str) or not any(c.isdigit() for c in street):
            message = "House number is missing"
            fields = {"street1": [message]}
            return Fault.respond(
                200, {**answer, "valid": False, "messages": [message], "fields": fields}
            )
        corrected = {k: v.upper() if k in ("street1", "city") else v for k, v in body.items()}
        return Fault.respond(200, {**answer, "valid": True, "address": corrected})


def connector(base_url: str, **options: Any) -> dict[str, Any]:
    """The table of a ``shipping`` connector whose vendor is the double at `base_url`."""
    return {
        "vendor": "{{ cookiecutter.vendor_key }}",
        "options": {"base_url": base_url, **options},
        "credentials": credentials(),
    }
