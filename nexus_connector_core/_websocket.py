"""WebSocket sessions: a connection that outlives its drops, opened through the pipeline.

    async with manager.connector("feed").session(on_connect=subscribe) as ws:
        await ws.send('{"subscribe": "prices"}')
        async for message in ws:
            ...

Each (re)connection is the connector's ``connect`` operation: the breaker and the rate
limit admit it, the retry policy retries a failed handshake with its backoff, and it is
logged and traced like any call. When the connection drops (the server closes it, the
network fails, or a heartbeat goes unanswered for ``heartbeat_timeout``), the session
connects again the same way and calls `on_connect` (resubscribe there): ``recv`` and
iteration carry on with the new connection. When the pipeline gives up (its retries spent,
the breaker open), the session fails: ``recv`` and ``send`` raise that error.

Messages to send wait in a bounded queue (``send_queue``): `send` waits for room,
`send_nowait` raises `RateLimitExceededError` when it is full. A message the drop caught in
flight is sent again on the next connection (at least once).

Metrics (OpenTelemetry, when the application set a meter provider), attributes connector
and vendor: ``nexus_connector.websocket.messages`` (``direction`` sent or received),
``nexus_connector.websocket.reconnects``, ``nexus_connector.websocket.sessions`` (open
sessions) and ``nexus_connector.websocket.session.duration`` (seconds); the same counts on
`stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from ._errors import ConnectorError, RateLimitExceededError

if TYPE_CHECKING:
    from ._async_connectors import AsyncApiConnector

__all__ = ["AsyncWebSocketSession", "OnConnect", "SessionStats", "WebSockets"]

Message = str | bytes
#: Called after each connection opens (the first too): resubscribe here.
OnConnect = Callable[["AsyncWebSocketSession"], Awaitable[None]]


@dataclass
class SessionStats:
    """What a session did so far."""

    sent: int = 0
    received: int = 0
    connects: int = 0
    reconnects: int = 0


class _Metrics:
    """The session's instruments, when the application set a meter provider."""

    def __init__(self, connector: str, vendor: str) -> None:
        from ._telemetry import _meter_provider

        self.attributes = {"nexus_connector.connector": connector, "nexus_connector.vendor": vendor}
        provider = _meter_provider()
        self.meter = None
        if provider is None:
            return
        from ._version import __version__

        meter = provider.get_meter("nexus_connector", __version__)
        self.meter = meter
        self.messages = meter.create_counter(
            "nexus_connector.websocket.messages", unit="{message}", description="Messages"
        )
        self.reconnects = meter.create_counter(
            "nexus_connector.websocket.reconnects",
            unit="{connection}",
            description="Connections opened again after a drop",
        )
        self.sessions = meter.create_up_down_counter(
            "nexus_connector.websocket.sessions", unit="{session}", description="Open sessions"
        )
        self.duration = meter.create_histogram(
            "nexus_connector.websocket.session.duration",
            unit="s",
            description="How long sessions lasted",
        )

    def message(self, direction: str) -> None:
        if self.meter is not None:
            self.messages.add(1, {**self.attributes, "nexus_connector.direction": direction})

    def reconnected(self) -> None:
        if self.meter is not None:
            self.reconnects.add(1, self.attributes)

    def opened(self) -> None:
        if self.meter is not None:
            self.sessions.add(1, self.attributes)

    def closed(self, seconds: float) -> None:
        if self.meter is not None:
            self.sessions.add(-1, self.attributes)
            self.duration.record(seconds, self.attributes)


