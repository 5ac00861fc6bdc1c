"""The SMS category: text messages, receipts and the adapter protocol SMS vendors implement."""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from ._context import CallContext
from ._operations import Category, Operation

__all__ = [
    "AsyncSmsAdapter",
    "SMS",
    "SmsAdapter",
    "SmsMessage",
    "SmsReceipt",
    "SmsState",
    "SmsStatus",
    "SmsStatusRequest",
]

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# Alphanumeric sender ids: 1-11 characters, at least one letter (GSM rules most vendors apply).
_ALPHA_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")

SmsState = Literal["queued", "sending", "sent", "delivered", "undelivered", "failed", "unknown"]


class SmsMessage(msgspec.Struct, frozen=True):
    """A text message to one E.164 number (``+14155550100``).

    `sender` is an E.164 number, an alphanumeric sender id, or None for the vendor account's
    default (a messaging service, for Twilio).
    """

    to: str
    body: str
    sender: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.to, str) or not _E164.fullmatch(self.to):
            raise ValueError(
                f"SmsMessage.to must be an E.164 number like +14155550100, got {self.to!r}"
            )
        if not isinstance(self.body, str) or not self.body:
            raise ValueError("SmsMessage.body must be a non-empty string")
        if self.sender is not None and not (
            _E164.fullmatch(self.sender) or _ALPHA_SENDER.fullmatch(self.sender)
        ):
            raise ValueError(
                f"SmsMessage.sender must be an E.164 number or an alphanumeric id of at most "
                f"11 characters, got {self.sender!r}"
            )


class SmsReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor accepted the message: `vendor_id` identifies it for `get_status`."""

    vendor: str
    vendor_id: str
    to: str
    status: SmsState = "queued"
    segments: int | None = None
    raw: Any = None


class SmsStatusRequest(msgspec.Struct, frozen=True):
    """Ask for the delivery status of a message by the vendor's id."""

    vendor_id: str


class SmsStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Where a message is now; `error_code`/`error_message` are the vendor's when it failed."""

    vendor: str
    vendor_id: str
    status: SmsState
    error_code: str | None = None
    error_message: str | None = None
    raw: Any = None


@runtime_checkable
class SmsAdapter(Protocol):
    """What a synchronous SMS vendor adapter implements."""

    def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt: ...

    def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus: ...


@runtime_checkable
class AsyncSmsAdapter(Protocol):
    """What an asynchronous SMS vendor adapter implements."""

    async def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt: ...

    async def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus: ...


SMS_SEND = Operation("send", "sms", SmsMessage, SmsReceipt, idempotent=False)
SMS_GET_STATUS = Operation(
    "get_status", "sms", SmsStatusRequest, SmsStatus, idempotent=True, reads=True
)

#: The SMS category and its operations.
SMS = Category(
    "sms",
    (SMS_SEND, SMS_GET_STATUS),
)
