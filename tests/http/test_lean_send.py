"""The adapters send without httpx's client (`RequestBuilder`, their own exchange and auth
driving) and nothing changes: the request is the one httpx's client builds, header for
header; auth flows of any shape are driven as httpx drives them; the answer is read as httpx
reads it; cookies, ``ctx.request_sent`` and ``ctx.status_code``, credentials in the URL,
event hooks, httpx's log line and arguments only httpx's client knows all behave as before.
On both twins and both asynchronous transports, over real sockets."""

from __future__ import annotations

import gzip
import logging
from collections.abc import AsyncGenerator, Generator, Iterator
from typing import Any

import httpx
import pytest

from nexus_connector_core import (
    AdapterSettings,
    AuthenticationError,
    CallContext,
    VendorUnavailableError,
)
from nexus_connector_core._sms import SMS_SEND
from nexus_connector_core.auth import ApiKeyAuth, BasicAuth, BearerAuth, HmacAuth
from nexus_connector_core.auth._simple import static_header
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter
from nexus_connector_core.http._request import RequestBuilder, Target
from nexus_connector_core.testing import FakeClock, Fault, FaultServer, refused_address

#: The sync twin, and the async twin on each transport.
MODES = ["sync", "async-httpx", "async-aiohttp"]

Adapter = HttpAdapter | AsyncHttpAdapter


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def _ctx() -> CallContext:
    ctx = CallContext("sms", "acme", SMS_SEND, FakeClock())
    ctx.timeout = 5.0
    return ctx


def _adapter(mode: str, base_url: str, **options: Any) -> Adapter:
    settings = AdapterSettings(connector="sms", category="sms", vendor="acme")
    if mode == "sync":
        return HttpAdapter(settings, base_url=base_url, **options)
    return AsyncHttpAdapter(settings, base_url=base_url, transport=mode[6:], **options)


async def _send(adapter: Adapter, method: str, path: str, ctx: CallContext, **kwargs: Any) -> Any:
    if isinstance(adapter, HttpAdapter):
        return adapter.request(method, path, ctx, **kwargs)
    return await adapter.request(method, path, ctx, **kwargs)


async def _close(adapter: Adapter) -> None:
    if isinstance(adapter, HttpAdapter):
        adapter.close()
    else:
        await adapter.aclose()


# -- the request: the one httpx's client builds ------------------------------------------------

_ASYNC_BODY_CASE = "async-iterator-content"


async def _parts() -> AsyncGenerator[bytes]:
    yield b"part"


CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "form": ("POST", "/v1/m", {"data": {"To": "+1 415", "n": 2, "ok": True, "none": None}}),
    "json": ("POST", "/v1/m", {"json": {"é": [1.5, None], "k": "v"}}),
    "bytes": ("PUT", "/v1/o", {"content": b"\x00\xff"}),
    "text": ("PATCH", "v1/o", {"content": "héllo"}),
    "no-body-post": ("POST", "/v1/m", {}),
    "no-body-get": ("get", "/v1/m?x=1", {}),
    "params-replace-the-query": ("GET", "/v1/m?x=1", {"params": {"page": 2, "q": "a b"}}),
    "empty-params-drop-the-query": ("GET", "/v1/m?x=1", {"params": {}}),
    "headers-override": (
        "POST",
        "/v1/m",
        {"json": {}, "headers": {"accept": "text/plain", "Content-Type": "application/x"}},
    ),
    "repeated-headers": ("GET", "/v1/m", {"headers": [("X-A", "1"), ("x-a", "2"), ("B", "3")]}),
    "bytes-headers": ("GET", "/v1/m", {"headers": {b"X-Raw": b"\xe9"}}),
    "headers-object": ("GET", "/v1/m", {"headers": httpx.Headers({"X-H": "1"})}),
    "own-host-and-length": (
        "POST",
        "/v1/m",
        {"content": b"abc", "headers": {"Host": "api.other", "Content-Length": "3"}},
    ),
    _ASYNC_BODY_CASE: ("POST", "/v1/m", {"content": _parts()}),
    "absolute-url": ("GET", "https://user:pw@elsewhere.example:8443/x", {}),
}


def _client(auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url="http://vendor.example/api",
        headers={"Accept": "application/json", "X-Version": "7"},
        auth=auth,
        trust_env=False,
    )


def _target(client: httpx.AsyncClient, path: str) -> Target:
    url = client.build_request("GET", path).url
    return Target(url, url.netloc if url.host else b"", None)


