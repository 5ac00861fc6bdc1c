{%- set C = cookiecutter.__class -%}
"""The {{ cookiecutter.vendor_name }} SMS adapters: the base holds all but the sending, each twin sends.

`nexus_connector_core.http` sends within ``ctx.timeout``, sets ``ctx.request_sent`` and
``ctx.status_code``, and maps every failure and error answer to the library's errors.
"""

from __future__ import annotations

from typing import Any

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    SmsMessage,
    SmsReceipt,
    SmsStatus,
    SmsStatusRequest,
)
{%- include "common/auth_imports.py" %}
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

from ._answers import ERRORS, read_receipt, read_status
from ._options import {{ C }}Options
from ._requests import MESSAGES, send_body, status_path

__all__ = {{ ["Async" ~ C ~ "SmsAdapter", C ~ "SmsAdapter"] | sort(case_sensitive=true) | tojson }}
{%- include "common/base.py" %}


class {{ C }}SmsAdapter(_{{ C }}, HttpAdapter):
    """Sends SMS through {{ cookiecutter.vendor_name }}'s HTTP API."""

    def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        response = self.request("POST", MESSAGES, ctx, json=send_body(message))
        return self.read(response, lambda body: read_receipt(body, self.vendor), "a message")

    def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        response = self.request("GET", status_path(request), ctx)
        return self.read(response, lambda body: read_status(body, self.vendor), "a message")


class Async{{ C }}SmsAdapter(_{{ C }}, AsyncHttpAdapter):
    """The asynchronous twin of `{{ C }}SmsAdapter`."""

    async def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        response = await self.request("POST", MESSAGES, ctx, json=send_body(message))
        return self.read(response, lambda body: read_receipt(body, self.vendor), "a message")

    async def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        response = await self.request("GET", status_path(request), ctx)
        return self.read(response, lambda body: read_status(body, self.vendor), "a message")
