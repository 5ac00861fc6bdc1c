"""The Twilio SMS adapters: `TwilioSmsAdapter` (sync) and its async twin, on the core's HTTP
toolkit (`nexus_connector_core.http`). They differ only in how a request is sent; `_requests`
builds every request, `_answers` reads every answer and says what Twilio's refusals mean.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import httpx
import msgspec

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    ConfigError,
    SmsMessage,
    SmsReceipt,
    SmsStatus,
    SmsStatusRequest,
)
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

from . import _requests
from ._answers import ERRORS
from ._options import TwilioOptions
from ._requests import Call
from ._version import __version__

__all__ = ["AsyncTwilioSmsAdapter", "TwilioSmsAdapter"]

T = TypeVar("T")

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_HEADERS = {"Accept": "application/json", "User-Agent": f"nexus-connector-twilio/{__version__}"}


class _TwilioSms(HttpVendor):
    """What both twins share: settings, credentials, and one call's request and answer."""

    vendor_name = "Twilio"
    errors = ERRORS

    def __init__(self, settings: AdapterSettings) -> None:
        options = settings.options
        if options is None or isinstance(options, dict):  # built without the registration
            options = msgspec.convert(options or {}, TwilioOptions)
        self.options: TwilioOptions = options
        self.account_sid = settings.secret("account_sid")
        if not _ACCOUNT_SID.fullmatch(self.account_sid):
            # The value is not shown: it is a credential, and may be the token by mistake.
            raise ConfigError(
                "account_sid must be 'AC' followed by 32 hex digits, as the Twilio console "
                "shows it",
                path=f"connectors.{settings.connector}.credentials.account_sid",
            )
        auth_token = settings.credentials["auth_token"]
        super().__init__(
            settings,
            base_url=self.options.base_url,
            auth=httpx.BasicAuth(self.account_sid, settings.secret("auth_token")),
            headers=_HEADERS,
            timeout=self.options.timeout,
            transport=self.options.transport,
            secrets=[auth_token],
            pairs=[(self.account_sid, auth_token)],
            # Twilio's messages quote paths, which hold the account SID: named, not masked.
            named={"account_sid": self.account_sid},
        )

    def _read(self, response: httpx.Response, call: Call[T]) -> T:
        return self.read(response, lambda data: call.read(data, self.vendor), "a Message resource")

    def _send(self, message: SmsMessage) -> Call[SmsReceipt]:
        return _requests.send(message, self.account_sid, self.options)

    def _status(self, request: SmsStatusRequest) -> Call[SmsStatus]:
        return _requests.status(request, self.account_sid)


class TwilioSmsAdapter(_TwilioSms, HttpAdapter):
    """Sends SMS through Twilio's Programmable Messaging REST API.

    Configured as a connector::

        [connectors.sms]
        vendor = "twilio"
        options = { messaging_service_sid = "MG..." }
        credentials = { account_sid = "env:TWILIO_ACCOUNT_SID",
                        auth_token = "env:TWILIO_AUTH_TOKEN" }

    `send` answers Twilio's first status (``queued``, or ``accepted`` by a messaging service,
    both reported as ``queued``); `get_status` fetches the message again.
    """

    def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        """Create a Message resource: Twilio queues the text for delivery."""
        return self._call(self._send(message), ctx)

    def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        """Fetch the Message resource: its status, and Twilio's error code if it failed."""
        return self._call(self._status(request), ctx)

    def _call(self, call: Call[T], ctx: CallContext) -> T:
        return self._read(self.request(call.method, call.path, ctx, **_form(call)), call)


class AsyncTwilioSmsAdapter(_TwilioSms, AsyncHttpAdapter):
    """The asynchronous twin of `TwilioSmsAdapter`: the same requests on `httpx.AsyncClient`."""

    async def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        """Create a Message resource: Twilio queues the text for delivery."""
        return await self._call(self._send(message), ctx)

    async def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        """Fetch the Message resource: its status, and Twilio's error code if it failed."""
        return await self._call(self._status(request), ctx)

    async def _call(self, call: Call[T], ctx: CallContext) -> T:
        return self._read(await self.request(call.method, call.path, ctx, **_form(call)), call)


def _form(call: Call[Any]) -> dict[str, Any]:
    return {"data": call.form} if call.form else {}
