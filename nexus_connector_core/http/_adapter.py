"""The base of every HTTP vendor adapter: one request method per twin, everything else shared.

A vendor plugin writes what is its own — paths, payloads, how to read its answers and its
error codes — in a class derived from `HttpVendor`, and gets its sync and async adapters by
adding `HttpAdapter` or `AsyncHttpAdapter`::

    class _Acme(HttpVendor):
        vendor_name = "Acme"
        errors = {"card_declined": ErrorKind(PaymentDeclinedError)}

        def __init__(self, settings: AdapterSettings) -> None:
            super().__init__(settings, base_url=settings.options.base_url,
                             auth=BearerAuth(settings.credentials["api_key"]),
                             secrets=[settings.credentials["api_key"]])

    class AcmeAdapter(_Acme, HttpAdapter):
        def charge(self, request, ctx):
            return read_charge(self.request("POST", "/v1/charges", ctx, json=...).json())

    class AsyncAcmeAdapter(_Acme, AsyncHttpAdapter):
        async def charge(self, request, ctx):
            return read_charge((await self.request("POST", "/v1/charges", ctx, json=...)).json())

`request` sends within the attempt's timeout (``ctx.timeout``, already cut to the call's
deadline), bounds the whole exchange on the wall clock, sets ``ctx.request_sent`` and
``ctx.status_code``, turns every httpx failure into the library's error (`transport_error`)
and every non-2xx answer into the error the vendor's code table says (`error_for`).
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar
from urllib.request import getproxies, proxy_bypass

import httpx

from .._adapters import AdapterSettings
from .._context import CallContext
from .._credentials import Secret
from .._errors import ConfigError, ConnectorError, VendorError
from .._resilience.backoff import parse_retry_after
from .._telemetry import CallTrace
from ._errors import TRANSPORT_ERRORS, ErrorTable, status_error, transport_error
from ._redact import Redactor, vendor_text
from ._request import RequestBuilder, Target, log_exchange, read_whole
from ._transport import DeadlineTransport, WholeBody, async_transport, exchange

__all__ = [
    "AsyncHttpAdapter",
    "HttpAdapter",
    "HttpVendor",
    "answer_error",
    "error_fields",
    "json_body",
    "tls_context",
]

T = TypeVar("T")

#: Request URLs an adapter keeps parsed, by path.
_URLS = 512


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context (the system's CA bundle, via certifi) for every client in the
    process: making one loads the bundle, which costs more than a request to a nearby
    server."""
    return httpx.create_ssl_context()


def _chainable(exc: Exception) -> Exception | None:
    # httpx's text about a request it could not build quotes the header value it refused.
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return None
    return exc


def json_body(response: httpx.Response) -> Any:
    """The answer's body decoded from JSON, or None when it is not JSON (a proxy's HTML
    page, an empty body)."""
    try:
        return response.json()
    except ValueError:
        return None


def error_fields(body: Any) -> tuple[object, object]:
    """The error code and message in the common JSON shapes of an error answer:
    ``{"error": {"code"|"type", "message"}}``, ``{"error": "...", "error_description"}``
    (OAuth2) and ``{"code", "message"}``; ``(None, None)`` for anything else."""
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    if isinstance(error, Mapping):
        return error.get("code") or error.get("type"), error.get("message")
    if isinstance(error, str):
        return error, body.get("error_description") or body.get("message")
    return body.get("code"), body.get("message")


def answer_error(
    response: httpx.Response,
    *,
    vendor: str,
    code: object,
    message: object,
    now: float,
    table: ErrorTable | None = None,
    redact: Redactor | None = None,
    code_label: str = "code",
) -> ConnectorError:
    """The error a non-2xx answer means: `status_error` for its status, the vendor's `code`
    (an int or a short string, else none) and `message` (checked by `vendor_text`; the
    reason phrase when there is none), and its ``Retry-After`` read at `now` (Unix time)."""
    if isinstance(code, bool) or not isinstance(code, int | str):
        code = None
    elif isinstance(code, str):
        code = vendor_text(code, redact, limit=60) or None
    return status_error(
        response.status_code,
        vendor=vendor,
        code=code,
        message=vendor_text(message, redact) or response.reason_phrase or None,
        retry_after=parse_retry_after(response.headers.get("retry-after"), now),
        table=table,
        code_label=code_label,
    )


