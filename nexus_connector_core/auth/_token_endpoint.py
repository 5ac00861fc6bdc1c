"""An OAuth2 token endpoint (RFC 6749): what to send for a grant, what its answer means.

Building the request and reading the answer do no I/O and serve both twins; `send` and
`asend` are the only code that touches the network (one `httpx` client per token request,
on one TLS context made once: a token lives for minutes or hours, so a kept-alive
connection would buy nothing). The answer becomes a `Token` or the library's error:

- 200 with an ``access_token`` -> `Token`;
- an error answer per §5.2 (``error``, ``error_description``) -> `CredentialRefreshError`
  naming the endpoint and the ``error`` code, with the description as its `reason`;
- 429 -> `RateLimitExceededError`, 5xx -> `VendorUnavailableError` (both with the
  ``Retry-After``), so the resilience pipeline retries them; a 503 or 429 says the request
  was not processed, which makes even a refresh-token grant safe to repeat.

No message carries the client secret, a token, or the endpoint's query string: the
endpoint's own words are quoted only as `vendor_text` checks them, with the secret and the
refresh token masked in every form this module sends them (raw, form-encoded, and inside
the HTTP Basic credentials).
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote_plus, urlsplit, urlunsplit

import httpx
import msgspec

from .._context import CallContext
from .._credentials import Secret
from .._errors import (
    ConnectorError,
    CredentialRefreshError,
    RateLimitExceededError,
    VendorUnavailableError,
)
from .._resilience.backoff import parse_retry_after
from ..http import (
    HTTP_TRANSPORTS,
    TRANSPORT_ERRORS,
    DeadlineTransport,
    Redactor,
    async_transport,
    exchange,
    tls_context,
    transport_error,
    vendor_text,
)
from ._simple import FORBIDDEN_IN_HEADERS

__all__ = ["Token", "TokenEndpoint", "TokenRequest"]


class Token(msgspec.Struct, frozen=True, kw_only=True):
    """A successful token response (§5.1); repr masks the tokens."""

    access_token: str
    token_type: str = "Bearer"
    #: Seconds the token lives, when the endpoint says.
    expires_in: float | None = None
    refresh_token: str | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        return f"Token(token_type={self.token_type!r}, expires_in={self.expires_in!r})"


class _Response(msgspec.Struct):
    """The fields of a token or error response we read; others are ignored."""

    access_token: str | None = None
    token_type: str | None = None
    expires_in: float | str | None = None
    refresh_token: str | None = None
    scope: str | None = None
    error: str | None = None
    error_description: str | None = None


class TokenRequest:
    """One form-encoded POST to the token endpoint; repr shows the grant type only."""

    __slots__ = ("form", "grant_type", "headers", "redact")

    def __init__(
        self, grant_type: str, form: dict[str, str], headers: dict[str, str], redact: Redactor
    ) -> None:
        self.grant_type = grant_type
        self.form = form
        self.headers = headers
        #: Masks the request's secrets in anything the endpoint echoes back.
        self.redact = redact

    def __repr__(self) -> str:
        return f"TokenRequest(grant_type={self.grant_type!r})"


def _shown(url: str) -> str:
    """The URL for messages: no query or fragment (they may carry secrets), no userinfo."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class TokenEndpoint:
    """The token endpoint of one OAuth2 client.

    Args:
        url: the token endpoint's URL.
        client_id: the client's id.
        client_secret: the client's secret; None for a public client.
        client_auth: ``basic`` (HTTP Basic, RFC 6749 §2.3.1, the default every server must
            support) or ``body`` (``client_id`` and ``client_secret`` as form fields).
        transport: the transport of `asend` (an `HttpTransport`: ``auto``, ``httpx`` or
            ``aiohttp``; see `async_transport`); `send` always uses httpx's own.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: Secret | None,
        *,
        client_auth: Literal["basic", "body"] = "basic",
        transport: str = "auto",
    ) -> None:
        if client_auth not in ("basic", "body"):
            raise ValueError(f"client_auth must be 'basic' or 'body', not {client_auth!r}")
        if transport not in HTTP_TRANSPORTS:
            raise ValueError(f"transport must be one of {HTTP_TRANSPORTS}, not {transport!r}")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"the token URL must be http(s), got {_shown(url)!r}")
        self.url = url
        #: The URL as messages show it.
        self.shown_url = _shown(url)
        self.client_id = client_id
        self._secret = client_secret
        self.client_auth = client_auth
        self.transport = transport

    def request(self, grant_type: str, params: Mapping[str, str]) -> TokenRequest:
        """The request for `grant_type` with its `params` (scope, refresh_token, ...)."""
        form = {"grant_type": grant_type, **params}
        headers = {"Accept": "application/json"}
        secret = self._secret.reveal() if self._secret is not None else ""
        if self.client_auth == "basic" and self._secret is not None:
            # §2.3.1: both parts are form-urlencoded before they are joined and encoded.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(secret)}"
            headers["Authorization"] = "Basic " + b64encode(pair.encode()).decode("ascii")
        else:
            form["client_id"] = self.client_id
            if self._secret is not None:
                form["client_secret"] = secret
        redact = Redactor(
            [secret, params.get("refresh_token", "")], pairs=[(self.client_id, secret)]
        )
        return TokenRequest(grant_type, form, headers, redact)

    # -- the answer ------------------------------------------------------------------------

    def read(
        self,
        status: int,
        headers: httpx.Headers,
        body: bytes,
        now: float,
        redact: Redactor | None = None,
    ) -> Token:
        """The token in an answer, or the error the answer means (`now`: Unix time).

        `redact` masks the request's secrets in whatever the endpoint's error echoes back.
        """
        try:
            data = msgspec.json.decode(body, type=_Response)
        except msgspec.DecodeError:
            data = _Response()
        if 200 <= status < 300:
            return self._token(data)
        retry_after = parse_retry_after(headers.get("retry-after"), now)
        where = f"token endpoint {self.shown_url} answered {status}"
        if status == 429:
            raise RateLimitExceededError(where, status_code=status, retry_after=retry_after)
        if status >= 500:
            raise VendorUnavailableError(
                where, status_code=status, retry_after=retry_after, maybe_processed=status != 503
            )
        error = vendor_text(data.error, redact, limit=80)
        if error:
            raise CredentialRefreshError(
                f"{where}: {error}",
                reason=vendor_text(data.error_description, redact) or error,
            )
        raise CredentialRefreshError(where, reason=httpx.codes.get_reason_phrase(status) or None)

    def _token(self, data: _Response) -> Token:
        access_token, token_type = data.access_token, data.token_type
        try:
            expires_in = None if data.expires_in is None else float(data.expires_in)
        except ValueError:
            expires_in, access_token = None, None
        if access_token and not FORBIDDEN_IN_HEADERS.isdisjoint(access_token):
            access_token = None  # it could not be sent in a header
        if not access_token or (token_type and token_type.lower() != "bearer"):
            raise CredentialRefreshError(
                f"token endpoint {self.shown_url} answered 200 without a usable bearer token "
                f"(token_type {token_type!r}, expires_in {data.expires_in!r})",
                reason="invalid token response",
            )
        return Token(
            access_token=access_token,
            expires_in=expires_in,
            refresh_token=data.refresh_token,
            scope=data.scope,
        )

    def _failed(self, exc: Exception, ctx: CallContext) -> ConnectorError:
        error = transport_error(
            exc, vendor=f"token endpoint {self.shown_url}", sent=ctx.request_sent
        )
        error.__suppress_context__ = True
        return error

    def _answer(self, response: httpx.Response, request: TokenRequest, ctx: CallContext) -> Token:
        ctx.status_code = response.status_code
        return self.read(
            response.status_code,
            response.headers,
            response.content,
            ctx.clock.time(),
            request.redact,
        )

    # -- the I/O, twice ----------------------------------------------------------------------

    def send(self, request: TokenRequest, ctx: CallContext) -> Token:
        """POST `request` (one attempt, within ``ctx.timeout``) and read the answer."""
        transport = DeadlineTransport(verify=tls_context())
        with exchange(ctx.timeout, ctx), httpx.Client(transport=transport) as client:
            try:
                response = client.post(
                    self.url, data=request.form, headers=request.headers, timeout=ctx.timeout
                )
            except TRANSPORT_ERRORS as exc:
                raise self._failed(exc, ctx) from _chainable(exc)
        return self._answer(response, request, ctx)

    async def asend(self, request: TokenRequest, ctx: CallContext) -> Token:
        """The async twin of `send`."""
        transport = async_transport(self.transport, verify=tls_context())
        async with httpx.AsyncClient(transport=transport) as client:
            with exchange(ctx.timeout, ctx):
                try:
                    response = await client.post(
                        self.url, data=request.form, headers=request.headers, timeout=ctx.timeout
                    )
                except TRANSPORT_ERRORS as exc:
                    raise self._failed(exc, ctx) from _chainable(exc)
        return self._answer(response, request, ctx)

    def __repr__(self) -> str:
        return f"TokenEndpoint({self.shown_url!r}, client_id={self.client_id!r})"


def _chainable(exc: Exception) -> Exception | None:
    """What to chain: not an error about building the request, whose text quotes headers."""
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return None
    return exc
