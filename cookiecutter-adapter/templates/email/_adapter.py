{%- set C = cookiecutter.__class -%}
"""The {{ cookiecutter.vendor_name }} email adapters: the base holds all but the sending, each twin sends.

`nexus_connector_core.http` sends within ``ctx.timeout``, sets ``ctx.request_sent`` and
``ctx.status_code``, and maps every failure and error answer to the library's errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    EmailBatch,
    EmailBatchReceipt,
    EmailMessage,
    EmailReceipt,
)
{%- include "common/auth_imports.py" %}
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

from ._answers import ERRORS, read_receipt
from ._options import {{ C }}Options
from ._requests import BATCH, SEND, message_body

__all__ = {{ ["Async" ~ C ~ "EmailAdapter", C ~ "EmailAdapter"] | sort(case_sensitive=true) | tojson }}
{%- include "common/base.py" %}

    def _receipt(self, response: httpx.Response, message: EmailMessage) -> EmailReceipt:
        return self.read(
            response, lambda body: read_receipt(body, self.vendor, message), "a receipt"
        )

    def _receipts(
        self, response: httpx.Response, messages: Sequence[EmailMessage]
    ) -> EmailBatchReceipt:
        def read(body: Any) -> EmailBatchReceipt:
            results = body["results"]
            if len(results) != len(messages):
                raise ValueError("one result per message")
            pairs = zip(results, messages, strict=True)
            receipts = [read_receipt(result, self.vendor, message) for result, message in pairs]
            return EmailBatchReceipt(vendor=self.vendor, receipts=receipts, raw=body)

        return self.read(response, read, "one receipt per message")


class {{ C }}EmailAdapter(_{{ C }}, HttpAdapter):
    """Sends email through {{ cookiecutter.vendor_name }}'s HTTP API."""

    def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        return self._receipt(self.request("POST", SEND, ctx, json=message_body(message)), message)

    def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        if not batch.messages:
            return EmailBatchReceipt(vendor=self.vendor, receipts=[])
        body = {"messages": [message_body(message) for message in batch.messages]}
        return self._receipts(self.request("POST", BATCH, ctx, json=body), batch.messages)


class Async{{ C }}EmailAdapter(_{{ C }}, AsyncHttpAdapter):
    """The asynchronous twin of `{{ C }}EmailAdapter`."""

    async def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        response = await self.request("POST", SEND, ctx, json=message_body(message))
        return self._receipt(response, message)

    async def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        if not batch.messages:
            return EmailBatchReceipt(vendor=self.vendor, receipts=[])
        body = {"messages": [message_body(message) for message in batch.messages]}
        return self._receipts(await self.request("POST", BATCH, ctx, json=body), batch.messages)