def _same(built: httpx.Request, expected: httpx.Request, *, body: bool = True) -> None:
    assert built.method == expected.method
    assert str(built.url) == str(expected.url)
    assert built.headers.raw == expected.headers.raw
    assert built.extensions == expected.extensions
    if body:
        assert built.content == expected.content
    assert type(built.stream) is type(expected.stream)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_request_built_is_the_one_httpxs_client_builds(case: str) -> None:
    method, path, kwargs = CASES[case]
    client = _client()
    built = RequestBuilder(client).build(method, _target(client, path), 7.5, **kwargs)
    expected = client.build_request(method, path, timeout=7.5, **kwargs)

    _same(built, expected, body=case != _ASYNC_BODY_CASE)


def test_a_cookie_in_the_jar_goes_where_httpx_puts_it() -> None:
    client = _client()
    client.cookies.set("lb", "node-7", domain="vendor.example")
    method, path, kwargs = CASES["form"]

    built = RequestBuilder(client).build(method, _target(client, path), None, **kwargs)
    expected = client.build_request(method, path, timeout=None, **kwargs)

    _same(built, expected)
    assert built.headers["cookie"] == "lb=node-7"


@pytest.mark.parametrize(
    "auth",
    [
        BearerAuth("tok\u00e9n"),
        BasicAuth("user", "p\u00e4ss"),
        ApiKeyAuth("k-1", header="Authorization", prefix="Token "),
        ApiKeyAuth("k-1", header="X-Version"),  # replaces the client's header in place
    ],
    ids=repr,
)
def test_a_static_header_auth_sets_what_its_flow_sets(auth: httpx.Auth) -> None:
    header = static_header(auth)
    assert header is not None
    client = _client(auth)
    method, path, kwargs = CASES["json"]

    built = RequestBuilder(client).build(method, _target(client, path), 1.0, header(), **kwargs)
    expected = next(auth.auth_flow(client.build_request(method, path, timeout=1.0, **kwargs)))

    _same(built, expected)


def test_only_the_toolkits_own_header_auths_skip_their_flow() -> None:
    class Subclass(BearerAuth):
        pass

    assert static_header(ApiKeyAuth("k", query="key")) is None
    assert static_header(Subclass("t")) is None
    assert static_header(httpx.BasicAuth("u", "p")) is None
    assert static_header(None) is None


def test_a_header_value_httpx_cannot_encode_fails_as_it_does() -> None:
    client = _client()
    target = _target(client, "/x")
    kwargs = {"headers": {"X-Name": "Zoë"}}

    with pytest.raises(UnicodeEncodeError):
        client.build_request("GET", "/x", **kwargs)
    with pytest.raises(UnicodeEncodeError):
        RequestBuilder(client).build("GET", target, None, **kwargs)


# -- over the wire: what the vendor receives ----------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "auth",
    [None, BearerAuth("tok"), BasicAuth("u", "p"), ApiKeyAuth("k", query="key")],
    ids=repr,
)
async def test_the_vendor_receives_what_httpxs_client_sends(
    server: FaultServer, mode: str, auth: httpx.Auth | None
) -> None:
    headers = {"Accept": "application/json"}
    adapter = _adapter(mode, server.url + "/api", auth=auth, headers=headers)
    try:
        await _send(adapter, "POST", "/v1/m", _ctx(), data={"To": "+1"}, headers={"X-K": "1"})
    finally:
        await _close(adapter)
    with httpx.Client(base_url=server.url + "/api", auth=auth, headers=headers) as client:
        client.post("/v1/m", data={"To": "+1"}, headers={"X-K": "1"})

    ours, httpxs = server.requests
    assert (ours.method, ours.path, ours.body) == (httpxs.method, httpxs.path, httpxs.body)
    assert dict(ours.headers) == dict(httpxs.headers)


@pytest.mark.parametrize("mode", MODES)
async def test_an_auth_flow_that_retries_after_a_401_is_driven_to_its_end(
    server: FaultServer, mode: str
) -> None:
    class Refreshing(httpx.Auth):
        closed = False

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
            try:
                request.headers["Authorization"] = "Bearer old"
                response = yield request
                if response.status_code == 401:
                    request.headers["Authorization"] = "Bearer new"
                    yield request
            finally:
                Refreshing.closed = True

    server.script(Fault.status(401), Fault.respond(201, {"id": "m1"}))
    adapter = _adapter(mode, server.url, auth=Refreshing())
    ctx = _ctx()
    try:
        response = await _send(adapter, "POST", "/v1/m", ctx, json={"n": 1})
    finally:
        await _close(adapter)

    assert [r.headers["authorization"] for r in server.requests] == ["Bearer old", "Bearer new"]
    assert [r.json() for r in server.requests] == [{"n": 1}, {"n": 1}]
    assert response.json() == {"id": "m1"}
    assert [r.status_code for r in response.history] == [401]
    assert response.history[0].json()["error"]["message"]  # read before the replay
    assert (ctx.status_code, ctx.request_sent, Refreshing.closed) == (201, True, True)


