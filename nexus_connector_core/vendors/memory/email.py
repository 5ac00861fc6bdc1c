"""The memory email vendor: an outbox that accepts messages and reports per-recipient status."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from ..._adapters import AdapterSettings
from ..._context import CallContext
from ..._email import EmailBatch, EmailBatchReceipt, EmailMessage, EmailReceipt, RecipientStatus
from ..._errors import InvalidRequestError
from ._behaviour import MemoryVendor

__all__ = ["AsyncMemoryEmailAdapter", "MemoryEmailAdapter", "REJECTED_DOMAIN"]

#: Recipients at this domain are refused, so per-recipient reporting can be tested.
REJECTED_DOMAIN = "reject.example"
_REJECTION = "550 5.1.1 mailbox unavailable"


class _EmailOutbox(MemoryVendor):
    """The state and logic both email twins share; they differ only in how a call begins."""

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self.outbox: list[EmailMessage] = []

    def _deliver(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        """Accept `message` for its deliverable recipients; the receipt says who was refused."""
        message_id = f"<{secrets.token_hex(16)}@memory.nexus-connector>"
        statuses: dict[str, RecipientStatus] = {}
        for address in message.recipients:
            if address.email.rpartition("@")[2].lower() == REJECTED_DOMAIN:
                statuses[address.email] = RecipientStatus(
                    address.email, "rejected", message_id, _REJECTION
                )
            else:
                statuses[address.email] = RecipientStatus(address.email, "sent", message_id)
        accepted = [email for email, status in statuses.items() if status.status == "sent"]
        if accepted:
            with self._lock:
                self.outbox.append(message)
        raw: dict[str, Any] = {
            "id": message_id,
            "submitted_at": datetime.fromtimestamp(ctx.clock.time(), UTC).isoformat(),
            "accepted": accepted,
            "rejected": {e: s.reason for e, s in statuses.items() if s.status == "rejected"},
        }
        return EmailReceipt(
            vendor=self.settings.vendor, vendor_id=message_id, recipients=statuses, raw=raw
        )

    def _send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        receipt = self._deliver(message, ctx)
        if len(receipt.rejected) == len(receipt.recipients):
            refused = ", ".join(receipt.rejected)
            raise InvalidRequestError(
                f"every recipient was rejected ({refused}: {_REJECTION}); the memory vendor "
                f"refuses all addresses at {REJECTED_DOMAIN}",
                code="all_recipients_rejected",
                status_code=550,
                vendor_message=_REJECTION,
            )
        return receipt

    def _send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        # Messages of a batch are independent, as over one SMTP connection: a message whose
        # recipients are all refused gets its receipt of rejections instead of failing the
        # batch, so the caller still learns the ids of the messages that went out.
        receipts = [self._deliver(message, ctx) for message in batch.messages]
        return EmailBatchReceipt(
            vendor=self.settings.vendor,
            receipts=receipts,
            raw=[receipt.raw for receipt in receipts],
        )


class MemoryEmailAdapter(_EmailOutbox):
    """An in-process email vendor: messages land in `outbox` instead of being delivered.

    Test convention: every recipient whose domain is ``reject.example`` is refused with
    ``550 5.1.1 mailbox unavailable`` (status ``rejected``) and the others are ``sent``; a
    message whose recipients are all refused raises `InvalidRequestError` with code
    ``all_recipients_rejected`` and is not stored.

    Attributes:
        outbox: the accepted messages, in the order they were sent.
        calls: every ``(operation, request)`` served, failed ones included.

    Example::

        receipt = adapter.send(EmailMessage(sender="shop@example.com",
            to=["ada@example.com", "bob@reject.example"], subject="Hi", text="Hello"), ctx)
        receipt.recipients["ada@example.com"].status   # "sent"
        receipt.rejected["bob@reject.example"].reason  # "550 5.1.1 mailbox unavailable"
    """

    def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        """Accept one message; the receipt's `vendor_id` is its Message-ID."""
        self._begin("send", message, ctx)
        return self._send(message, ctx)

    def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        """Accept several messages as one call (one `calls` entry); one receipt per message."""
        self._begin("send_batch", batch, ctx)
        return self._send_batch(batch, ctx)


class AsyncMemoryEmailAdapter(_EmailOutbox):
    """The asynchronous twin of `MemoryEmailAdapter`, with the same outbox and conventions."""

    async def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        """Accept one message; the receipt's `vendor_id` is its Message-ID."""
        await self._abegin("send", message, ctx)
        return self._send(message, ctx)

    async def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        """Accept several messages as one call (one `calls` entry); one receipt per message."""
        await self._abegin("send_batch", batch, ctx)
        return self._send_batch(batch, ctx)
