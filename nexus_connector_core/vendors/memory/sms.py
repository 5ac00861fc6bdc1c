"""The memory SMS vendor: a Twilio-like gateway whose messages move on as you look at them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from ..._adapters import AdapterSettings
from ..._context import CallContext
from ..._errors import ObjectNotFoundError
from ..._sms import SmsMessage, SmsReceipt, SmsState, SmsStatus, SmsStatusRequest
from ._behaviour import MemoryVendor

__all__ = ["AsyncMemorySmsAdapter", "MemorySmsAdapter", "UNREACHABLE_PREFIX", "sms_segments"]

#: Numbers starting with this prefix are unreachable: their messages end ``failed`` (30003).
UNREACHABLE_PREFIX = "+1555000"
_UNREACHABLE_CODE = "30003"
_UNREACHABLE_MESSAGE = "Unreachable destination handset"

# GSM 03.38: the basic set costs one septet a character; the extension table is reached
# through an escape, so its characters cost two.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("\f^{}\\[~]|€")

_DELIVERED: tuple[SmsState, ...] = ("queued", "sent", "delivered")
_FAILED: tuple[SmsState, ...] = ("queued", "sent", "failed")


def sms_segments(body: str) -> int:
    """How many SMS segments `body` takes, as carriers count them.

    GSM-7 when every character is in the GSM 03.38 set (160 septets, or 153 per segment
    once concatenated, extension characters such as ``€`` taking two); otherwise UCS-2
    (70 UTF-16 units, or 67 per segment; an emoji takes two). A character is never split
    across two segments.

    >>> sms_segments("a" * 160), sms_segments("a" * 161), sms_segments("é" * 70 + "✓")
    (1, 2, 2)
    """
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in body):
        costs = [2 if c in _GSM_EXTENDED else 1 for c in body]
        single, per_segment = 160, 153
    else:
        costs = [len(c.encode("utf-16-le")) // 2 for c in body]
        single, per_segment = 70, 67
    if sum(costs) <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_segment:
            segments, used = segments + 1, 0
        used += cost
    return segments


class _SmsRecord:
    """One message and how far along its lifecycle it is."""

    __slots__ = ("created", "lifecycle", "message", "segments", "sid", "step", "updated")

    def __init__(self, sid: str, message: SmsMessage, segments: int, now: float) -> None:
        self.sid = sid
        self.message = message
        self.segments = segments
        unreachable = message.to.startswith(UNREACHABLE_PREFIX)
        self.lifecycle = _FAILED if unreachable else _DELIVERED
        self.step = 0
        self.created = self.updated = now

    @property
    def status(self) -> SmsState:
        return self.lifecycle[self.step]

    def advance(self, now: float) -> None:
        if self.step < len(self.lifecycle) - 1:
            self.step += 1
            self.updated = now

    def raw(self) -> dict[str, Any]:
        """The message as Twilio's Messages resource shows it."""
        failed = self.status == "failed"
        return {
            "sid": self.sid,
            "to": self.message.to,
            "from": self.message.sender,
            "body": self.message.body,
            "status": self.status,
            "num_segments": str(self.segments),
            "error_code": int(_UNREACHABLE_CODE) if failed else None,
            "error_message": _UNREACHABLE_MESSAGE if failed else None,
            "date_created": format_datetime(datetime.fromtimestamp(self.created, UTC)),
            "date_updated": format_datetime(datetime.fromtimestamp(self.updated, UTC)),
        }


class _SmsGateway(MemoryVendor):
    """The state and logic both SMS twins share; they differ only in how a call begins."""

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self.outbox: list[SmsMessage] = []
        self._messages: dict[str, _SmsRecord] = {}

    def _send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        sid = "SM" + secrets.token_hex(16)
        record = _SmsRecord(sid, message, sms_segments(message.body), ctx.clock.time())
        with self._lock:
            self._messages[sid] = record
            self.outbox.append(message)
            raw = record.raw()
        return SmsReceipt(
            vendor=self.settings.vendor,
            vendor_id=sid,
            to=message.to,
            status=record.status,
            segments=record.segments,
            raw=raw,
        )

    def _get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        with self._lock:
            record = self._messages.get(request.vendor_id)
            if record is None:
                raise ObjectNotFoundError(
                    f"no message with id {request.vendor_id!r}; pass the vendor_id of an "
                    "SmsReceipt this adapter returned",
                    code="20404",
                    status_code=404,
                )
            record.advance(ctx.clock.time())
            status, raw = record.status, record.raw()
        failed = status == "failed"
        return SmsStatus(
            vendor=self.settings.vendor,
            vendor_id=record.sid,
            status=status,
            error_code=_UNREACHABLE_CODE if failed else None,
            error_message=_UNREACHABLE_MESSAGE if failed else None,
            raw=raw,
        )


class MemorySmsAdapter(_SmsGateway):
    """An in-process SMS gateway with Twilio-like ids (``SM`` + 32 hex) and statuses.

    `send` answers ``queued``. Each `get_status` of a message moves it one step on and
    reports where it is: ``sent``, then ``delivered`` (and ``delivered`` from then on).

    Test convention: numbers starting with ``+1555000`` are unreachable; their messages go
    ``sent`` then ``failed`` with error code ``30003`` (Unreachable destination handset).

    Attributes:
        outbox: the messages sent, in order.
        calls: every ``(operation, request)`` served, failed ones included.
    """

    def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        """Queue a message; the receipt counts its segments."""
        self._begin("send", message, ctx)
        return self._send(message, ctx)

    def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        """Where the message is now (one step further than at the last lookup)."""
        self._begin("get_status", request, ctx)
        return self._get_status(request, ctx)


class AsyncMemorySmsAdapter(_SmsGateway):
    """The asynchronous twin of `MemorySmsAdapter`, with the same lifecycle and conventions."""

    async def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        """Queue a message; the receipt counts its segments."""
        await self._abegin("send", message, ctx)
        return self._send(message, ctx)

    async def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        """Where the message is now (one step further than at the last lookup)."""
        await self._abegin("get_status", request, ctx)
        return self._get_status(request, ctx)
