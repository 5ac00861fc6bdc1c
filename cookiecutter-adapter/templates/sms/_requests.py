"""Each operation as {{ cookiecutter.vendor_name }}'s HTTP request (pure: shared by both adapters).

TODO(vendor): the paths and bodies of {{ cookiecutter.vendor_name }}'s API reference (and the double in
testing.py, which answers them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from nexus_connector_core import SmsMessage, SmsStatusRequest

__all__ = ["MESSAGES", "send_body", "status_path"]

#: send: POST a message; get_status: GET it by its id.
MESSAGES = "/v1/messages"


def send_body(message: SmsMessage) -> dict[str, Any]:
    """The JSON body of a send."""
    body: dict[str, Any] = {"to": message.to, "body": message.body}
    if message.sender is not None:
        body["from"] = message.sender
    return body


def status_path(request: SmsStatusRequest) -> str:
    """The path of one message; quoted, so an id such as ``../admin`` stays one segment."""
    return f"{MESSAGES}/{quote(request.vendor_id, safe='')}"