@pytest.mark.parametrize("mode", MODES)
async def test_httpxs_digest_auth_answers_its_challenge(server: FaultServer, mode: str) -> None:
    challenge = 'Digest realm="api", nonce="abc123", qop="auth", algorithm=MD5'
    server.script(Fault.respond(401, b"", {"WWW-Authenticate": challenge}), Fault.respond(200))
    adapter = _adapter(mode, server.url, auth=httpx.DigestAuth("user", "secret"))
    try:
        response = await _send(adapter, "GET", "/v1/me", _ctx())
    finally:
        await _close(adapter)

    first, second = server.requests
    assert "authorization" not in first.headers
    assert second.headers["authorization"].startswith('Digest username="user", realm="api"')
    assert response.status_code == 200


@pytest.mark.parametrize("mode", MODES)
async def test_an_auth_that_signs_the_body_signs_what_is_sent(
    server: FaultServer, mode: str
) -> None:
    auth = HmacAuth("s3cr3t", clock=FakeClock())
    adapter = _adapter(mode, server.url, auth=auth)
    try:
        await _send(adapter, "POST", "/v1/m", _ctx(), json={"amount": 5})
    finally:
        await _close(adapter)
    with httpx.Client(base_url=server.url, auth=auth) as client:
        client.post("/v1/m", json={"amount": 5})

    ours, httpxs = server.requests
    assert ours.headers["x-signature"] == httpxs.headers["x-signature"]
    assert ours.body == httpxs.body == b'{"amount":5}'


