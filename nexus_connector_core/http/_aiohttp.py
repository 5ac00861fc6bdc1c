"""httpx's API over aiohttp's connection pool: the toolkit's fast asynchronous transport.

httpx's own asynchronous pool spends several times aiohttp's CPU on each request when many
run at once (benchmarks/async_http.py); httpx-aiohttp's `AiohttpTransport` puts aiohttp under
httpx's API (clients, auth flows, event hooks, requests and answers stay httpx's).
`AiohttpDeadlineTransport` is that transport, holding the promises every transport of the
toolkit keeps (`nexus_connector_core.http._transport`):

- inside an `exchange`, the exchange ends at its deadline on the wall clock: the head of
  the answer within one timer, each wait for more of its body within what is left, however
  the vendor trickles;
- ``ctx.request_sent`` turns True as aiohttp is about to write the request's first byte
  (its ``on_request_headers_sent`` signal, sent before the headers are written), never
  after: a refused connection or a deadline spent connecting leaves it False;
- aiohttp's errors become the httpx errors httpx's own transport raises for the same
  failure, by what happened: httpx-aiohttp maps every ``ClientConnectionError`` to
  ``ConnectTimeout``, a reset after the request left included, which would tell the
  pipeline that the vendor never saw a payment it may have taken;
- aiohttp never sends a request twice on its own (it would resend a GET, PUT or DELETE once
  on a dropped connection: the pipeline's retries decide that, with its budget, breaker and
  metrics seeing it), and keeps no cookies (httpx's client does).

Outside an exchange it is a plain httpx transport over aiohttp: timeouts per operation.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import yarl
from aiohttp import hdrs
from httpx_aiohttp import AiohttpTransport
from multidict import CIMultiDict

from ._transport import Exchange, WholeBody, current_exchange

__all__ = ["AiohttpDeadlineTransport"]

#: The largest piece of an answer's body handed to httpx at once.
CHUNK_SIZE = 64 * 1024

_DEADLINE = "the exchange reached its deadline"


#: aiohttp's timeouts when the exchange's deadline bounds every wait (see `_timeouts`).
_NO_TIMEOUTS = aiohttp.ClientTimeout()


class _Request(aiohttp.ClientRequest):
    """aiohttp's request, telling the exchange as it starts to write, on the connection it
    was given: aiohttp's tracing signals would tell it too, at several times the cost."""

    async def send(self, conn: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        current = current_exchange()
        if current is not None:
            current.sending()
        return await super().send(conn)


class AiohttpDeadlineTransport(AiohttpTransport):
    """httpx-aiohttp's `AiohttpTransport` with the toolkit's deadline, ``request_sent``
    and error mapping (see the module's docstring). Takes its arguments (`verify`,
    `limits`, `proxy`: an `httpx.Proxy` or its URL)."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        proxy: httpx.Proxy | str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(proxy, str):
            proxy = httpx.Proxy(proxy)
        super().__init__(verify=verify, proxy=proxy, trust_env=False, **kwargs)
        self.client = self._session
        self._proxy_url = str(proxy.url) if proxy is not None else None
        self._proxy_auth = aiohttp.BasicAuth(*proxy.auth) if proxy and proxy.auth else None
        self._proxy_headers = dict(proxy.headers) if proxy is not None else None

    def _session(self) -> aiohttp.ClientSession:
        """The pool, made on the first request (aiohttp binds it to the running loop)."""
        limit = self.limits.max_connections
        connector = aiohttp.TCPConnector(
            ssl=self.ssl_context,
            limit=limit if limit is not None else 0,
            keepalive_timeout=self.limits.keepalive_expiry,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            request_class=_Request,
            auto_decompress=False,
        )
        if not hasattr(session, "_retry_connection"):
            raise RuntimeError(
                f"aiohttp {aiohttp.__version__} no longer keeps the switch of its own "
                "resending where nexus_connector_core.http expects it; pin aiohttp<4 to a "
                "release that has it, or report this"
            )
        # aiohttp resends a GET, PUT or DELETE once when its connection drops; httpx never
        # does, and the pipeline must see the failure to decide (tests/http/test_aiohttp.py).
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.client = self._session()
        current = current_exchange()
        left = None
        if current is not None and current.ends is not None:
            left = current.ends - time.monotonic()
            if left <= 0:
                raise httpx.PoolTimeout(_DEADLINE)
        data: Any
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream
            request.headers.pop("transfer-encoding", None)  # aiohttp chunks it itself
        url = request.url
        if url.userinfo:  # sent by the auth as a header; aiohttp refuses both at once
            url = url.copy_with(userinfo=b"")
        pending = session.request(
            request.method,
            yarl.URL(str(url), encoded=True),  # as httpx wrote it (aiohttp would requote)
            headers=_headers(request.headers),
            data=data,
            allow_redirects=False,
            compress=False,
            timeout=_timeouts(request.extensions.get("timeout"), left),
            server_hostname=request.extensions.get("sni_hostname"),
            proxy=self._proxy_url,
            proxy_auth=self._proxy_auth,
            proxy_headers=self._proxy_headers,
        )
        try:
            if left is None:
                response = await pending
            else:
                async with asyncio.timeout(left):
                    response = await pending
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ServerTimeoutError):
                raise httpx_error(exc, _sent(current)) from exc
            # the exchange's own deadline (an aiohttp timeout is a ServerTimeoutError)
            raise (httpx.ReadTimeout if _sent(current) else httpx.ConnectTimeout)(
                _DEADLINE
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx_error(exc, _sent(current)) from exc
        except ValueError as exc:
            # aiohttp refuses a header value with a line break as it writes the head.
            raise httpx.LocalProtocolError("aiohttp could not write the request") from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions=extensions,
        )


def _timeouts(timeouts: dict[str, float | None] | None, left: float | None) -> Any:
    """aiohttp's timeouts for httpx's (``connect``, ``read``, ``pool``), when the exchange
    has `left` seconds (None: no deadline). The deadline's own timers bound every wait to
    `left`, so an aiohttp timer as long or longer would only cost its upkeep (aiohttp resets
    its read timer at each piece of the answer): only shorter ones are kept."""
    connect = read = pool = None
    if timeouts:
        connect, read, pool = timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool")
    if left is not None:
        connect, read, pool = _shorter(connect, left), _shorter(read, left), _shorter(pool, left)
    if connect is None and read is None and pool is None:
        return _NO_TIMEOUTS
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)


def _shorter(timeout: float | None, left: float) -> float | None:
    return timeout if timeout is not None and timeout < left else None


def _headers(headers: httpx.Headers) -> CIMultiDict[str]:
    """A request's headers for aiohttp, each as httpx's own transport sends it (repeated
    names kept apart), decoded as `httpx.Headers` decodes them."""
    raw = headers.raw
    try:
        return CIMultiDict([(name.decode("ascii"), value.decode("ascii")) for name, value in raw])
    except UnicodeDecodeError:
        encoding = headers.encoding
        return CIMultiDict([(name.decode(encoding), value.decode(encoding)) for name, value in raw])


def _sent(current: Exchange | None) -> bool | None:
    return None if current is None else current.sent


def httpx_error(exc: BaseException, sent: bool | None) -> httpx.TransportError:
    """The httpx error httpx's own transport raises for the failure aiohttp reports as
    `exc`, knowing whether the request's first byte was written (`sent`; None: unknown).
    The message names aiohttp's class only: its text may quote the URL."""
    name = f"aiohttp {type(exc).__name__}"
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(name)
    if isinstance(exc, aiohttp.ClientConnectorError):  # connecting, resolving, TLS
        return httpx.ConnectError(name)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # waiting for the pool or a connection
        return httpx.ConnectTimeout(name)
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(name) if sent is not False else httpx.ConnectTimeout(name)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(name)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(name)
    if isinstance(exc, aiohttp.ClientConnectionResetError):
        return httpx.WriteError(name)
    if sent is False:
        # Nothing written yet: whatever failed, failed before the vendor could see it.
        return httpx.ConnectError(name)
    return httpx.ReadError(name)


class _Body(WholeBody):
    """An answer's body from aiohttp, each wait for more within the exchange's deadline."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                chunk = content.read_nowait(CHUNK_SIZE)  # what has arrived: no wait
                if not chunk:
                    if content.at_eof():
                        return
                    chunk = await _more(content)
                    if not chunk:
                        return
                yield chunk
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx_error(exc, True) from exc

    async def read_whole(self) -> bytes | None:
        if hdrs.CONTENT_ENCODING in self._response.headers:
            return None
        content = self._response.content
        chunks = []
        try:
            while True:
                chunk = content.read_nowait(-1)  # all that has arrived: no wait
                if not chunk:
                    if content.at_eof():
                        break
                    chunk = await _more(content)
                    if not chunk:
                        break
                chunks.append(chunk)
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx_error(exc, True) from exc
        await self.aclose()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def aclose(self) -> None:
        self._response.release()
        await self._response.wait_for_close()


async def _more(content: aiohttp.StreamReader) -> bytes:
    current = current_exchange()
    if current is None or current.ends is None:
        return await content.readany()
    left = current.ends - time.monotonic()
    if left <= 0:
        raise httpx.ReadTimeout(_DEADLINE)
    try:
        async with asyncio.timeout(left):
            return await content.readany()
    except TimeoutError as exc:
        if isinstance(exc, aiohttp.ServerTimeoutError):
            raise
        raise httpx.ReadTimeout(_DEADLINE) from exc