class HttpVendor:
    """What the sync and async adapters of one HTTP vendor share: settings, credentials,
    the client's options, and the reading of answers. No I/O.

    Args:
        settings: the adapter's settings (`vendor`, `connector`, `clock`, ...).
        base_url: the vendor's origin (``options.base_url``); request paths are appended.
        auth: an `httpx.Auth` (see `nexus_connector_core.auth`), applied as each request
            is sent, so no object of ours holds the credential in a header.
        headers: headers of every request (``Accept``, ``User-Agent``, a pinned version).
        timeout: seconds a request may take when the pipeline gives no attempt timeout.
        secrets: credential values to mask in anything the vendor echoes back.
        pairs: ``(user, secret)`` pairs sent as HTTP Basic credentials, masked in their
            encoded form too.
        named: credentials a vendor quotes in its messages (an account id in a path),
            replaced by ``<name>`` instead of a mask.
        verify: TLS verification: True (the shared `tls_context`), False, or a context.
        transport: the asynchronous twin's transport (an `HttpTransport`: ``auto``,
            ``httpx`` or ``aiohttp``), the vendor's ``options.transport``; the synchronous
            twin always sends on httpx's own.
    """

    #: The vendor's name, as messages say it ("Postmark").
    vendor_name: ClassVar[str] = "the vendor"
    #: The vendor's error codes and what they mean (see `ErrorKind`).
    errors: ClassVar[ErrorTable] = {}
    #: What the vendor calls its error codes ("ErrorCode"), as messages say it.
    code_label: ClassVar[str] = "code"

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        base_url: str,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        secrets: Iterable[Secret | str] = (),
        pairs: Iterable[tuple[str, Secret | str]] = (),
        named: Mapping[str, Secret | str] | None = None,
        verify: ssl.SSLContext | bool = True,
        transport: str = "auto",
    ) -> None:
        self.vendor: str = settings.vendor
        self.connector: str = settings.connector
        self.clock = settings.clock
        self.base_url = base_url
        self.timeout = timeout
        self.redact = Redactor(secrets, pairs=pairs, named=named)
        self._credentials_path = f"connectors.{settings.connector}.credentials"
        #: Whether the call's trace context goes to the vendor (``propagate_trace``).
        self.propagate_trace = settings.propagate_trace
        self._host = httpx.URL(base_url).host
        self._verify = tls_context() if verify is True else verify
        #: The asynchronous twin's transport (``options.transport``).
        self.transport = transport
        self._transport_path = f"connectors.{settings.connector}.options.transport"
        self._targets: dict[str, Target] = {}
        # Imported here: nexus_connector_core.auth imports this toolkit (its token calls).
        from ..auth._simple import static_header

        self._auth = auth
        self._auth_header = static_header(auth)
        self._client_options: dict[str, Any] = {
            "base_url": base_url,
            "auth": auth,
            "headers": dict(headers or {}),
            "timeout": timeout,
            # Proxies from the environment get transports of ours too (`_proxies`).
            "trust_env": False,
        }

    def _proxies(self) -> dict[str, str]:
        """The proxy of each scheme the environment names (``HTTPS_PROXY``, ``ALL_PROXY``),
        unless ``NO_PROXY`` exempts the vendor's host: the client's mounts, each on a
        transport of ours."""
        host = httpx.URL(self.base_url).host
        proxies = getproxies()
        chosen: dict[str, str] = {}
        if host and proxies and not proxy_bypass(host):
            for scheme in ("http", "https"):
                proxy = proxies.get(scheme) or proxies.get("all")
                if proxy:
                    chosen[f"{scheme}://"] = proxy
        return chosen

    def _target(self, path: str) -> Target:
        """Where a request to `path` (under ``base_url``, or absolute) goes, worked out once
        per path: httpx parses a URL given as text twice per request, which costs more than
        the rest of building it."""
        target = self._targets.get(path)
        if target is None:
            if len(self._targets) >= _URLS:
                self._targets.clear()
            url = self._client.build_request("GET", path).url
            transport = self._transports.get(url.scheme, self._transports[""])
            target = self._targets[path] = Target(url, url.netloc if url.host else b"", transport)
        return target

    def _made(self, client: Any, transport: Any, mounts: Mapping[str, Any]) -> None:
        """The twin's client is made: keep what its requests need (the transport of each
        scheme, as the client's mounts choose it; how to build them; a cheaper cookie jar)."""
        self._client = client
        self._transports = {"": transport} | {scheme[:-3]: t for scheme, t in mounts.items()}
        _keeps_cookies_cheaply(client)
        self._builder = RequestBuilder(client)

    def _lean(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether a request with `kwargs` takes the toolkit's own path (`RequestBuilder`),
        rather than httpx's client: yes unless it asks for what only the client does, or
        the client was given event hooks (none of the toolkit's clients has any)."""
        hooks = self._client.event_hooks
        return self._builder.covers(kwargs) and not hooks["request"] and not hooks["response"]

    def _prepared(
        self, method: str, target: Target, timeout: float | None, kwargs: Mapping[str, Any]
    ) -> tuple[httpx.Request, httpx.Auth | None]:
        """The request and the auth flow to run on it (None: none to run), refused as
        httpx's client refuses it when the client is closed (before any auth flow runs)."""
        header = self._auth_header
        request = self._builder.build(
            method, target, timeout, None if header is None else header(), **kwargs
        )
        if self._client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        auth = self._auth
        if header is not None or auth is not None:
            return request, auth if header is None else None
        url = request.url
        if url.userinfo and (url.username or url.password):  # as httpx's client takes them
            return request, httpx.BasicAuth(url.username, url.password)
        return request, None

    def _redirect(self, request: httpx.Request, response: httpx.Response) -> None:
        """An answer that redirects gets its `next_request`, as httpx's client (which
        follows no redirect here) sets it."""
        if response.has_redirect_location:
            response.next_request = self._client._build_redirect_request(request, response)

    _client: httpx.Client | httpx.AsyncClient

    def timeout_for(self, ctx: CallContext) -> float | None:
        """The attempt's timeout: the pipeline's (cut to the deadline), else our default."""
        return ctx.timeout if ctx.timeout is not None else self.timeout

    def transport_error(self, exc: Exception, ctx: CallContext) -> ConnectorError:
        """What a failed exchange means (see `transport_error`)."""
        return transport_error(
            exc, vendor=self.vendor_name, sent=ctx.request_sent, path=self._credentials_path
        )

    # -- answers -----------------------------------------------------------------------------

    def read_error(self, response: httpx.Response) -> tuple[object, object]:
        """The vendor's error code and message in an error answer (override per vendor;
        the default reads the common JSON shapes, see `error_fields`)."""
        return error_fields(json_body(response))

    def error_for(self, response: httpx.Response) -> ConnectorError:
        """The error a non-2xx answer means, by the vendor's code table and the status."""
        code, message = self.read_error(response)
        return answer_error(
            response,
            vendor=self.vendor_name,
            code=code,
            message=message,
            now=self.clock.time(),
            table=self.errors,
            redact=self.redact,
            code_label=self.code_label,
        )

    def retry_after(self, response: httpx.Response) -> float | None:
        """Seconds the answer's ``Retry-After`` asks to wait, if any."""
        return parse_retry_after(response.headers.get("retry-after"), self.clock.time())

    def read(self, response: httpx.Response, reader: Callable[[Any], T], what: str) -> T:
        """A 2xx answer read by `reader` from its JSON body; an answer that cannot be read
        (not JSON, a field missing or of the wrong type) is a `VendorError` that may have
        been processed: the vendor said yes, and may well have acted."""
        try:
            return reader(response.json())
        except (TypeError, KeyError, ValueError, AttributeError, IndexError) as exc:
            raise VendorError(
                f"{self.vendor_name} answered {response.status_code} with a body that is not "
                f"{what}",
                status_code=response.status_code,
                maybe_processed=True,
            ) from exc

    @staticmethod
    def json(response: httpx.Response) -> Any:
        """The answer's body decoded from JSON, or None when it is not JSON."""
        return json_body(response)

    def _traced(self, trace: CallTrace, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The request's arguments with the trace context in its headers (unless the
        connector keeps it from the vendor); the attempt's span names the server."""
        trace.attempt_attribute("server.address", self._host)
        if not self.propagate_trace:
            return kwargs
        headers = dict(kwargs.get("headers") or {})
        trace.inject(headers)
        return {**kwargs, "headers": headers}

    def _answer(self, response: httpx.Response, ctx: CallContext, check: bool) -> httpx.Response:
        ctx.status_code = response.status_code
        if check and not response.is_success:
            raise self.error_for(response)
        return response

    def _failed(self, exc: Exception, ctx: CallContext) -> ConnectorError:
        error = self.transport_error(exc, ctx)
        if isinstance(error, ConfigError):
            error.__suppress_context__ = True
        return error

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"


class _AnswerCookies(httpx.Cookies):
    """httpx's cookie jar, looking for cookies only in an answer that sets some: the
    standard library's jar costs ~18 µs an answer even when it sets none (most vendors'
    answers)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


def _keeps_cookies_cheaply(client: httpx.Client | httpx.AsyncClient) -> None:
    # The client's jar is its `_cookies` (httpx 0.2x); the `cookies` setter would copy ours
    # into a plain jar. Should httpx move it, this only costs the time again.
    if isinstance(getattr(client, "_cookies", None), httpx.Cookies):
        client._cookies = _AnswerCookies()


class HttpAdapter(HttpVendor):
    """The synchronous twin: requests on an `httpx.Client` over a `DeadlineTransport`."""

    _client: httpx.Client

    def __init__(self, settings: AdapterSettings, **options: Any) -> None:
        super().__init__(settings, **options)
        transport = DeadlineTransport(verify=self._verify)
        mounts = {
            scheme: DeadlineTransport(verify=self._verify, proxy=proxy)
            for scheme, proxy in self._proxies().items()
        }
        client = httpx.Client(transport=transport, mounts=mounts, **self._client_options)
        self._made(client, transport, mounts)

    def request(
        self, method: str, path: str, ctx: CallContext, *, check: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Send one request and read its whole answer within the attempt's time.

        `kwargs` are `httpx.Client.request`'s (``json``, ``data``, ``params``,
        ``headers``...). With `check`, a non-2xx answer raises the error it means.
        """
        timeout = self.timeout_for(ctx)
        if ctx.trace is not None:
            kwargs = self._traced(ctx.trace, kwargs)
        with exchange(timeout, ctx):
            try:
                target = self._target(path)
                if self._lean(kwargs):
                    request, auth = self._prepared(method, target, timeout, kwargs)
                    if auth is None:
                        response = self._exchange(request, target.transport)
                    else:
                        response = self._authenticated(request, auth, target.transport)
                else:
                    response = self._client.request(method, target.url, timeout=timeout, **kwargs)
            except TRANSPORT_ERRORS as exc:
                raise self._failed(exc, ctx) from _chainable(exc)
        return self._answer(response, ctx, check)

    def _exchange(self, request: httpx.Request, transport: httpx.BaseTransport) -> httpx.Response:
        """One request sent and its answer read whole, as httpx's client sends one."""
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise RuntimeError("Attempted to send an async request with a sync Client instance.")
        started = time.perf_counter()
        try:
            response = transport.handle_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx's client tells its errors their request
            raise
        response.request = request
        self._client.cookies.extract_cookies(response)
        try:
            response.read()
            self._redirect(request, response)
        except BaseException:
            response.close()
            raise
        log_exchange(request, response, started)
        return response

    def _authenticated(
        self, request: httpx.Request, auth: httpx.Auth, transport: httpx.BaseTransport
    ) -> httpx.Response:
        """`request` sent through `auth`'s flow, as httpx's client drives it: each request
        the flow yields is sent, its answer read and handed back, until the flow ends."""
        flow = auth.sync_auth_flow(request)
        history: list[httpx.Response] = []
        try:
            request = next(flow)
            while True:
                response = self._exchange(request, transport)
                response.history = list(history)
                try:
                    request = flow.send(response)
                except StopIteration:
                    return response
                history.append(response)
        finally:
            flow.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class AsyncHttpAdapter(HttpVendor):
    """The asynchronous twin: requests on an `httpx.AsyncClient` over the transport
    ``options.transport`` names (`async_transport`: aiohttp's when installed, else
    httpx's)."""

    _client: httpx.AsyncClient

    def __init__(self, settings: AdapterSettings, **options: Any) -> None:
        super().__init__(settings, **options)
        path = self._transport_path
        mounts = {
            scheme: async_transport(self.transport, verify=self._verify, proxy=proxy, path=path)
            for scheme, proxy in self._proxies().items()
        }
        transport = async_transport(self.transport, verify=self._verify, path=path)
        client = httpx.AsyncClient(transport=transport, mounts=mounts, **self._client_options)
        self._made(client, transport, mounts)

    async def request(
        self, method: str, path: str, ctx: CallContext, *, check: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Send one request and read its whole answer within the attempt's time."""
        timeout = self.timeout_for(ctx)
        if ctx.trace is not None:
            kwargs = self._traced(ctx.trace, kwargs)
        with exchange(timeout, ctx):
            try:
                target = self._target(path)
                if self._lean(kwargs):
                    request, auth = self._prepared(method, target, timeout, kwargs)
                    if auth is None:
                        response = await self._exchange(request, target.transport)
                    else:
                        response = await self._authenticated(request, auth, target.transport)
                else:
                    response = await self._client.request(
                        method, target.url, timeout=timeout, **kwargs
                    )
            except TRANSPORT_ERRORS as exc:
                raise self._failed(exc, ctx) from _chainable(exc)
        return self._answer(response, ctx, check)

    async def _exchange(
        self, request: httpx.Request, transport: httpx.AsyncBaseTransport
    ) -> httpx.Response:
        """One request sent and its answer read whole, as httpx's client sends one."""
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise RuntimeError("Attempted to send a sync request with an AsyncClient instance.")
        started = time.perf_counter()
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx's client tells its errors their request
            raise
        response.request = request
        self._client.cookies.extract_cookies(response)
        try:
            stream = response.stream
            if isinstance(stream, WholeBody):
                try:
                    body = await stream.read_whole()
                except httpx.RequestError as exc:
                    exc.request = request  # as httpx.Response.aread tells it
                    raise
            else:
                body = None
            if body is None:
                await response.aread()
            else:
                read_whole(response, body)
            self._redirect(request, response)
        except BaseException:
            await response.aclose()
            raise
        log_exchange(request, response, started)
        return response

    async def _authenticated(
        self, request: httpx.Request, auth: httpx.Auth, transport: httpx.AsyncBaseTransport
    ) -> httpx.Response:
        """`request` sent through `auth`'s flow, as httpx's client drives it: each request
        the flow yields is sent, its answer read and handed back, until the flow ends."""
        flow = auth.async_auth_flow(request)
        history: list[httpx.Response] = []
        try:
            request = await flow.__anext__()
            while True:
                response = await self._exchange(request, transport)
                response.history = list(history)
                try:
                    request = await flow.asend(response)
                except StopAsyncIteration:
                    return response
                history.append(response)
        finally:
            await flow.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
