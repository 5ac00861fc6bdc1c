"""The Twilio SMS adapters: `TwilioSmsAdapter` on `httpx.Client`, its async twin on
`httpx.AsyncClient`. They differ only in how a request is sent; `_messages` builds every
request and reads every answer, `_errors` turns refusals and failed exchanges into errors.
"""

from __future__ import annotations

import functools
import re
import ssl
from typing import Any, NoReturn, TypeVar

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
    VendorError,
)

from . import _messages
from ._errors import transport_error, vendor_error
from ._messages import Call
from ._options import TwilioOptions
from ._version import __version__

__all__ = ["AsyncTwilioSmsAdapter", "TwilioSmsAdapter"]

T = TypeVar("T")

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_HEADERS = {"Accept": "application/json", "User-Agent": f"nexus-connector-twilio/{__version__}"}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client in the process: each new one loads the CA bundle,
    which costs more than a request to a nearby server."""
    return httpx.create_ssl_context()


class _TwilioSms:
    """What both twins share: settings, credentials, and one call's request and answer."""

    def __init__(self, settings: AdapterSettings) -> None:
        options = settings.options
        if options is None or isinstance(options, dict):  # built without the registration
            options = msgspec.convert(options or {}, TwilioOptions)
        self.options: TwilioOptions = options
        self.vendor = settings.vendor
        self.clock = settings.clock
        self.account_sid = settings.secret("account_sid")
        if not _ACCOUNT_SID.fullmatch(self.account_sid):
            # The value is not shown: it is a credential, and may be the token by mistake.
            raise ConfigError(
                "account_sid must be 'AC' followed by 32 hex digits, as the Twilio console "
                "shows it",
                path=f"connectors.{settings.connector}.credentials.account_sid",
            )
        self.auth = httpx.BasicAuth(self.account_sid, settings.secret("auth_token"))
        self._auth_token = settings.credentials["auth_token"]

    def _client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.options.base_url,
            "auth": self.auth,
            "headers": _HEADERS,
            "timeout": self.options.timeout,
            "verify": _tls_context(),
        }

    def _request(self, call: Call[Any], ctx: CallContext) -> dict[str, Any]:
        timeout = ctx.timeout if ctx.timeout is not None else self.options.timeout
        return {"data": call.form, "timeout": timeout}

    def _answer(self, response: httpx.Response, call: Call[T], ctx: CallContext) -> T:
        ctx.status_code = response.status_code
        if not response.is_success:
            raise vendor_error(response, self.clock.time(), self._redactions())
        try:
            return call.read(response.json(), self.vendor)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            # Twilio acted (2xx) but its answer cannot be read: never treat as not sent.
            raise VendorError(
                f"Twilio answered {response.status_code} with a body that is not a Message "
                "resource",
                status_code=response.status_code,
            ) from exc

    def _failed(self, exc: httpx.TransportError) -> NoReturn:
        """Raise what a failed exchange means (see `transport_error`)."""
        error = transport_error(exc, self._redactions())
        if isinstance(error, ConfigError):
            # Not chained: the exception's text quotes the header value it refused.
            raise error from None
        raise error from exc

    def _redactions(self) -> dict[str, str]:
        """Credential values by name, to mask wherever a text might quote them."""
        return {self.account_sid: "account_sid", self._auth_token.reveal(): "auth_token"}

    def _send(self, message: SmsMessage) -> Call[SmsReceipt]:
        return _messages.send(message, self.account_sid, self.options)

    def _status(self, request: SmsStatusRequest) -> Call[SmsStatus]:
        return _messages.status(request, self.account_sid)


class TwilioSmsAdapter(_TwilioSms):
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

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self._client = httpx.Client(**self._client_options())

    def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        """Create a Message resource: Twilio queues the text for delivery."""
        return self._call(self._send(message), ctx)

    def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        """Fetch the Message resource: its status, and Twilio's error code if it failed."""
        return self._call(self._status(request), ctx)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _call(self, call: Call[T], ctx: CallContext) -> T:
        try:
            response = self._client.request(call.method, call.path, **self._request(call, ctx))
        except httpx.TransportError as exc:
            self._failed(exc)
        return self._answer(response, call, ctx)


class AsyncTwilioSmsAdapter(_TwilioSms):
    """The asynchronous twin of `TwilioSmsAdapter`: the same requests on `httpx.AsyncClient`."""

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self._client = httpx.AsyncClient(**self._client_options())

    async def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        """Create a Message resource: Twilio queues the text for delivery."""
        return await self._call(self._send(message), ctx)

    async def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        """Fetch the Message resource: its status, and Twilio's error code if it failed."""
        return await self._call(self._status(request), ctx)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _call(self, call: Call[T], ctx: CallContext) -> T:
        try:
            response = await self._client.request(
                call.method, call.path, **self._request(call, ctx)
            )
        except httpx.TransportError as exc:
            self._failed(exc)
        return self._answer(response, call, ctx)
