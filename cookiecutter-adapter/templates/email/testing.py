{%- set C = cookiecutter.__class -%}
"""A local {{ cookiecutter.vendor_name }} for tests, an application's or the plugin's: a `FaultServer`
responder that speaks {{ cookiecutter.vendor_name }}'s documented email API.

`{{ C }}Double` takes messages as {{ cookiecutter.vendor_name }} does, keeps those it accepted
(``outbox``: each message's JSON with the recipients it took, ``accepted``) and refuses
recipients at `REJECTED_DOMAIN` (``reject.example``), as if {{ cookiecutter.vendor_name }} had
suppressed them; `connector` is the table of a connector to it. Faults (errors, resets,
stalls) are the server's to script. In an application's test:

>>> from nexus_connector_core import ConnectorManager, EmailMessage
>>> from nexus_connector_core.testing import FaultServer
>>> from {{ cookiecutter.package_name }}.testing import {{ C }}Double, connector
>>> double = {{ C }}Double()
>>> with FaultServer(default=double) as server:
...     config = {"connectors": {"email": connector(server.url)}}
...     with ConnectorManager.from_config(config) as manager:
...         receipt = manager.email.send(
...             EmailMessage(sender="shop@example.com", to=["ada@example.com"],
...                          subject="Order 1042", text="Shipped today.")
...         )
>>> [(sent["subject"], sent["accepted"]) for sent in double.outbox]
[('Order 1042', ['ada@example.com'])]

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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
{%- if cookiecutter.auth_method == "oauth2_client_credentials" %}
from urllib.parse import parse_qs
{%- endif %}

from nexus_connector_core.testing import Fault, ReceivedRequest

if TYPE_CHECKING:  # the suite's module imports pytest, which an application may not use
    from nexus_connector_core.testing import EmailFaultKind

__all__ = [
    "FAULTS",
    "REJECTED_DOMAIN",
    "RETRY_AFTER",
    "{{ C }}Double",
    "connector",
    "credentials",
    "vendor_error",
]
{%- include "common/double_auth.py" %}


#: Recipients at this domain are refused, as the conformance suite's convention has it
#: (``nexus_connector_core.testing.REJECTED_DOMAIN``, spelt out: importing the suite would
#: load pytest, and an application's tests may use another runner).
REJECTED_DOMAIN = "reject.example"
#: The answers of the faults the conformance suite asks for (`EmailFaultKind`).
FAULTS: Mapping[EmailFaultKind, Fault] = {
    "transient": vendor_error(503, "maintenance", "Down for maintenance; nothing was sent"),
    "unknown_outcome": Fault.reset_after_request(),
    "auth": AUTH_REFUSED,
    "rate_limited": vendor_error(429, "rate_limited", "Too many requests", retry_after=RETRY_AFTER),
}


class {{ C }}Double:
    """Answers like {{ cookiecutter.vendor_name }}; ``outbox`` holds the messages it accepted."""

    def __init__(self) -> None:
        self.outbox: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, request: ReceivedRequest) -> Fault:
        refused = _credentials_answer(request)
        if refused is not None:
            return refused
        path = request.path.partition("?")[0]
        if request.method != "POST" or path not in ("/v1/email", "/v1/email/batch"):
            return vendor_error(404, "not_found", f"No route for {request.method} {path}")
        try:
            body = request.json()
        except ValueError:
            return vendor_error(400, "invalid_request", "The body is not JSON")
        if path == "/v1/email":
            result = self._take(body)
            if "error" in result:
                return Fault.respond(422, result)
            return Fault.respond(200, result)
        return Fault.respond(200, {"results": [self._take(m) for m in body["messages"]]})

    def _take(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Accept what can be delivered of `message`; its result."""
        envelope = [a["email"] for field in ("to", "cc", "bcc") for a in message.get(field, [])]
        refused = [e for e in envelope if e.rpartition("@")[2].lower() == REJECTED_DOMAIN]
        recipients = {
            e: {"status": "rejected", "reason": "inactive recipient"}
            if e in refused
            else {"status": "queued"}
            for e in envelope
        }
        result: dict[str, Any] = {"id": f"em_{uuid.uuid4().hex}", "recipients": recipients}
        accepted = [e for e in envelope if e not in refused]
        if not accepted:
            message_ = "Every recipient is inactive"
            return {**result, "error": {"code": "all_recipients_rejected", "message": message_}}
        with self._lock:
            self.outbox.append({**message, "id": result["id"], "accepted": accepted})
        return result


def connector(base_url: str, **options: Any) -> dict[str, Any]:
    """The table of an ``email`` connector whose vendor is the double at `base_url`."""
    return {
        "vendor": "{{ cookiecutter.vendor_key }}",
        "options": {"base_url": base_url, **options},
        "credentials": credentials(),
    }