class AsyncWebSocketSession:
    """A WebSocket session of an ``api`` connector of vendor ``websocket`` (see the module's
    docstring); made by ``connector.session()``, used as ``async with``."""

    def __init__(self, connector: AsyncApiConnector, on_connect: OnConnect | None = None) -> None:
        options = connector.settings.options
        self.connector = connector
        self.on_connect = on_connect
        self.stats = SessionStats()
        self._queue: asyncio.Queue[Message] = asyncio.Queue(options.send_queue)
        self._connection: Any = None
        self._lock = asyncio.Lock()
        self._sender: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._closed = False
        self._started = 0.0
        self._metrics = _Metrics(connector.name, connector.vendor)

    # -- the connection --------------------------------------------------------------------

    async def _connect(self) -> None:
        from .vendors.websocket import WebSocketConnect

        operation = self.connector.operation("connect")
        self._connection = await self.connector._call(operation, WebSocketConnect(), None)
        self.stats.connects += 1
        if self.on_connect is not None:
            await self.on_connect(self)

    async def _reconnect(self, dropped: Any) -> Any:
        """A connection to use in place of `dropped`: the current one if another task
        already replaced it, else a new one through the pipeline."""
        async with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._closed:
                raise ConnectorError(
                    "the WebSocket session is closed", connector=self.connector.name
                )
            if self._connection is dropped:
                try:
                    await self._connect()
                except BaseException as exc:
                    self._failure = exc
                    raise
                self.stats.reconnects += 1
                self._metrics.reconnected()
            return self._connection

    async def _send_loop(self) -> None:
        from websockets.exceptions import ConnectionClosed

        while True:
            message = await self._queue.get()
            while True:
                connection = self._connection
                try:
                    await connection.send(message)
                except ConnectionClosed:
                    await self._reconnect(connection)  # then send the message again
                    continue
                break
            self.stats.sent += 1
            self._metrics.message("sent")
            self._queue.task_done()

    # -- what applications use -------------------------------------------------------------

    async def send_now(self, message: Message) -> None:
        """Send `message` on the current connection at once, ahead of the queue: for
        `on_connect`, whose subscriptions must reach the new connection first."""
        self._check()
        await self._connection.send(message)
        self.stats.sent += 1
        self._metrics.message("sent")

    async def send(self, message: Message) -> None:
        """Queue `message`; waits while the send queue is full."""
        self._check()
        await self._queue.put(message)

    def send_nowait(self, message: Message) -> None:
        """Queue `message`, or `RateLimitExceededError` (``local``) when the queue is full."""
        self._check()
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            raise RateLimitExceededError(
                f"the send queue of this WebSocket session is full ({self._queue.maxsize} "
                "messages); wait with send(), or raise options.send_queue",
                local=True,
                connector=self.connector.name,
            ) from None

    async def drain(self) -> None:
        """Wait until every queued message has been sent."""
        self._check()
        await self._queue.join()

    async def recv(self) -> Message:
        """The next message from the server, across reconnections."""
        from websockets.exceptions import ConnectionClosed

        while True:
            self._check()
            connection = self._connection
            try:
                message: Message = await connection.recv()
            except ConnectionClosed:
                if self._closed:
                    raise
                await self._reconnect(connection)
                continue
            self.stats.received += 1
            self._metrics.message("received")
            return message

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        from websockets.exceptions import ConnectionClosed

        while not self._closed:
            try:
                yield await self.recv()
            except ConnectionClosed:
                return

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._sender is not None and self._sender.done() and not self._sender.cancelled():
            failure = self._sender.exception()
            if failure is not None:
                self._failure = failure
                raise failure
        if self._connection is None or self._closed:
            raise ConnectorError(
                "the WebSocket session is not open: use it as `async with connector.session()`",
                connector=self.connector.name,
            )

    async def __aenter__(self) -> Self:
        self._started = self.connector._clock.monotonic()
        await self._connect()
        self._sender = asyncio.create_task(self._send_loop())
        self._metrics.opened()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        self._metrics.closed(self.connector._clock.monotonic() - self._started)


class WebSockets:
    """The `session` method of the asynchronous ``api`` connector."""

    def session(self: Any, *, on_connect: OnConnect | None = None) -> AsyncWebSocketSession:
        """A WebSocket session of this connector (vendor ``websocket``), for ``async with``;
        `on_connect` runs after each connection opens (resubscribe there)."""
        if "connect" not in self.category.operations:
            raise ConnectorError(
                f"connector {self.name!r} (vendor {self.vendor!r}) has no WebSocket sessions; "
                "use a connector of vendor 'websocket'",
                connector=self.name,
            )
        return AsyncWebSocketSession(self, on_connect)
