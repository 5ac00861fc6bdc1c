"""The toolkit's two asynchronous transports keep the same promises, over real sockets: an
exchange ends at its deadline on the wall clock, ``request_sent`` is False until the first
byte is written and True after, every failure is the httpx error httpx's own transport
raises (so `transport_error` says the same about it), nothing is sent twice behind the
pipeline's back, and a cancelled call leaves the connection pool usable."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
import pytest

from nexus_connector_core import CallContext, ConfigError
from nexus_connector_core._sms import SMS_SEND
from nexus_connector_core.http import (
    AsyncDeadlineTransport,
    _transport,
    async_transport,
    exchange,
    transport_error,
)
from nexus_connector_core.http._aiohttp import AiohttpDeadlineTransport, httpx_error
from nexus_connector_core.testing import FakeClock, Fault, FaultServer, refused_address

TRANSPORTS = ["httpx", "aiohttp"]


def _ctx() -> CallContext:
    return CallContext("sms", "acme", SMS_SEND, FakeClock())


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture(params=TRANSPORTS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    transport = async_transport(request.param)
    expected = AiohttpDeadlineTransport if request.param == "aiohttp" else AsyncDeadlineTransport
    assert type(transport) is expected
    async with httpx.AsyncClient(transport=transport) as client:
        yield client


def _maybe_processed(exc: Exception, ctx: CallContext) -> bool:
    return transport_error(exc, vendor="Acme", sent=ctx.request_sent).maybe_processed


# -- the deadline ---------------------------------------------------------------------------


async def test_a_trickled_answer_is_cut_at_the_exchanges_deadline(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    server.script(Fault.trickle(0.2, 200, b"x" * 100))  # 20 s in all, 0.2 s per byte
    ctx = _ctx()

    started = time.monotonic()
    with exchange(0.8, ctx), pytest.raises(httpx.ReadTimeout) as caught:
        await client.get(server.url, timeout=5.0)
    took = time.monotonic() - started

    assert 0.75 < took < 1.5
    assert ctx.request_sent is True
    assert _maybe_processed(caught.value, ctx)


async def test_an_answer_that_never_comes_ends_at_the_deadline_after_sending(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    server.script(Fault.stall(20))
    ctx = _ctx()

    started = time.monotonic()
    with exchange(0.5, ctx), pytest.raises(httpx.ReadTimeout) as caught:
        await client.post(server.url, json={"amount": 100}, timeout=5.0)

    assert time.monotonic() - started < 1.5
    assert ctx.request_sent is True
    assert _maybe_processed(caught.value, ctx)


async def test_a_tls_handshake_that_never_ends_leaves_the_request_unsent(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    ctx = _ctx()
    https = server.url.replace("http://", "https://")

    with exchange(0.3, ctx), pytest.raises(httpx.ConnectTimeout) as caught:
        await client.get(https, timeout=5.0)

    assert ctx.request_sent is False
    assert not _maybe_processed(caught.value, ctx)
    assert server.hits == 0


async def test_a_spent_exchange_sends_nothing(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    ctx = _ctx()

    with exchange(-1.0, ctx), pytest.raises(httpx.TimeoutException) as caught:
        await client.get(server.url)

    assert ctx.request_sent is False
    assert not _maybe_processed(caught.value, ctx)
    assert server.hits == 0


# -- what reached the vendor ------------------------------------------------------------------


async def test_a_refused_connection_leaves_the_request_unsent(client: httpx.AsyncClient) -> None:
    host, port = refused_address()
    ctx = _ctx()

    with exchange(1.0, ctx), pytest.raises(httpx.ConnectError) as caught:
        await client.get(f"http://{host}:{port}/")

    assert ctx.request_sent is False
    assert not _maybe_processed(caught.value, ctx)


async def test_a_reset_after_sending_may_have_been_processed(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    # httpx-aiohttp alone calls this a ConnectTimeout: "nothing reached the vendor".
    server.script(Fault.reset_after_request())
    ctx = _ctx()

    with exchange(2.0, ctx), pytest.raises(httpx.TransportError) as caught:
        await client.post(server.url, json={"amount": 100})

    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)
    assert ctx.request_sent is True
    assert _maybe_processed(caught.value, ctx)


async def test_a_connection_closed_after_sending_may_have_been_processed(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    server.script(Fault.close_after_request())
    ctx = _ctx()

    with exchange(2.0, ctx), pytest.raises(httpx.RemoteProtocolError) as caught:
        await client.post(server.url, json={"amount": 100})

    assert ctx.request_sent is True
    assert _maybe_processed(caught.value, ctx)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_a_dropped_request_is_never_sent_again_by_the_transport(
    client: httpx.AsyncClient, server: FaultServer, method: str
) -> None:
    # aiohttp would resend these "idempotent" methods once; the pipeline decides retries.
    server.script(Fault.close_after_request(), Fault.respond(200, {"ok": True}))

    with exchange(2.0, _ctx()), pytest.raises(httpx.RemoteProtocolError):
        await client.request(method, server.url + "/v1/object", content=b"data")

    assert server.hits == 1


async def test_request_sent_is_true_once_a_streamed_body_starts(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    ctx = _ctx()

    async def parts() -> AsyncIterator[bytes]:
        yield b"part-1,"
        yield b"part-2"

    with exchange(2.0, ctx):
        response = await client.put(server.url + "/v1/object", content=parts())

    assert response.status_code == 200
    assert ctx.request_sent is True
    assert server.requests[0].body == b"part-1,part-2"


# -- cancellation -----------------------------------------------------------------------------


async def test_a_call_cancelled_while_waiting_was_sent_and_leaves_the_pool_usable(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    server.script(Fault.stall(20))
    ctx = _ctx()

    async def call() -> None:
        with exchange(10.0, ctx):
            await client.post(server.url, json={"amount": 100})

    task = asyncio.ensure_future(call())
    while server.hits == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert ctx.request_sent is True
    again = _ctx()
    with exchange(2.0, again):
        response = await client.get(server.url)
    assert response.status_code == 200
    assert again.request_sent is True


async def test_a_call_cancelled_before_connecting_was_not_sent(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    # A listener whose backlog is full: the connection attempt hangs until cancelled.
    ctx = _ctx()
    with socket.create_server(("127.0.0.1", 0), backlog=0) as full:
        port = full.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)

            async def call() -> None:
                with exchange(10.0, ctx):
                    await client.get(f"http://127.0.0.1:{port}/")

            task = asyncio.ensure_future(call())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            for filler in fillers:
                filler.close()

    assert ctx.request_sent is False


# -- the connection and its answers ------------------------------------------------------------


async def test_a_kept_alive_connection_serves_the_next_exchange(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    first, second = _ctx(), _ctx()
    with exchange(2.0, first):
        await client.get(server.url)
    with exchange(2.0, second):
        await client.get(server.url)

    assert [r.connection for r in server.requests] == [1, 1]
    assert (first.request_sent, second.request_sent) == (True, True)


async def test_outside_an_exchange_the_transport_is_a_plain_one(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    server.script(Fault.respond(201, {"id": "pi_1"}, {"X-Request-Id": "req_1"}))

    response = await client.post(server.url + "/v1/x?a=1", json={"a": 1}, headers={"X-A": "b"})

    assert (response.status_code, response.json()) == (201, {"id": "pi_1"})
    assert response.headers["x-request-id"] == "req_1"
    assert response.reason_phrase == "Created"
    received = server.requests[0]
    assert (received.method, received.path, received.json()) == ("POST", "/v1/x?a=1", {"a": 1})
    assert received.headers["x-a"] == "b"


async def test_cookies_are_httpxs_alone(client: httpx.AsyncClient, server: FaultServer) -> None:
    server.script(Fault.respond(200, {}, {"Set-Cookie": "lb=node-7; Path=/"}))
    url = f"http://localhost:{server.port}/"  # a host name: aiohttp's own jar skips IPs

    await client.get(url)
    await client.get(url)
    client.cookies.clear()
    await client.get(url)

    assert server.requests[1].headers["cookie"] == "lb=node-7"
    assert "cookie" not in server.requests[2].headers  # no second jar behind httpx's


async def test_a_compressed_answer_is_decoded_once(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    import gzip

    body = gzip.compress(b'{"ok": true}')
    server.script(Fault.respond(200, body, {"Content-Encoding": "gzip"}))

    response = await client.get(server.url)

    assert response.json() == {"ok": True}


# -- choosing the transport --------------------------------------------------------------------


def test_auto_takes_aiohttp_when_it_is_installed() -> None:
    assert type(async_transport("auto")) is AiohttpDeadlineTransport


def test_auto_falls_back_to_httpx_without_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_transport, "_aiohttp_transport", lambda: None)

    assert type(async_transport("auto")) is AsyncDeadlineTransport


def test_aiohttp_without_the_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_transport, "_aiohttp_transport", lambda: None)

    with pytest.raises(ConfigError) as caught:
        async_transport("aiohttp", path="connectors.sms.options.transport")

    assert caught.value.path == "connectors.sms.options.transport"
    assert "pip install 'nexus-connector-core[aiohttp]'" in str(caught.value)


def test_an_unknown_transport_is_refused_with_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        async_transport("curl", path="connectors.sms.options.transport")

    assert caught.value.path == "connectors.sms.options.transport"
    assert "'auto', 'httpx', 'aiohttp'" in str(caught.value)


def test_a_socks_proxy_is_refused_on_aiohttp_and_served_by_httpx_on_auto() -> None:
    with pytest.raises(ConfigError, match="HTTP proxies only"):
        async_transport("aiohttp", proxy="socks5://127.0.0.1:1080", path="p")

    with pytest.raises(ImportError, match="socksio"):  # httpx's transport, which needs it
        async_transport("auto", proxy="socks5://127.0.0.1:1080")


async def test_requests_go_through_the_http_proxy_on_both_transports(
    client: httpx.AsyncClient, server: FaultServer
) -> None:
    # The proxy (the fault server) gets the request in absolute form.
    transport = type(client._transport)(proxy=server.url)  # type: ignore[call-arg]
    async with httpx.AsyncClient(transport=transport) as proxied:
        response = await proxied.get("http://vendor.invalid/v1/ping")

    assert response.status_code == 200
    assert server.requests[0].path == "http://vendor.invalid/v1/ping"


# -- aiohttp's errors, each as httpx's own transport raises it ------------------------------------


@pytest.mark.parametrize(
    ("error", "sent", "expected"),
    [
        (aiohttp.ServerDisconnectedError(), True, httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), True, httpx.ReadError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), False, httpx.ConnectError),
        (aiohttp.ClientConnectionResetError("closing"), True, httpx.WriteError),
        (aiohttp.ClientPayloadError("truncated"), True, httpx.ReadError),
        (aiohttp.SocketTimeoutError("read"), True, httpx.ReadTimeout),
        (aiohttp.ConnectionTimeoutError("pool"), False, httpx.ConnectTimeout),
        (aiohttp.ServerTimeoutError("?"), False, httpx.ConnectTimeout),
        (aiohttp.NonHttpUrlClientError("ftp://x"), False, httpx.UnsupportedProtocol),
        (aiohttp.ClientError("other"), None, httpx.ReadError),
    ],
)
def test_aiohttps_errors_mean_what_httpx_says_for_the_same_failure(
    error: Exception, sent: bool | None, expected: type[Exception]
) -> None:
    mapped = httpx_error(error, sent)

    assert type(mapped) is expected
    assert transport_error(mapped, vendor="Acme", sent=sent).maybe_processed == (
        sent is not False and expected not in (httpx.UnsupportedProtocol,)
    )


def test_a_connect_failure_is_not_processed_whatever_it_is() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, None, None, None, None)
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))

    mapped = httpx_error(refused, None)

    assert type(mapped) is httpx.ConnectError
    assert not transport_error(mapped, vendor="Acme").maybe_processed
