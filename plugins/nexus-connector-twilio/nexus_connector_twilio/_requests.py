"""Each operation as the HTTP request Twilio's Messages resource expects (pure: no I/O, shared
by both adapters and the tests).

- send: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``,
  ``Body``, ``From`` and/or ``MessagingServiceSid``, optional ``StatusCallback``; Twilio
  answers ``201`` with the Message resource (`read_receipt` reads it).
- get_status: ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json``; ``200`` with
  the same resource (`read_status` reads it).

A request that cannot be right is refused here, before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, NamedTuple, TypeVar

from nexus_connector_core import (
    InvalidRequestError,
    ObjectNotFoundError,
    SmsMessage,
    SmsReceipt,
    SmsStatus,
    SmsStatusRequest,
)

from ._answers import read_receipt, read_status
from ._options import TwilioOptions

__all__ = ["API_VERSION", "Call", "send", "status"]

T = TypeVar("T")

#: The version prefix of every path of Twilio's core REST API.
API_VERSION = "2010-04-01"

_MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")


class Call(NamedTuple, Generic[T]):
    """One operation as an HTTP exchange: what to send, and how to read a 2xx answer (its
    JSON body and the vendor's name give the result)."""

    method: str
    path: str
    form: Mapping[str, str] | None
    read: Callable[[Any, str], T]


def send(message: SmsMessage, account_sid: str, options: TwilioOptions) -> Call[SmsReceipt]:
    """The request that sends `message` (raises when no sender is known at all)."""
    sender = message.sender or options.sender
    if sender is None and options.messaging_service_sid is None:
        raise InvalidRequestError(
            "the message names no sender: set SmsMessage.sender, or options.sender or "
            "options.messaging_service_sid of the connector",
            maybe_processed=False,
        )
    form = {"To": message.to, "Body": message.body}
    if sender is not None:
        form["From"] = sender
    if options.messaging_service_sid is not None:
        form["MessagingServiceSid"] = options.messaging_service_sid
    if options.status_callback is not None:
        form["StatusCallback"] = options.status_callback
    return Call("POST", f"{_account(account_sid)}/Messages.json", form, read_receipt)


def status(request: SmsStatusRequest, account_sid: str) -> Call[SmsStatus]:
    """The request that fetches a message, by its ``SM...`` (or ``MM...``) SID."""
    if not _MESSAGE_SID.fullmatch(request.vendor_id):
        # Twilio answers 404 for such an id; refusing here also keeps it out of the path.
        raise ObjectNotFoundError(
            f"{request.vendor_id!r} is not a Twilio message SID ('SM' or 'MM' and 32 hex "
            "digits); pass the vendor_id of a receipt",
            code="20404",
            maybe_processed=False,
        )
    path = f"{_account(account_sid)}/Messages/{request.vendor_id}.json"
    return Call("GET", path, None, read_status)


def _account(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}"
