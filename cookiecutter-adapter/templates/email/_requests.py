"""Each operation as {{ cookiecutter.vendor_name }}'s HTTP request (pure: shared by both adapters).

TODO(vendor): the paths and bodies of {{ cookiecutter.vendor_name }}'s API reference (and the double in
testing.py, which answers them).
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from nexus_connector_core import EmailAddress, EmailMessage

__all__ = ["BATCH", "SEND", "message_body"]

#: send: POST one message; send_batch: POST several at once.
SEND = "/v1/email"
BATCH = "/v1/email/batch"


def _address(address: EmailAddress) -> dict[str, str]:
    return {"email": address.email, **({"name": address.name} if address.name else {})}


def message_body(message: EmailMessage) -> dict[str, Any]:
    """One message as the API takes it: addresses as objects (display names need no
    quoting), attachments in base64."""
    body: dict[str, Any] = {
        "from": _address(message.from_address),
        "subject": message.subject,
        "headers": dict(message.headers),
        "tags": list(message.tags),
        "metadata": dict(message.metadata),
    }
    fields: tuple[Literal["to", "cc", "bcc", "reply_to"], ...] = ("to", "cc", "bcc", "reply_to")
    for field in fields:
        addresses = message.addresses(field)
        if addresses:
            body[field] = [_address(address) for address in addresses]
    if message.text is not None:
        body["text"] = message.text
    if message.html is not None:
        body["html"] = message.html
    if message.attachments:
        body["attachments"] = [
            {
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "content": base64.b64encode(attachment.content).decode("ascii"),
                "inline": attachment.inline,
                **({"content_id": attachment.content_id} if attachment.content_id else {}),
            }
            for attachment in message.attachments
        ]
    return body
