{%- set C = cookiecutter.__class -%}
"""A local {{ cookiecutter.vendor_name }} for tests, an application's or the plugin's: a `FaultServer`
responder that speaks {{ cookiecutter.vendor_name }}'s documented payments API.

`{{ C }}Double` holds, takes, refunds and voids payments as {{ cookiecutter.vendor_name }} does
(``payments``: the money held or taken, by id), answers a repeated ``Idempotency-Key`` from
its own store (``Idempotent-Replayed: true``) and declines `DECLINED_METHOD`;
`connector` is the table of a connector to it. Faults (errors, resets, stalls) are the
server's to script; `reset_after_processing` makes the double act, then lose its answer.
In an application's test:

>>> from nexus_connector_core import ConnectorManager, Money, PaymentRequest
>>> from nexus_connector_core.testing import FaultServer
>>> from {{ cookiecutter.package_name }}.testing import {{ C }}Double, connector
>>> double = {{ C }}Double()
>>> with FaultServer(default=double) as server:
...     config = {"connectors": {"payment": connector(server.url)}}
...     with ConnectorManager.from_config(config) as manager:
...         request = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")
...         payment = manager.payment.purchase(request)
>>> [(p["amount"], p["currency"], p["status"]) for p in double.payments.values()]
[(1999, 'USD', 'succeeded')]

TODO(vendor): make the double answer as {{ cookiecutter.vendor_name }}'s API reference documents
(paths, auth, bodies, statuses, error codes): it knows the vendor, not our client, so that it
catches the client's mistakes.
"""

from __future__ import annotations
{% if cookiecutter.auth_method in ("basic", "oauth2_client_credentials") %}
import base64
{%- endif %}
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import {% if cookiecutter.auth_method == "oauth2_client_credentials" %}parse_qs, {% endif %}unquote

from nexus_connector_core.testing import Fault, ReceivedRequest

__all__ = [
    "DECLINED_METHOD",
    "FAULTS",
    "RETRY_AFTER",
    "{{ C }}Double",
    "connector",
    "credentials",
    "idempotency_keys",
    "vendor_error",
]
{%- include "common/double_auth.py" %}


#: A payment method the double always declines (``card_declined``, ``generic_decline``).
DECLINED_METHOD = "pm_card_declined"
#: The answers of the faults the conformance suite asks for (`PaymentFaultKind`), but
#: ``reset_after_processing``, which the double makes itself.
FAULTS: Mapping[str, Fault] = {
    "rate_limited": vendor_error(429, "rate_limited", "Too many requests", retry_after=RETRY_AFTER),
    "unavailable": vendor_error(503, "unavailable", "Try again later"),
    "auth": AUTH_REFUSED,
}
_PAYMENTS = "/v1/payments"


