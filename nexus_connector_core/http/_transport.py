"""Transports that hold a vendor call to its deadline and know whether its request left.

httpx bounds each socket operation (connect, one read, one write), not the exchange: a
vendor that trickles its answer one byte at a time keeps a synchronous call alive for ever,
each read well within the read timeout. These transports are httpx's own, over a network
backend that cuts every socket operation of an exchange to the time the exchange has left,
so an exchange ends at its deadline on the wall clock, however the vendor trickles; an
asynchronous call is also cancelled by the pipeline, this bound makes the two agree.

They also watch the first byte of the request go out: until then, an exchange that fails
(a refused connection, a TLS handshake that never ends, a deadline spent waiting for a
pooled connection) surely did not reach the vendor, and even a payment may be retried.

What an exchange may take and what it has sent live in an `Exchange`, made per request by
the adapter (`HttpAdapter.request`) and found by the network streams through a context
variable: sync httpcore does its I/O in the calling thread, async httpcore in the calling
task, so the variable always names the exchange the bytes belong to.

An asynchronous adapter may run on another transport with the same promises: aiohttp's,
under httpx's API (`async_transport`, chosen per connector by ``options.transport``; see
`nexus_connector_core.http._aiohttp`).
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from importlib.util import find_spec
from typing import Any, Literal
from urllib.parse import urlsplit

import httpcore
import httpx

from .._context import CallContext
from .._errors import ConfigError

__all__ = [
    "HTTP_TRANSPORTS",
    "AsyncDeadlineTransport",
    "DeadlineTransport",
    "Exchange",
    "HttpTransport",
    "WholeBody",
    "async_transport",
    "exchange",
]

#: Which transport an asynchronous HTTP adapter sends on (``options.transport``):
#: ``aiohttp`` (httpx's API over aiohttp's connection pool, the extra
#: ``nexus-connector-core[aiohttp]``), ``httpx`` (httpx's own pool), or ``auto``: aiohttp's
#: when it is installed and can serve the connector, else httpx's. A synchronous adapter
#: always sends on httpx's own.
HttpTransport = Literal["auto", "httpx", "aiohttp"]
HTTP_TRANSPORTS: tuple[HttpTransport, ...] = ("auto", "httpx", "aiohttp")

#: What to install for ``transport = "aiohttp"``.
AIOHTTP_HINT = "pip install 'nexus-connector-core[aiohttp]' (httpx-aiohttp and aiohttp)"


class Exchange:
    """One request and its answer: when it must end (`time.monotonic()`), the call whose
    `request_sent` it keeps, and whether the request's first byte was written (`sent`).

    A context manager (see `exchange`): while it is entered, the transports find it."""

    __slots__ = ("_token", "ctx", "ends", "sent")

    def __init__(self, ends: float | None, ctx: CallContext | None = None) -> None:
        self.ends = ends
        self.ctx = ctx
        self.sent = False
        self._token: Any = None

    def __enter__(self) -> Exchange:
        if self.ctx is not None:
            self.ctx.request_sent = False
        self._token = _EXCHANGE.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _EXCHANGE.reset(self._token)

    def left(self, timeout: float | None, error: type[Exception]) -> float | None:
        """`timeout` cut to what the exchange has left; `error` when nothing is left."""
        if self.ends is None:
            return timeout
        left = self.ends - time.monotonic()
        if left <= 0:
            raise error("the exchange reached its deadline")
        return left if timeout is None or left < timeout else timeout

    def sending(self) -> None:
        """The request's first byte is about to be written (never called after it was)."""
        self.sent = True
        if self.ctx is not None:
            self.ctx.request_sent = True


_EXCHANGE: ContextVar[Exchange | None] = ContextVar("nexus_connector_exchange", default=None)


def current_exchange() -> Exchange | None:
    """The exchange the running code is part of (None: outside any)."""
    return _EXCHANGE.get()


def exchange(timeout: float | None, ctx: CallContext | None = None) -> Exchange:
    """Bound every socket operation inside to `timeout` seconds from now, together, and
    record in ``ctx.request_sent`` whether the request's first byte was written::

        with exchange(ctx.timeout, ctx):
            response = client.get(url)
    """
    return Exchange(None if timeout is None else time.monotonic() + timeout, ctx)


