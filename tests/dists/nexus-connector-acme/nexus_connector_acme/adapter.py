"""The acme adapter: stands in for a vendor SDK, so tests can see when it is imported."""

import secrets

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    EmailBatch,
    EmailBatchReceipt,
    EmailMessage,
    EmailReceipt,
    RecipientStatus,
)


class AcmeEmailAdapter:
    def __init__(self, settings: AdapterSettings) -> None:
        self.settings = settings
        self.sent: list[EmailMessage] = []
        # Proves the secret was resolved, without ever exposing it.
        self.key_length = len(settings.secret("api_key"))

    def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        self.sent.append(message)
        message_id = f"acme-{secrets.token_hex(6)}"
        return EmailReceipt(
            vendor="acme",
            vendor_id=message_id,
            recipients={
                a.email: RecipientStatus(a.email, "queued", message_id) for a in message.recipients
            },
            raw={"id": message_id, "region": self.settings.options.region},
        )

    def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        return EmailBatchReceipt(
            vendor="acme", receipts=[self.send(m, ctx) for m in batch.messages]
        )


class AsyncAcmeEmailAdapter:
    def __init__(self, settings: AdapterSettings) -> None:
        self._sync = AcmeEmailAdapter(settings)
        self.sent = self._sync.sent

    async def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        return self._sync.send(message, ctx)

    async def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        return self._sync.send_batch(batch, ctx)
