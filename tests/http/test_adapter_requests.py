"""The adapters' requests over a real socket: what the toolkit does to make a request cheap
(URLs parsed once per path, cookies read only from answers that set some) changes nothing
the vendor sees or the adapter keeps, on either twin and either asynchronous transport."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nexus_connector_core import AdapterSettings, CallContext
from nexus_connector_core._sms import SMS_SEND
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter
from nexus_connector_core.testing import FakeClock, Fault, FaultServer


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def _settings() -> AdapterSettings:
    return AdapterSettings(connector="sms", category="sms", vendor="acme")


def _ctx() -> CallContext:
    return CallContext("sms", "acme", SMS_SEND, FakeClock())


def test_each_path_reaches_the_vendor_as_written(server: FaultServer) -> None:
    adapter = HttpAdapter(_settings(), base_url=server.url + "/api/")
    try:
        for path in ("/v1/a", "v1/b?x=1", "/v1/a", f"{server.url}/elsewhere"):
            adapter.request("GET", path, _ctx())
        adapter.request("GET", "/v1/a", _ctx(), params={"page": "2"})
    finally:
        adapter.close()

    assert [r.path for r in server.requests] == [
        "/api/v1/a",
        "/api/v1/b?x=1",
        "/api/v1/a",
        "/elsewhere",
        "/api/v1/a?page=2",
    ]


def test_a_cookie_the_vendor_sets_is_sent_back(server: FaultServer) -> None:
    server.script(Fault.respond(200, {}, {"Set-Cookie": "lb=node-7; Path=/"}))
    adapter = HttpAdapter(_settings(), base_url=f"http://localhost:{server.port}")
    try:
        adapter.request("GET", "/v1/a", _ctx())
        adapter.request("GET", "/v1/a", _ctx())
    finally:
        adapter.close()

    assert "cookie" not in server.requests[0].headers
    assert server.requests[1].headers["cookie"] == "lb=node-7"


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_the_async_twin_on_either_transport_too(server: FaultServer, transport: str) -> None:
    server.script(Fault.respond(200, {}, {"Set-Cookie": "lb=node-7; Path=/"}))
    adapter = AsyncHttpAdapter(
        _settings(), base_url=f"http://localhost:{server.port}/api", transport=transport
    )
    try:
        await adapter.request("POST", "/v1/a", _ctx(), json={"n": 1})
        await adapter.request("POST", "v1/a", _ctx(), json={"n": 2})
    finally:
        await adapter.aclose()

    assert [(r.path, r.json()) for r in server.requests] == [
        ("/api/v1/a", {"n": 1}),
        ("/api/v1/a", {"n": 2}),
    ]
    assert server.requests[1].headers["cookie"] == "lb=node-7"
