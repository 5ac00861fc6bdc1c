"""{{ cookiecutter.vendor_name }}'s answers read as receipts, and its error codes (pure).

An error answer is ``{"error": {"code", "message"}}``, which `HttpVendor.read_error` reads;
its status decides the error class unless `ERRORS` says more about its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nexus_connector_core import (
    AuthenticationError,
    EmailMessage,
    EmailReceipt,
    InvalidRequestError,
    RecipientStatus,
    VendorUnavailableError,
)
from nexus_connector_core.http import ErrorKind, ErrorTable

__all__ = ["ERRORS", "read_receipt"]

#: {{ cookiecutter.vendor_name }}'s error codes that say more than their HTTP status, and what to do.
#: TODO(vendor): the codes its API reference lists.
ERRORS: ErrorTable = {
    "unauthorized": ErrorKind(AuthenticationError, "check the connector's credentials"),
    "all_recipients_rejected": ErrorKind(
        InvalidRequestError, "every recipient was refused; see the vendor's suppressions"
    ),
    # Documented as "nothing was sent": safe to retry, even a send.
    "maintenance": ErrorKind(
        VendorUnavailableError, "down for maintenance; nothing was sent", maybe_processed=False
    ),
}


def read_receipt(body: Any, vendor: str, message: EmailMessage) -> EmailReceipt:
    """One message's answer (``{"id", "recipients": {address: {"status", "reason"}}}``) as a
    receipt with a status for every envelope recipient."""
    said: Mapping[str, Any] = body.get("recipients") or {}
    recipients = {}
    for address in message.recipients:
        answer = said.get(address.email) or {}
        if answer.get("status") == "rejected":
            reason = answer.get("reason")
            recipients[address.email] = RecipientStatus(address.email, "rejected", reason=reason)
        else:
            recipients[address.email] = RecipientStatus(address.email, "queued")
    return EmailReceipt(vendor=vendor, vendor_id=str(body["id"]), recipients=recipients, raw=body)
