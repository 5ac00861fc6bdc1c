"""The Postmark email adapters: `PostmarkEmailAdapter` (sync) and its async twin, on the
core's HTTP toolkit (`nexus_connector_core.http`).

Both build requests with `_requests` and read answers with `_answers`; the toolkit sends
them within the attempt's time and maps failed exchanges. Every request is ``POST`` with
``Accept`` and ``Content-Type: application/json`` and the server token in
``X-Postmark-Server-Token``.
"""

from __future__ import annotations

import httpx

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    ConnectorError,
    EmailBatch,
    EmailBatchReceipt,
    EmailMessage,
    EmailReceipt,
)
from nexus_connector_core.auth import ApiKeyAuth
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

from ._answers import Answer, batch_receipt, error_for, send_receipt
from ._options import PostmarkOptions
from ._requests import BATCH_PATH, EMAIL_PATH, batch_payload, message_payload

__all__ = ["AsyncPostmarkEmailAdapter", "PostmarkEmailAdapter"]

_TOKEN_HEADER = "X-Postmark-Server-Token"
#: Postmark wants both, on every request (else ErrorCode 409, "JSON required").
_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


class _Postmark(HttpVendor):
    """What both twins share: settings, the token, and reading Postmark's answers."""

    vendor_name = "Postmark"

    def __init__(self, settings: AdapterSettings) -> None:
        settings.secret("server_token")  # a missing token fails here, naming the config key
        options = settings.options
        self.options: PostmarkOptions = options if options is not None else PostmarkOptions()
        token = settings.credentials["server_token"]
        super().__init__(
            settings,
            base_url=self.options.base_url,
            # The token joins each request only as it is sent, so no object of ours holds it.
            auth=ApiKeyAuth(token, header=_TOKEN_HEADER),
            headers=_JSON_HEADERS,
            timeout=self.options.timeout,
            transport=self.options.transport,
            secrets=[token],
        )

    def error_for(self, response: httpx.Response) -> ConnectorError:
        return error_for(self._read(response), redact=self.redact)

    def _read(self, response: httpx.Response) -> Answer:
        return Answer(
            response.status_code,
            self.json(response),
            response.headers.get("retry-after"),
            self.clock.time(),
        )

    def _send_receipt(self, response: httpx.Response, message: EmailMessage) -> EmailReceipt:
        return send_receipt(self._read(response), message, vendor=self.vendor, redact=self.redact)

    def _batch_receipt(self, response: httpx.Response, batch: EmailBatch) -> EmailBatchReceipt:
        return batch_receipt(self._read(response), batch, vendor=self.vendor, redact=self.redact)

    def _empty(self) -> EmailBatchReceipt:
        return EmailBatchReceipt(vendor=self.vendor, receipts=[], raw=[])


class PostmarkEmailAdapter(_Postmark, HttpAdapter):
    """Sends email through Postmark's HTTP API (sync).

    Configured as ``vendor = "postmark"`` with ``credentials.server_token`` and optional
    `PostmarkOptions`. `send` posts to ``/email``; `send_batch` posts up to 500 messages to
    ``/email/batch`` in one request. Receipts carry Postmark's MessageID as `vendor_id` and
    per-recipient status: ``queued`` when Postmark accepted the message for a recipient,
    ``rejected`` for recipients Postmark names as inactive.
    """

    def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        """Send one message (``POST /email``)."""
        payload = message_payload(message, self.options)
        response = self.request("POST", EMAIL_PATH, ctx, json=payload, check=False)
        return self._send_receipt(response, message)

    def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        """Send several messages in one request (``POST /email/batch``); one receipt each."""
        if not batch.messages:
            return self._empty()
        payload = batch_payload(batch, self.options)
        response = self.request("POST", BATCH_PATH, ctx, json=payload, check=False)
        return self._batch_receipt(response, batch)


class AsyncPostmarkEmailAdapter(_Postmark, AsyncHttpAdapter):
    """The asynchronous twin of `PostmarkEmailAdapter`."""

    async def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        """Send one message (``POST /email``)."""
        payload = message_payload(message, self.options)
        response = await self.request("POST", EMAIL_PATH, ctx, json=payload, check=False)
        return self._send_receipt(response, message)

    async def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        """Send several messages in one request (``POST /email/batch``); one receipt each."""
        if not batch.messages:
            return self._empty()
        payload = batch_payload(batch, self.options)
        response = await self.request("POST", BATCH_PATH, ctx, json=payload, check=False)
        return self._batch_receipt(response, batch)