@pytest.mark.parametrize("mode", MODES)
async def test_an_auth_flow_that_refuses_ends_the_call_with_its_error(
    server: FaultServer, mode: str
) -> None:
    class Refusing(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
            response = yield request
            if response.status_code == 401:
                raise AuthenticationError("refused twice")

    server.script(Fault.status(401))
    adapter = _adapter(mode, server.url, auth=Refusing())
    try:
        with pytest.raises(AuthenticationError, match="refused twice"):
            await _send(adapter, "GET", "/v1/me", _ctx())
        response = await _send(adapter, "GET", "/v1/me", _ctx())  # the connection is usable
    finally:
        await _close(adapter)

    assert response.status_code == 200


@pytest.mark.parametrize("mode", MODES)
async def test_credentials_in_the_url_are_sent_as_basic_auth(
    server: FaultServer, mode: str
) -> None:
    adapter = _adapter(mode, f"http://us%40er:pw@127.0.0.1:{server.port}")
    try:
        await _send(adapter, "GET", "/v1/me", _ctx())
    finally:
        await _close(adapter)

    expected = httpx.BasicAuth("us@er", "pw")._auth_header
    assert server.requests[0].headers["authorization"] == expected


# -- the answer, the call's context, and what httpx's client does besides -------------------


@pytest.mark.parametrize("mode", MODES)
async def test_the_answer_is_read_as_httpxs_client_reads_it(server: FaultServer, mode: str) -> None:
    server.default = Fault.respond(201, {"id": "m1"}, {"X-Request-Id": "r1"})
    adapter = _adapter(mode, server.url)
    ctx = _ctx()
    try:
        ours = await _send(adapter, "POST", "/v1/m", ctx, json={})
    finally:
        await _close(adapter)
    with httpx.Client(base_url=server.url) as client:
        httpxs = client.post("/v1/m", json={})

    def seen(response: httpx.Response) -> tuple[Any, ...]:
        return (
            response.status_code,
            response.reason_phrase,
            response.http_version,
            response.headers["x-request-id"],
            response.content,
            response.json(),
            response.is_closed,
            response.is_stream_consumed,
            response.num_bytes_downloaded,
            response.history,
            response.next_request,
            str(response.request.url),
            response.request.content,
        )

    assert seen(ours) == seen(httpxs)
    assert ours.elapsed.total_seconds() > 0
    assert (ctx.status_code, ctx.request_sent) == (201, True)


@pytest.mark.parametrize("mode", MODES)
async def test_a_compressed_answer_is_decoded(server: FaultServer, mode: str) -> None:
    body = gzip.compress(b'{"ok": true}')
    server.script(Fault.respond(200, body, {"Content-Encoding": "gzip"}))
    adapter = _adapter(mode, server.url)
    try:
        response = await _send(adapter, "GET", "/v1/x", _ctx())
    finally:
        await _close(adapter)

    assert response.json() == {"ok": True}


@pytest.mark.parametrize("mode", MODES)
async def test_a_refused_connection_is_an_unsent_request(mode: str) -> None:
    host, port = refused_address()
    adapter = _adapter(mode, f"http://{host}:{port}")
    ctx = _ctx()
    try:
        with pytest.raises(VendorUnavailableError) as caught:
            await _send(adapter, "POST", "/v1/m", ctx, json={})
    finally:
        await _close(adapter)

    assert (ctx.request_sent, caught.value.maybe_processed) == (False, False)


@pytest.mark.parametrize("mode", MODES)
async def test_a_cookie_of_the_call_wins_over_the_jar(server: FaultServer, mode: str) -> None:
    server.script(Fault.respond(200, {}, {"Set-Cookie": "lb=node-7; Path=/"}))
    adapter = _adapter(mode, f"http://localhost:{server.port}")
    try:
        await _send(adapter, "GET", "/a", _ctx())
        await _send(adapter, "GET", "/a", _ctx())
        await _send(adapter, "GET", "/a", _ctx(), headers={"Cookie": "mine=1"})
    finally:
        await _close(adapter)

    assert [r.headers.get("cookie") for r in server.requests] == [None, "lb=node-7", "mine=1"]


@pytest.mark.parametrize("mode", MODES)
async def test_event_hooks_given_to_the_client_still_run(server: FaultServer, mode: str) -> None:
    seen: list[str] = []

    def on_request(request: httpx.Request) -> None:
        seen.append(f"request {request.method}")

    def on_response(response: httpx.Response) -> None:
        seen.append(f"response {response.status_code}")

    async def aon_request(request: httpx.Request) -> None:
        on_request(request)

    async def aon_response(response: httpx.Response) -> None:
        on_response(response)

    adapter = _adapter(mode, server.url)
    if isinstance(adapter, HttpAdapter):
        adapter._client.event_hooks = {"request": [on_request], "response": [on_response]}
    else:
        adapter._client.event_hooks = {"request": [aon_request], "response": [aon_response]}
    try:
        await _send(adapter, "GET", "/v1/x", _ctx())
    finally:
        await _close(adapter)

    assert seen == ["request GET", "response 200"]


@pytest.mark.parametrize("mode", MODES)
async def test_arguments_only_httpxs_client_knows_go_through_it(
    server: FaultServer, mode: str
) -> None:
    adapter = _adapter(mode, server.url)
    try:
        await _send(adapter, "POST", "/v1/upload", _ctx(), files={"f": ("a.txt", b"hello")})
    finally:
        await _close(adapter)

    received = server.requests[0]
    assert received.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'filename="a.txt"' in received.body
    assert b"hello" in received.body


@pytest.mark.parametrize("mode", MODES)
async def test_httpxs_log_line_is_written(
    server: FaultServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = _adapter(mode, server.url)
    try:
        with caplog.at_level(logging.INFO, logger="httpx"):
            await _send(adapter, "GET", "/v1/x", _ctx())
    finally:
        await _close(adapter)

    assert [r.getMessage() for r in caplog.records if r.name == "httpx"] == [
        f'HTTP Request: GET {server.url}/v1/x "HTTP/1.1 200 OK"'
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_closed_adapter_refuses_as_httpxs_client_does(
    server: FaultServer, mode: str
) -> None:
    adapter = _adapter(mode, server.url)
    await _close(adapter)

    with pytest.raises(RuntimeError, match="the client has been closed"):
        await _send(adapter, "GET", "/v1/x", _ctx())


@pytest.mark.parametrize("mode", MODES)
async def test_a_closed_adapter_runs_no_auth_flow(server: FaultServer, mode: str) -> None:
    started: list[str] = []

    class Recording(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
            started.append(request.method)
            yield request

    adapter = _adapter(mode, server.url, auth=Recording())
    await _close(adapter)

    with pytest.raises(RuntimeError, match="the client has been closed"):
        await _send(adapter, "GET", "/v1/x", _ctx())
    assert started == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_redirect_is_not_followed_and_names_its_next_request(
    server: FaultServer, mode: str
) -> None:
    moved = Fault.respond(302, b"", {"Location": "/v2/moved?x=1"})
    server.script(moved, moved)
    adapter = _adapter(mode, server.url + "/api")
    try:
        ours = await _send(adapter, "POST", "/v1/m", _ctx(), check=False, json={"n": 1})
    finally:
        await _close(adapter)
    with httpx.Client(base_url=server.url + "/api") as client:
        httpxs = client.post("/v1/m", json={"n": 1})

    assert len(server.requests) == 2  # one each: neither followed the redirect
    assert ours.status_code == 302
    assert ours.next_request is not None
    assert httpxs.next_request is not None
    _same(ours.next_request, httpxs.next_request)


@pytest.mark.parametrize("mode", MODES)
async def test_a_failed_exchange_s_httpx_error_knows_its_request(mode: str) -> None:
    host, port = refused_address()
    adapter = _adapter(mode, f"http://{host}:{port}")
    try:
        with pytest.raises(VendorUnavailableError) as caught:
            await _send(adapter, "POST", "/v1/m", _ctx(), json={})
    finally:
        await _close(adapter)

    cause = caught.value.__cause__
    assert isinstance(cause, httpx.ConnectError)
    assert str(cause.request.url) == f"http://{host}:{port}/v1/m"
