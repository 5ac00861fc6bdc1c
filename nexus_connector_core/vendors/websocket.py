"""Vendor ``websocket`` of category ``api``: WebSocket sessions on the `websockets` library
(``pip install nexus-connector-core[websocket]``), opened through the connector's pipeline.

    [connectors.feed]
    category = "api"
    vendor = "websocket"
    options = { url = "wss://feed.example.com/v1/stream", heartbeat = 15.0 }
    auth = { kind = "bearer", token = "env:FEED_TOKEN" }

The connector has one operation, ``connect`` (idempotent: a refused handshake did nothing),
which the session runs through the breaker, the rate limit and the retry policy each time it
(re)connects; see `AsyncWebSocketSession`. Sessions are asynchronous only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import httpx
import msgspec

from .._adapters import AdapterSettings
from .._api import API, check_header_name
from .._api_config import ApiAuth
from .._config_ranges import between, check_ranges
from .._context import CallContext
from .._errors import ConfigError, ConnectorError, VendorTimeoutError, VendorUnavailableError
from .._operations import Operation
from ..http import status_error
from .http_api import auth_flow

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

__all__ = [
    "AsyncWebSocketAdapter",
    "WebSocketAdapter",
    "WebSocketConnect",
    "WebSocketOptions",
]


class WebSocketConnect(msgspec.Struct, frozen=True):
    """The request of the ``connect`` operation (the options say where)."""


class WebSocketOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``options`` of a ``websocket`` connector."""

    takes_endpoints: ClassVar[bool] = False

    #: The server (``wss://feed.example.com/v1/stream``).
    url: str
    #: Headers of the opening handshake (not secrets).
    headers: dict[str, str] = {}
    #: Seconds between heartbeats (pings); ``0`` turns them off.
    heartbeat: Annotated[float, between(0.0, 3600.0)] = 20.0
    #: Seconds a ping may wait for its pong before the connection counts as dropped.
    heartbeat_timeout: Annotated[float, between(0.01, 3600.0)] = 20.0
    #: Messages the session's send queue holds before `send` waits.
    send_queue: Annotated[int, between(1, 1_000_000)] = 1000
    #: The largest message accepted from the server, in bytes.
    max_message: Annotated[int, between(1, 1 << 30)] = 1 << 20
    #: Subprotocols to offer (``Sec-WebSocket-Protocol``).
    subprotocols: list[str] = []
    #: Filled from the connector's ``auth`` table (sent with the handshake).
    auth: ApiAuth | None = None

    def __post_init__(self) -> None:
        check_ranges(self)
        try:
            url = httpx.URL(self.url)
        except (httpx.InvalidURL, TypeError):
            raise ValueError("url is not a valid URL") from None
        if url.scheme not in ("ws", "wss") or not url.host:
            raise ValueError("url must be an absolute ws:// or wss:// URL")
        if url.userinfo:
            raise ValueError("url must not hold credentials; use the auth table")
        for name, value in self.headers.items():
            check_header_name(name)
            if not (value.isascii() and value.isprintable()):
                raise ValueError(f"header {name!r} must be printable ASCII")

    def operations(self) -> tuple[Operation[Any, Any], ...]:
        """``connect``: open a connection (its result is live: never cached or stored)."""
        return (Operation("connect", API, WebSocketConnect, object, idempotent=True, streams=True),)


def _http_twin(url: str) -> str:
    return "http" + url.removeprefix("ws") if url.startswith("ws") else url


class AsyncWebSocketAdapter:
    """Opens WebSocket connections for sessions: auth in the handshake, the attempt's
    timeout on the handshake, failures as the library's errors (a refused or failed
    handshake did nothing: ``maybe_processed=False``)."""

    def __init__(self, settings: AdapterSettings) -> None:
        try:
            import websockets  # noqa: F401 - only to say what to install
        except ImportError:
            raise ConfigError(
                "vendor 'websocket' needs the websockets library: "
                "pip install nexus-connector-core[websocket]",
                path=f"connectors.{settings.connector}.vendor",
            ) from None
        self.options: WebSocketOptions = settings.options
        self.vendor = settings.vendor
        self._auth, _, _ = auth_flow(settings, self.options.auth)

    async def _handshake(self) -> tuple[str, dict[str, str]]:
        """The URL and headers of the opening handshake, auth applied."""
        from ..auth import OAuth2Auth

        url, headers = self.options.url, dict(self.options.headers)
        if isinstance(self._auth, OAuth2Auth):
            token = await self._auth.aget_token()
            headers["Authorization"] = f"Bearer {token.reveal()}"
        elif self._auth is not None:
            request = httpx.Request("GET", _http_twin(url), headers=headers)
            prepared = next(self._auth.auth_flow(request))
            headers = {k: v for k, v in prepared.headers.items() if k.lower() != "host"}
            if prepared.url.query:
                separator = "&" if "?" in url else "?"
                url = f"{url}{separator}{prepared.url.query.decode()}"
        return url, headers

    async def connect(self, request: WebSocketConnect, ctx: CallContext) -> ClientConnection:
        """One opening handshake, within the attempt's timeout."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

        options = self.options
        url, headers = await self._handshake()
        ctx.request_sent = False
        heartbeat = options.heartbeat or None
        try:
            connection = await connect(
                url,
                additional_headers=headers,
                subprotocols=options.subprotocols or None,  # type: ignore[arg-type]
                open_timeout=ctx.timeout,
                ping_interval=heartbeat,
                ping_timeout=options.heartbeat_timeout if heartbeat else None,
                close_timeout=options.heartbeat_timeout,
                max_size=options.max_message,
                max_queue=64,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            ctx.status_code = status
            raise status_error(
                status, vendor="the WebSocket server", maybe_processed=False
            ) from exc
        except InvalidURI as exc:
            raise ConfigError(
                "the WebSocket URL is not valid; check options.url",
                path=f"connectors.{ctx.connector}.options.url",
            ) from exc
        except TimeoutError as exc:
            raise VendorTimeoutError(
                "the WebSocket server did not complete the handshake in time",
                maybe_processed=False,
            ) from exc
        except (OSError, InvalidHandshake) as exc:
            reason = f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
            raise VendorUnavailableError(
                f"the WebSocket server could not be reached ({type(exc).__name__}{reason})",
                maybe_processed=False,
            ) from exc
        ctx.status_code = 101
        return connection


class WebSocketAdapter:
    """The synchronous manager has no WebSocket sessions: they need an event loop."""

    def __init__(self, settings: AdapterSettings) -> None:
        raise ConfigError(
            "WebSocket sessions are asynchronous: use AsyncConnectorManager for connector "
            f"{settings.connector!r}",
            path=f"connectors.{settings.connector}.vendor",
        )

    def connect(self, request: WebSocketConnect, ctx: CallContext) -> Any:
        raise ConnectorError("unreachable: the synchronous adapter is never built")
