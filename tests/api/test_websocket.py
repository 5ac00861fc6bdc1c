"""WebSocket sessions (vendor ``websocket``) against a real `websockets` server on
127.0.0.1: a drop mid-stream is reconnected through the pipeline with the retry backoff and
the subscription renewed; heartbeats find a silent peer; the send queue is bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from nexus_connector_core import (
    AsyncConnectorManager,
    AuthenticationError,
    CircuitOpenError,
    ConfigError,
    ConnectorManager,
    RateLimitExceededError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock

websockets = pytest.importorskip("websockets")
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

SUBSCRIBE = json.dumps({"subscribe": "prices"})


class Feed:
    """A price feed: each connection must subscribe first, then gets three prices in
    sequence; `drop` says what each connection does next, `refuse` how many handshakes to
    answer 503, `token` the bearer token it wants."""

    def __init__(self) -> None:
        self.connections = 0
        self.subscribes = 0
        self.refuse = 0
        self.price = 0
        self.token: str | None = None
        self.drop: dict[int, str] = {}
        self.stopping = asyncio.Event()

    def process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.refuse:
            self.refuse -= 1
            return connection.respond(503, "busy\n")
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return connection.respond(401, "who are you?\n")
        return None

    async def handler(self, connection: ServerConnection) -> None:
        self.connections += 1
        number = self.connections
        if await connection.recv() != SUBSCRIBE:
            await connection.close(1008, "subscribe first")
            return
        self.subscribes += 1
        for _ in range(3):
            self.price += 1
            await connection.send(str(self.price))
        what = self.drop.get(number)
        if what == "abort":  # the network fails: no closing handshake
            connection.transport.abort()
        elif what == "silent":  # alive but deaf: pings go unanswered
            connection.transport.pause_reading()
            await self.stopping.wait()
            connection.transport.abort()
        else:
            await connection.wait_closed()


@pytest.fixture
async def feed() -> AsyncIterator[tuple[Feed, str]]:
    feed = Feed()
    async with serve(feed.handler, "127.0.0.1", 0, process_request=feed.process_request) as server:
        port = server.sockets[0].getsockname()[1]
        yield feed, f"ws://127.0.0.1:{port}/v1/stream"
        feed.stopping.set()


def config(url: str, **table: Any) -> dict[str, Any]:
    options = {"url": url, **table.pop("options", {})}
    return {
        "connectors": {
            "feed": {
                "category": "api",
                "vendor": "websocket",
                "options": options,
                "resilience": {
                    "retry": {"max_attempts": 3, "base": 0.5, "jitter": "none"},
                    **table.pop("resilience", {}),
                },
                **table,
            }
        },
        "observability": {"loggers": ["memory"]},
    }


async def subscribe(session: Any) -> None:
    await session.send_now(SUBSCRIBE)


async def test_a_dropped_session_reconnects_with_the_retry_backoff_and_resubscribes(
    feed: tuple[Feed, str],
) -> None:
    server, url = feed
    server.drop[1] = "abort"
    clock = FakeClock()
    async with AsyncConnectorManager.from_config(config(url), clock=clock) as manager:
        async with manager.connector("feed", "api").session(on_connect=subscribe) as ws:
            server.refuse = 1  # the first reconnection's handshake is refused: backoff
            prices = [await ws.recv() for _ in range(6)]
            stats = ws.stats
        records = manager.call_log
    assert prices == ["1", "2", "3", "4", "5", "6"]
    assert server.subscribes == 2
    assert clock.sleeps == [0.5]  # the retry policy's first delay
    assert (stats.connects, stats.reconnects, stats.received) == (2, 1, 6)
    assert [(r.operation, r.attempts, r.status) for r in records] == [
        ("connect", 1, "ok"),
        ("connect", 2, "ok"),
    ]


async def test_an_unanswered_heartbeat_counts_as_a_drop(feed: tuple[Feed, str]) -> None:
    server, url = feed
    server.drop[1] = "silent"
    options = {"heartbeat": 0.05, "heartbeat_timeout": 0.05}
    async with AsyncConnectorManager.from_config(config(url, options=options)) as manager:
        async with manager.connector("feed").session(on_connect=subscribe) as ws:
            prices = [await ws.recv() for _ in range(6)]
            assert ws.stats.reconnects == 1
    assert prices == ["1", "2", "3", "4", "5", "6"]


async def test_sessions_connect_through_the_breaker(feed: tuple[Feed, str]) -> None:
    server, url = feed
    server.refuse = 100
    breaker = {"failure_rate": 0.5, "window": 2, "min_calls": 2, "open_for": 30.0}
    table = {"resilience": {"retry": {"max_attempts": 2, "base": 0.1}, "circuit_breaker": breaker}}
    clock = FakeClock()
    async with AsyncConnectorManager.from_config(config(url, **table), clock=clock) as manager:
        feed_api = manager.connector("feed")
        with pytest.raises(VendorUnavailableError) as refused:
            async with feed_api.session():
                pass
        with pytest.raises(CircuitOpenError):
            async with feed_api.session():
                pass
    assert not refused.value.maybe_processed
    assert server.refuse == 98  # two handshakes; the open breaker sent none


async def test_a_connect_beyond_the_rate_limit_is_refused_before_any_handshake(
    feed: tuple[Feed, str],
) -> None:
    server, url = feed
    table = {"resilience": {"rate_limit": {"rate": 1, "per": 60.0}}}
    async with AsyncConnectorManager.from_config(config(url, **table), clock=FakeClock()) as m:
        async with m.connector("feed").session(on_connect=subscribe) as ws:
            assert await ws.recv() == "1"
        with pytest.raises(RateLimitExceededError) as refused:
            async with m.connector("feed").session():
                pass
        records = m.call_log
    assert server.connections == 1  # the refused session never reached the server
    assert not refused.value.maybe_processed
    assert refused.value.retry_after == pytest.approx(60.0)
    assert [(r.operation, r.status) for r in records] == [("connect", "ok"), ("connect", "error")]


async def test_a_connect_waits_for_the_rate_limit_when_the_policy_says_wait(
    feed: tuple[Feed, str],
) -> None:
    server, url = feed
    limit = {"rate": 1, "per": 10.0, "wait": True, "max_wait": 20.0}
    clock = FakeClock()
    table = {"resilience": {"rate_limit": limit}}
    async with AsyncConnectorManager.from_config(config(url, **table), clock=clock) as m:
        for _ in range(2):
            async with m.connector("feed").session(on_connect=subscribe) as ws:
                await ws.recv()
    assert server.connections == 2
    assert clock.sleeps == [10.0]  # the second handshake waited for its token


async def test_a_reconnection_after_a_drop_waits_for_the_rate_limit(
    feed: tuple[Feed, str],
) -> None:
    server, url = feed
    server.drop[1] = "abort"
    limit = {"rate": 1, "per": 10.0, "wait": True, "max_wait": 20.0}
    clock = FakeClock()
    table = {"resilience": {"rate_limit": limit}}
    async with AsyncConnectorManager.from_config(config(url, **table), clock=clock) as m:
        async with m.connector("feed").session(on_connect=subscribe) as ws:
            prices = [await ws.recv() for _ in range(6)]
            stats = ws.stats
    assert prices == ["1", "2", "3", "4", "5", "6"]
    assert (stats.connects, stats.reconnects) == (2, 1)
    assert clock.sleeps == [10.0]  # no backoff needed: the limiter's wait alone


async def test_the_auth_table_goes_with_the_handshake(feed: tuple[Feed, str]) -> None:
    server, url = feed
    server.token = "feed-token-VALUE"
    table = {"auth": {"kind": "bearer", "token": "env:FEED_TOKEN"}}
    environ = {"FEED_TOKEN": "feed-token-VALUE"}
    async with AsyncConnectorManager.from_config(config(url, **table), environ=environ) as m:
        async with m.connector("feed").session(on_connect=subscribe) as ws:
            assert await ws.recv() == "1"
    server.token = "another"
    async with AsyncConnectorManager.from_config(config(url, **table), environ=environ) as m:
        with pytest.raises(AuthenticationError) as raised:
            async with m.connector("feed").session():
                pass
    assert "feed-token-VALUE" not in str(raised.value)


async def test_the_send_queue_is_bounded(feed: tuple[Feed, str]) -> None:
    _, url = feed
    async with AsyncConnectorManager.from_config(config(url, options={"send_queue": 2})) as m:
        async with m.connector("feed").session() as ws:
            ws.send_nowait(SUBSCRIBE)
            ws.send_nowait("hello")
            with pytest.raises(RateLimitExceededError, match="send queue"):
                ws.send_nowait("one too many")
            await ws.drain()
            assert await ws.recv() == "1"
            assert ws.stats.sent == 2


async def test_messages_and_sessions_are_measured(feed: tuple[Feed, str], otel: Any) -> None:
    server, url = feed
    server.drop[1] = "abort"
    async with AsyncConnectorManager.from_config(config(url), clock=FakeClock()) as manager:
        async with manager.connector("feed").session(on_connect=subscribe) as ws:
            for _ in range(4):
                await ws.recv()
    received = [
        p.value
        for p in otel.points("nexus_connector.websocket.messages")
        if p.attributes["nexus_connector.direction"] == "received"
    ]
    assert received == [4]
    assert [p.value for p in otel.points("nexus_connector.websocket.reconnects")] == [1]
    assert [p.value for p in otel.points("nexus_connector.websocket.sessions")] == [0]
    assert len(otel.points("nexus_connector.websocket.session.duration")) == 1


def test_the_sync_manager_has_no_websocket_sessions(feed: Any) -> None:
    pytest.importorskip("websockets")
    with ConnectorManager.from_config(config("ws://127.0.0.1:9/x")) as manager:
        connector = manager.connector("feed")
        assert not hasattr(connector, "session")
        with pytest.raises(ConfigError, match="AsyncConnectorManager"):
            connector.adapter  # noqa: B018 - building it is the point


def test_a_websocket_url_must_be_ws_or_wss() -> None:
    with pytest.raises(ConfigError) as raised:
        AsyncConnectorManager.from_config(config("https://feed.example.com"))
    assert "connectors.feed.options.url" in str(raised.value)
