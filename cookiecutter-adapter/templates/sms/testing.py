{%- set C = cookiecutter.__class -%}
"""A local {{ cookiecutter.vendor_name }} for tests, an application's or the plugin's: a `FaultServer`
responder that speaks {{ cookiecutter.vendor_name }}'s documented API.

`{{ C }}Double` answers as {{ cookiecutter.vendor_name }} does, keeps the messages it accepted
(``outbox``) and moves each on, one status lookup at a time, to ``delivered`` (numbers that
start with `UNREACHABLE_PREFIX` end ``undelivered``); `connector` is the table of a
connector that sends to it. Faults (errors, resets, stalls) are the server's to script.
In an application's test:

>>> from nexus_connector_core import ConnectorManager, SmsMessage
>>> from nexus_connector_core.testing import FaultServer
>>> from {{ cookiecutter.package_name }}.testing import {{ C }}Double, connector
>>> double = {{ C }}Double()
>>> with FaultServer(default=double) as server:
...     config = {"connectors": {"sms": connector(server.url)}}
...     with ConnectorManager.from_config(config) as manager:
...         receipt = manager.sms.send(SmsMessage("+14155550100", "Your code is 481516"))
>>> [message["body"] for message in double.outbox]
['Your code is 481516']

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

from nexus_connector_core.testing import Fault, FaultServer, ReceivedRequest

__all__ = [
    "FAULTS",
    "RETRY_AFTER",
    "UNREACHABLE",
    "{{ C }}Double",
    "connector",
    "credentials",
    "sends",
    "vendor_error",
]
{%- include "common/double_auth.py" %}


#: Numbers the double accepts but cannot deliver to.
UNREACHABLE_PREFIX = "+1555000"
UNREACHABLE = UNREACHABLE_PREFIX + "1234"
#: The answers of the faults the conformance suite asks for (`SmsFaultKind`).
FAULTS: Mapping[str, Fault] = {
    "invalid_number": vendor_error(400, "invalid_number", "'to' is not a number we can reach"),
    "auth": AUTH_REFUSED,
    "rate_limited": vendor_error(429, "rate_limited", "Too many requests", retry_after=RETRY_AFTER),
    "transient": vendor_error(503, "unavailable", "Try again later"),
}
_MESSAGES = "/v1/messages"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
#: Where a message stands after 0, 1, 2... lookups.
_PROGRESS = ("queued", "sent", "delivered")


class {{ C }}Double:
    """Answers like {{ cookiecutter.vendor_name }}; ``outbox`` holds the messages it accepted."""

    def __init__(self) -> None:
        self.outbox: list[dict[str, Any]] = []
        self._lookups: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, request: ReceivedRequest) -> Fault:
        refused = _credentials_answer(request)
        if refused is not None:
            return refused
        path = request.path.partition("?")[0]
        if (request.method, path) == ("POST", _MESSAGES):
            return self._send(request)
        if request.method == "GET" and path.startswith(_MESSAGES + "/"):
            return self._status(unquote(path.removeprefix(_MESSAGES + "/")))
        return vendor_error(404, "not_found", f"No route for {request.method} {path}")

    def _send(self, request: ReceivedRequest) -> Fault:
        try:
            message = request.json()
        except ValueError:
            return vendor_error(400, "invalid_request", "The body is not JSON")
        to, body = message.get("to"), message.get("body")
        if not isinstance(to, str) or not _E164.fullmatch(to):
            return vendor_error(400, "invalid_number", "'to' is not an E.164 number")
        if not isinstance(body, str) or not body:
            return vendor_error(400, "invalid_request", "'body' is required")
        sent = {
            "id": f"msg_{uuid.uuid4().hex}",
            "to": to,
            "from": message.get("from"),
            "body": body,
            "status": "queued",
            "segments": 1 + len(body) // 160,
        }
        with self._lock:
            self.outbox.append(sent)
            self._lookups[sent["id"]] = 0
        return Fault.respond(201, sent)

    def _status(self, message_id: str) -> Fault:
        with self._lock:
            found = next((m for m in self.outbox if m["id"] == message_id), None)
            if found is None:
                return vendor_error(404, "not_found", "No such message")
            self._lookups[message_id] += 1
            step = _PROGRESS[min(self._lookups[message_id], len(_PROGRESS) - 1)]
        answer = {**found, "status": step}
        if step == "delivered" and found["to"].startswith(UNREACHABLE_PREFIX):
            answer |= {
                "status": "undelivered",
                "error_code": "30003",
                "error_message": "Unreachable destination handset",
            }
        return Fault.respond(200, answer)


def connector(base_url: str, **options: Any) -> dict[str, Any]:
    """The table of an ``sms`` connector whose vendor is the double at `base_url`."""
    return {
        "vendor": "{{ cookiecutter.vendor_key }}",
        "options": {"base_url": base_url, **options},
        "credentials": credentials(),
    }


def sends(server: FaultServer) -> list[dict[str, Any]]:
    """The body of every send request `server` received, whatever it answered."""
    return [
        request.json()
        for request in server.requests
        if (request.method, request.path) == ("POST", _MESSAGES)
    ]
