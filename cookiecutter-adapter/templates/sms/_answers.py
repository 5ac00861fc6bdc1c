"""{{ cookiecutter.vendor_name }}'s answers read as results, and its error codes (pure).

An error answer is ``{"error": {"code", "message"}}``, which `HttpVendor.read_error` reads;
its status decides the error class (see `nexus_connector_core.http.status_error`) unless
`ERRORS` says more about its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nexus_connector_core import (
    AuthenticationError,
    InvalidRequestError,
    SmsReceipt,
    SmsState,
    SmsStatus,
)
from nexus_connector_core.http import ErrorKind, ErrorTable

__all__ = ["ERRORS", "STATES", "read_receipt", "read_status"]

#: {{ cookiecutter.vendor_name }}'s error codes that say more than their HTTP status, and what to do.
#: TODO(vendor): the codes its API reference lists.
ERRORS: ErrorTable = {
    "unauthorized": ErrorKind(AuthenticationError, "check the connector's credentials"),
    "invalid_number": ErrorKind(InvalidRequestError, "send to an E.164 number it can reach"),
}

#: {{ cookiecutter.vendor_name }}'s message states, as every SMS vendor reports them.
#: TODO(vendor): the states its API reference lists.
STATES: Mapping[str, SmsState] = {
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
}


def read_receipt(body: Any, vendor: str) -> SmsReceipt:
    """A send's answer (``{"id", "to", "status", "segments"}``) as a receipt."""
    segments = body.get("segments")
    return SmsReceipt(
        vendor=vendor,
        vendor_id=str(body["id"]),
        to=str(body["to"]),
        status=STATES.get(body["status"], "unknown"),
        segments=segments if isinstance(segments, int) and segments > 0 else None,
        raw=body,
    )


def read_status(body: Any, vendor: str) -> SmsStatus:
    """A message's answer as its status, with the error code of a failed delivery."""
    code = body.get("error_code")
    return SmsStatus(
        vendor=vendor,
        vendor_id=str(body["id"]),
        status=STATES.get(body["status"], "unknown"),
        error_code=str(code) if code is not None else None,
        error_message=body.get("error_message"),
        raw=body,
    )
