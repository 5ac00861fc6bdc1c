"""The toolkit's transports over real sockets: an exchange ends at its deadline on the wall
clock however the vendor trickles its answer, and knows whether its request went out."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from nexus_connector_core import CallContext
from nexus_connector_core._sms import SMS_SEND
from nexus_connector_core.http import AsyncDeadlineTransport, DeadlineTransport, exchange
from nexus_connector_core.testing import FakeClock, Fault, FaultServer


def _ctx() -> CallContext:
    return CallContext("sms", "acme", SMS_SEND, FakeClock())


@pytest.fixture
def server() -> FaultServer:
    with FaultServer() as server:
        yield server


def test_a_trickled_answer_is_cut_at_the_exchanges_deadline(server: FaultServer) -> None:
    server.script(Fault.trickle(0.2, 200, b"x" * 100))  # 20 s in all, 0.2 s per byte
    ctx = _ctx()

    started = time.monotonic()
    with httpx.Client(transport=DeadlineTransport()) as client, exchange(0.8, ctx):
        with pytest.raises(httpx.ReadTimeout):
            client.get(server.url, timeout=5.0)
    took = time.monotonic() - started

    assert 0.75 < took < 1.2
    assert ctx.request_sent is True


async def test_the_async_transport_cuts_a_trickled_answer_too(server: FaultServer) -> None:
    server.script(Fault.trickle(0.2, 200, b"x" * 100))

    started = time.monotonic()
    async with httpx.AsyncClient(transport=AsyncDeadlineTransport()) as client:
        with exchange(0.8), pytest.raises(httpx.ReadTimeout):
            await client.get(server.url, timeout=5.0)

    assert time.monotonic() - started < 1.2


def test_a_refused_connection_leaves_the_request_unsent(server: FaultServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    ctx = _ctx()

    with httpx.Client(transport=DeadlineTransport()) as client, exchange(1.0, ctx):
        with pytest.raises(httpx.ConnectError):
            client.get(f"http://127.0.0.1:{port}/")

    assert ctx.request_sent is False


def test_a_tls_handshake_that_never_ends_leaves_the_request_unsent(server: FaultServer) -> None:
    ctx = _ctx()
    https = server.url.replace("http://", "https://")

    with httpx.Client(transport=DeadlineTransport()) as client, exchange(0.3, ctx):
        with pytest.raises(httpx.ConnectTimeout):
            client.get(https, timeout=5.0)

    assert ctx.request_sent is False
    assert server.hits == 0


def test_outside_an_exchange_the_transport_is_httpxs_own(server: FaultServer) -> None:
    with httpx.Client(transport=DeadlineTransport()) as client:
        response = client.post(server.url + "/v1/x", json={"a": 1})

    assert response.status_code == 200
    assert server.requests[0].json() == {"a": 1}


def test_a_kept_alive_connection_serves_the_next_exchange(server: FaultServer) -> None:
    first, second = _ctx(), _ctx()
    with httpx.Client(transport=DeadlineTransport()) as client:
        with exchange(2.0, first):
            client.get(server.url)
        with exchange(2.0, second):
            client.get(server.url)

    assert [r.connection for r in server.requests] == [1, 1]
    assert (first.request_sent, second.request_sent) == (True, True)
