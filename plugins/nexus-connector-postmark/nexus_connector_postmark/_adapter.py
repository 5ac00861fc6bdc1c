"""The Postmark email adapters: `PostmarkEmailAdapter` (httpx.Client) and its async twin.

Both build requests with `_payload` and read answers with `_answers`; the only thing they do
differently is wait for the network. Every request is ``POST`` with ``Accept`` and
``Content-Type: application/json`` and the server token in ``X-Postmark-Server-Token``,
sent with the pipeline's per-attempt timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, NoReturn

import httpx

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    ConfigError,
    ConnectorError,
    EmailBatch,
    EmailBatchReceipt,
    EmailMessage,
    EmailReceipt,
    Secret,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core.auth import ApiKeyAuth

from ._answers import Answer, batch_receipt, redacted, send_receipt
from ._options import PostmarkOptions
from ._payload import BATCH_PATH, EMAIL_PATH, batch_payload, message_payload

__all__ = ["AsyncPostmarkEmailAdapter", "PostmarkEmailAdapter"]

_TOKEN_HEADER = "X-Postmark-Server-Token"
#: Postmark wants both, on every request (else ErrorCode 409, "JSON required").
_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


class _Request(NamedTuple):
    """One HTTP call to Postmark: where, what, and how long it may take."""

    path: str
    payload: Any
    timeout: float


class _PostmarkBase:
    """What both twins share: settings, the token, and everything that is not I/O."""

    def __init__(self, settings: AdapterSettings) -> None:
        settings.secret("server_token")  # a missing token fails here, naming the config key
        options = settings.options
        self.options: PostmarkOptions = options if options is not None else PostmarkOptions()
        self.vendor = settings.vendor
        self._clock = settings.clock
        self._token: Secret = settings.credentials["server_token"]
        self._token_path = f"connectors.{settings.connector}.credentials.server_token"
        # The token joins each request only as it is sent, so no object of ours holds it.
        self._auth = ApiKeyAuth(self._token, header=_TOKEN_HEADER)

    def _request(self, path: str, payload: Any, ctx: CallContext) -> _Request:
        timeout = ctx.timeout if ctx.timeout is not None else self.options.timeout
        return _Request(path, payload, timeout)

    def _send_result(
        self, response: httpx.Response, message: EmailMessage, ctx: CallContext
    ) -> EmailReceipt:
        answer = self._answer(response, ctx)
        return send_receipt(answer, message, vendor=self.vendor, redact=self._redact())

    def _batch_result(
        self, response: httpx.Response, batch: EmailBatch, ctx: CallContext
    ) -> EmailBatchReceipt:
        answer = self._answer(response, ctx)
        return batch_receipt(answer, batch, vendor=self.vendor, redact=self._redact())

    def _answer(self, response: httpx.Response, ctx: CallContext) -> Answer:
        ctx.status_code = response.status_code  # for the integration log
        return Answer(
            response.status_code,
            _json(response),
            response.headers.get("retry-after"),
            self._clock.time(),
        )

    def _redact(self) -> tuple[str]:
        return (self._token.reveal(),)

    def _failed(self, exc: httpx.TransportError) -> NoReturn:
        """Raise what a failed exchange means (see `transport_error`)."""
        error = transport_error(exc, token_path=self._token_path, redact=self._redact())
        if isinstance(error, ConfigError):
            # Not chained: the exception's text quotes the header value it refused.
            raise error from None
        raise error from exc

    def _empty(self) -> EmailBatchReceipt:
        return EmailBatchReceipt(vendor=self.vendor, receipts=[], raw=[])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.options.base_url}>"


class PostmarkEmailAdapter(_PostmarkBase):
    """Sends email through Postmark's HTTP API (sync).

    Configured as ``vendor = "postmark"`` with ``credentials.server_token`` and optional
    `PostmarkOptions`. `send` posts to ``/email``; `send_batch` posts up to 500 messages to
    ``/email/batch`` in one request. Receipts carry Postmark's MessageID as `vendor_id` and
    per-recipient status: ``queued`` when Postmark accepted the message for a recipient,
    ``rejected`` for recipients Postmark names as inactive.
    """

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self._client = httpx.Client(
            base_url=self.options.base_url, headers=_JSON_HEADERS, auth=self._auth
        )

    def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        """Send one message (``POST /email``)."""
        request = self._request(EMAIL_PATH, message_payload(message, self.options), ctx)
        return self._send_result(self._post(request), message, ctx)

    def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        """Send several messages in one request (``POST /email/batch``); one receipt each."""
        if not batch.messages:
            return self._empty()
        request = self._request(BATCH_PATH, batch_payload(batch, self.options), ctx)
        return self._batch_result(self._post(request), batch, ctx)

    def _post(self, request: _Request) -> httpx.Response:
        try:
            return self._client.post(request.path, json=request.payload, timeout=request.timeout)
        except httpx.TransportError as exc:
            self._failed(exc)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class AsyncPostmarkEmailAdapter(_PostmarkBase):
    """The asynchronous twin of `PostmarkEmailAdapter`, on `httpx.AsyncClient`."""

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self._client = httpx.AsyncClient(
            base_url=self.options.base_url, headers=_JSON_HEADERS, auth=self._auth
        )

    async def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        """Send one message (``POST /email``)."""
        request = self._request(EMAIL_PATH, message_payload(message, self.options), ctx)
        return self._send_result(await self._post(request), message, ctx)

    async def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        """Send several messages in one request (``POST /email/batch``); one receipt each."""
        if not batch.messages:
            return self._empty()
        request = self._request(BATCH_PATH, batch_payload(batch, self.options), ctx)
        return self._batch_result(await self._post(request), batch, ctx)

    async def _post(self, request: _Request) -> httpx.Response:
        try:
            return await self._client.post(
                request.path, json=request.payload, timeout=request.timeout
            )
        except httpx.TransportError as exc:
            self._failed(exc)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def transport_error(
    exc: httpx.TransportError, *, token_path: str, redact: Sequence[str] = ()
) -> ConnectorError:
    """What a transport failure means: could Postmark have received the request?

    A request httpx could not build or send (``LocalProtocolError``: a header value with a
    line break, which can only be the server token at `token_path`;
    ``UnsupportedProtocol``) never left: a `ConfigError`, whose message leaves out the
    exception's text, as that quotes the value. Refused or unresolvable connections and
    connect timeouts happen before anything was sent (``maybe_processed=False``, so even a
    send may be retried); a reset or read timeout after sending may leave a message sent
    (``maybe_processed=True``). `redact` masks the token in any other exception's text.
    """
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return ConfigError(
            f"the request to Postmark could not be built ({type(exc).__name__}), so nothing "
            "was sent; check the server token for line breaks or stray whitespace (and "
            "options.base_url)",
            path=token_path,
        )
    message = redacted(f"could not reach Postmark: {type(exc).__name__}: {exc}", redact)
    message = message.rstrip(": ")
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return VendorTimeoutError(message, maybe_processed=False)
    if isinstance(exc, httpx.TimeoutException):
        return VendorTimeoutError(message, maybe_processed=True)
    if isinstance(exc, httpx.ConnectError):
        return VendorUnavailableError(message, maybe_processed=False)
    return VendorUnavailableError(message, maybe_processed=True)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # not JSON (a proxy's HTML page): the status decides alone
        return None