class WholeBody(httpx.AsyncByteStream):
    """An answer's body that its transport can hand over whole: the adapters read a body
    they will not stream with `read_whole` rather than through httpx's layers of
    generators (`httpx.Response.aread`), which cost more than reading it."""

    async def read_whole(self) -> bytes | None:
        """The whole body, within the exchange's deadline, the stream then closed as
        `aclose` closes it; None, having read nothing, when httpx must read it (a body with
        a ``Content-Encoding``, which httpx decodes)."""
        raise NotImplementedError


class _Stream(httpcore.NetworkStream):
    __slots__ = ("_stream",)

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.ReadTimeout)
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.WriteTimeout)
            if buffer:
                current.sending()
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    __slots__ = ("_stream",)

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.ReadTimeout)
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.WriteTimeout)
            if buffer:
                current.sending()
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.ConnectTimeout)
        stream = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _AsyncStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.ConnectTimeout)
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        current = _EXCHANGE.get()
        if current is not None:
            timeout = current.left(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def _pool_of(transport: httpx.HTTPTransport | httpx.AsyncHTTPTransport) -> Any:
    # httpx builds its httpcore pool without a way to pass a network backend; the pool
    # keeps it as `_network_backend` (httpcore 1.x). A test over a real trickling server
    # (tests/http/test_deadline.py) fails should either of them change.
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise RuntimeError(
            f"httpx {httpx.__version__} / httpcore {httpcore.__version__} keep their network "
            "backend where nexus_connector_core.http does not expect it; pin httpx<1 and "
            "httpcore<2, or report this"
        )
    return pool


class DeadlineTransport(httpx.HTTPTransport):
    """`httpx.HTTPTransport` whose exchanges end at their deadline on the wall clock and
    record when their request is sent (inside `exchange`; elsewhere it is httpx's own).
    Takes httpx.HTTPTransport's arguments."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = _pool_of(self)
        pool._network_backend = _Backend(pool._network_backend)


class AsyncDeadlineTransport(httpx.AsyncHTTPTransport):
    """The asynchronous twin of `DeadlineTransport`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = _pool_of(self)
        pool._network_backend = _AsyncBackend(pool._network_backend)


def async_transport(
    choice: str = "auto",
    *,
    verify: ssl.SSLContext | bool = True,
    proxy: str | None = None,
    path: str | None = None,
) -> httpx.AsyncBaseTransport:
    """The asynchronous transport `choice` (an `HttpTransport`) names, for connections made
    directly (`proxy` None) or through the HTTP proxy at `proxy`.

    Both keep the toolkit's promises (an exchange's deadline on the wall clock,
    ``ctx.request_sent``, the same httpx errors for the same failures). ``auto`` takes
    aiohttp's when it is installed and can use the proxy (aiohttp speaks to HTTP proxies
    only), else httpx's. `path` is the config key blamed when the choice cannot be served
    (``connectors.<name>.options.transport``)."""
    where = path or "transport"
    if choice not in HTTP_TRANSPORTS:
        raise ConfigError(
            f"{where} must be one of {', '.join(map(repr, HTTP_TRANSPORTS))}, not {choice!r}",
            path=path,
        )
    if choice != "httpx":
        aiohttp_transport = _aiohttp_transport()
        tunnels = proxy is None or urlsplit(proxy).scheme in ("http", "https")
        if aiohttp_transport is not None and tunnels:
            return aiohttp_transport(verify=verify, proxy=proxy)
        if choice == "aiohttp":
            if aiohttp_transport is None:
                raise ConfigError(
                    f"{where} = 'aiohttp' needs httpx-aiohttp and aiohttp, which are not "
                    f"installed: {AIOHTTP_HINT}, or set it to 'httpx'",
                    path=path,
                )
            raise ConfigError(
                f"{where} = 'aiohttp' cannot reach the vendor through the "
                f"{urlsplit(proxy or '').scheme} proxy the environment names (HTTPS_PROXY, "
                "ALL_PROXY): aiohttp speaks to HTTP proxies only; set it to 'httpx' (with "
                "socksio for a SOCKS proxy) or 'auto'",
                path=path,
            )
    return AsyncDeadlineTransport(verify=verify, proxy=proxy)


@functools.cache
def _aiohttp_transport() -> Callable[..., httpx.AsyncBaseTransport] | None:
    """`AiohttpDeadlineTransport`, or None when httpx-aiohttp or aiohttp is not installed
    (imported on first use: aiohttp takes a while to import)."""
    if find_spec("httpx_aiohttp") is None or find_spec("aiohttp") is None:
        return None
    from ._aiohttp import AiohttpDeadlineTransport

    return AiohttpDeadlineTransport