class {{ C }}Double:
    """Answers like {{ cookiecutter.vendor_name }}; ``payments`` holds every payment it made, by id."""

    def __init__(self) -> None:
        self.payments: dict[str, dict[str, Any]] = {}
        self._answers: dict[str, tuple[int, dict[str, Any]]] = {}  # by idempotency key
        self._reset_next = False
        self._lock = threading.Lock()

    def reset_after_processing(self) -> None:
        """Act on the next request, then reset the connection instead of answering."""
        with self._lock:
            self._reset_next = True

    def __call__(self, request: ReceivedRequest) -> Fault:
        refused = _credentials_answer(request)
        if refused is not None:
            return refused
        path = request.path.partition("?")[0]
        parts = [unquote(part) for part in path.removeprefix(_PAYMENTS).split("/")[1:]]
        with self._lock:
            key = request.headers.get("idempotency-key")
            if request.method == "POST" and key in self._answers:
                status, body = self._answers[key]
                return Fault.respond(status, body, {"Idempotent-Replayed": "true"})
            status, body = self._route(request, path, parts)
            if request.method == "POST" and key is not None and status < 500:
                self._answers[key] = (status, body)
            if self._reset_next:
                self._reset_next = False
                return Fault.reset()  # acted; the answer is lost
        return Fault.respond(status, body)

    def _route(
        self, request: ReceivedRequest, path: str, parts: Sequence[str]
    ) -> tuple[int, dict[str, Any]]:
        if not path.startswith(_PAYMENTS):
            return _error(404, "not_found", f"No route for {request.method} {path}")
        if request.method == "GET" and len(parts) == 1:
            found = self.payments.get(parts[0])
            return (200, dict(found)) if found else _error(404, "not_found", "No such payment")
        if request.method != "POST":
            return _error(404, "not_found", f"No route for {request.method} {path}")
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return _error(400, "invalid_request", "The body is not JSON")
        if not parts:
            return self._create(body)
        if len(parts) == 2 and parts[0] in self.payments:
            action = {"capture": self._capture, "refunds": self._refund, "void": self._void}
            if parts[1] in action:
                return action[parts[1]](self.payments[parts[0]], body)
        return _error(404, "not_found", "No such payment")

    def _create(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        amount, currency = body.get("amount"), body.get("currency")
        if not isinstance(amount, int) or amount <= 0 or not isinstance(currency, str):
            return _error(400, "invalid_request", "'amount' (minor units) and 'currency'")
        if body.get("payment_method") == DECLINED_METHOD:
            error = {"code": "card_declined", "decline_code": "generic_decline"}
            return 402, {"error": {**error, "message": "Your card was declined."}}
        capture = body.get("capture") is True
        payment = {
            "id": f"pay_{uuid.uuid4().hex[:24]}",
            "status": "succeeded" if capture else "authorized",
            "amount": amount,
            "currency": currency,
            "captured": amount if capture else 0,
            "refunded": 0,
            "payment_method": body.get("payment_method"),
            "customer": body.get("customer"),
            "description": body.get("description"),
            "metadata": dict(body.get("metadata") or {}),
        }
        self.payments[str(payment["id"])] = payment
        return 201, dict(payment)

    def _capture(
        self, payment: dict[str, Any], body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if payment["status"] != "authorized":
            return _error(400, "payment_not_capturable", f"The payment is {payment['status']}")
        amount, refused = _amount(payment, body, payment["amount"])
        if refused:
            return refused
        payment.update(status="succeeded", captured=amount)
        return 200, dict(payment)

    def _refund(
        self, payment: dict[str, Any], body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        left = payment["captured"] - payment["refunded"]
        if left <= 0:
            return _error(400, "nothing_to_refund", "Nothing captured is left to refund")
        amount, refused = _amount(payment, body, left)
        if refused:
            return refused
        payment["refunded"] += amount
        full = payment["refunded"] == payment["captured"]
        payment["status"] = "refunded" if full else "partially_refunded"
        refund = {
            "id": f"re_{uuid.uuid4().hex[:24]}",
            "payment_id": payment["id"],
            "amount": amount,
            "currency": payment["currency"],
            "status": "succeeded",
        }
        return 201, refund

    def _void(self, payment: dict[str, Any], body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        if payment["status"] not in ("authorized", "canceled"):
            return _error(400, "payment_not_voidable", f"The payment is {payment['status']}")
        payment["status"] = "canceled"
        return 200, dict(payment)


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": code, "message": message}}


def _amount(
    payment: Mapping[str, Any], body: Mapping[str, Any], most: int
) -> tuple[int, tuple[int, dict[str, Any]] | None]:
    """The amount a capture or refund asks for (all of `most` when it names none), or the
    refusal of one beyond `most` or in another currency."""
    if "amount" not in body:
        return most, None
    if body.get("currency") != payment["currency"]:
        return 0, _error(400, "currency_mismatch", f"The payment is in {payment['currency']}")
    amount = body["amount"]
    if not isinstance(amount, int) or not 0 < amount <= most:
        return 0, _error(400, "amount_too_large", f"At most {most} is left")
    return amount, None


def connector(base_url: str, **options: Any) -> dict[str, Any]:
    """The table of a ``payment`` connector whose vendor is the double at `base_url`."""
    return {
        "vendor": "{{ cookiecutter.vendor_key }}",
        "options": {"base_url": base_url, **options},
        "credentials": credentials(),
    }


def idempotency_keys(requests: Sequence[ReceivedRequest]) -> list[str | None]:
    """The ``Idempotency-Key`` of every mutating request (a POST to the payments API)."""
    return [
        request.headers.get("idempotency-key")
        for request in requests
        if request.method == "POST" and request.path.startswith(_PAYMENTS)
    ]
