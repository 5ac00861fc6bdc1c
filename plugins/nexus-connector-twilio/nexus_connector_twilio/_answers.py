"""Twilio's answers read as results and errors (pure: no I/O, shared by both adapters).

A sent or fetched message comes back as Twilio's Message resource (``sid``, ``to``,
``status``, ``num_segments``, ``error_code``, ...): `read_receipt` and `read_status` turn it
into the results every SMS vendor returns, its status by `STATES`.

Twilio answers a refused request with a status and a JSON body::

    {"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.",
     "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}

The code decides the class when it is one of the well-known ones below (`ERRORS`), else the
status, as the core's HTTP toolkit maps it (`nexus_connector_core.http.status_error`)::

    401, 403 / 20003          AuthenticationError
    404 / 20404               ObjectNotFoundError
    429 / 20429, 14107,       RateLimitExceededError (Retry-After; never processed, so a
      21611                   retry is safe even for a send)
    other 4xx (21211 ...)     InvalidRequestError with Twilio's code
    5xx                       VendorUnavailableError (the message may have been sent)

Every refusal below 500 means Twilio created no message (``maybe_processed=False``).
Delivery failures (30003 ...) are not errors of a call: `read_status` reports them, with
`DELIVERY_ERRORS` naming the codes Twilio leaves without a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nexus_connector_core import (
    AuthenticationError,
    InvalidRequestError,
    ObjectNotFoundError,
    RateLimitExceededError,
    SmsReceipt,
    SmsState,
    SmsStatus,
)
from nexus_connector_core.http import ErrorKind, ErrorTable

__all__ = ["DELIVERY_ERRORS", "ERRORS", "STATES", "read_receipt", "read_status"]

#: Twilio's message statuses, as the states every SMS vendor reports.
STATES: Mapping[str, SmsState] = {
    "accepted": "queued",  # by a messaging service, before it picked a sender
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}

#: Well-known codes of a refused request: what they mean, and what to do about them.
#: 14107 and 21611 are limits on how fast to send (twilio.com/docs/errors/14107, /21611):
#: Twilio created no message, and the same send succeeds once the pace drops.
ERRORS: ErrorTable = {
    14107: ErrorKind(
        RateLimitExceededError,
        "at most 30 messages between two numbers in 30 seconds; retry after a pause",
    ),
    20003: ErrorKind(AuthenticationError, "check the account_sid and auth_token credentials"),
    20404: ErrorKind(ObjectNotFoundError, "the SID names nothing on this account"),
    20429: ErrorKind(RateLimitExceededError, "too many concurrent requests; retry after a pause"),
    21211: ErrorKind(InvalidRequestError, "send to an E.164 number such as +14155550100"),
    21212: ErrorKind(
        InvalidRequestError, "send from a number of the account or an alphanumeric id"
    ),
    21408: ErrorKind(
        InvalidRequestError, "enable SMS to that country in the console's geo permissions"
    ),
    21602: ErrorKind(InvalidRequestError, "give the message a body"),
    21603: ErrorKind(InvalidRequestError, "set options.sender or options.messaging_service_sid"),
    21604: ErrorKind(InvalidRequestError, "give the message a 'To' number"),
    21606: ErrorKind(InvalidRequestError, "send from an SMS-capable number of this account"),
    21610: ErrorKind(InvalidRequestError, "the recipient replied STOP; only their START lifts it"),
    21611: ErrorKind(
        RateLimitExceededError,
        "the sender's queue of messages is full; send slower, or through a messaging service",
    ),
    21612: ErrorKind(
        InvalidRequestError, "Twilio cannot route between these numbers; try another sender"
    ),
    21614: ErrorKind(
        InvalidRequestError, "the 'To' number is not a mobile number and cannot get SMS"
    ),
    21617: ErrorKind(InvalidRequestError, "shorten the body to at most 1600 characters"),
}

#: Codes a message's status carries when it could not be delivered.
DELIVERY_ERRORS: Mapping[int, str] = {
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered by the carrier",
    30008: "Unknown error",
}


def read_receipt(data: Any, vendor: str) -> SmsReceipt:
    """The receipt of a sent message, from the Message resource Twilio answered."""
    segments = int(data.get("num_segments") or 0)
    return SmsReceipt(
        vendor=vendor,
        vendor_id=data["sid"],
        to=data["to"],
        status=STATES.get(data["status"], "unknown"),
        # A messaging service has not picked a sender yet, so it counts 0 segments.
        segments=segments or None,
        raw=data,
    )


def read_status(data: Any, vendor: str) -> SmsStatus:
    """Where a message is, from the Message resource; a failure keeps Twilio's code."""
    code = data.get("error_code")
    error_message = data.get("error_message") or None
    if code is not None and error_message is None:
        error_message = DELIVERY_ERRORS.get(int(code))
    return SmsStatus(
        vendor=vendor,
        vendor_id=data["sid"],
        status=STATES.get(data["status"], "unknown"),
        error_code=str(code) if code is not None else None,
        error_message=error_message,
        raw=data,
    )
