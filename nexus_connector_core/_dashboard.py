"""The live dashboard: one page served by an ASGI app, kept current by Server-Sent Events.

    from nexus_connector_core.asgi import dashboard_app

    app.mount("/ops/dashboard", dashboard_app(manager, token="env-provided-token"))

The page (HTML, a script and a style sheet, served by the app: no build step, no CDN) shows
per connector its vendor chain with each breaker's state and recent transitions and each
shared rate limiter's free tokens, calls and
errors per second and latency percentiles across the fleet (when calls are counted: an SLO,
an alert rule or ``[alerting] count_calls = true``), this worker's recent calls, SLO
attainment, error budget and burn rates, firing alerts and the last errors (messages with
addresses, numbers and tokens masked). It is read-only.

Routes, relative to where it is mounted (it honours the ASGI ``root_path``, and every URL
the page uses is relative): ``/`` the page, ``/events`` the stream (one ``snapshot`` event
every `interval` seconds), ``/snapshot`` one snapshot as JSON, ``/dashboard.js`` and
``/dashboard.css``. With a `token`, every request needs ``Authorization: Bearer <token>`` or
the cookie the page sets when first opened as ``/?token=<token>`` (EventSource cannot send
headers); the token is compared in constant time and never logged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ._alerts import AlertsReport
from ._async_manager import AsyncConnectorManager
from ._credentials import Secret
from ._errors import StateBackendUnavailableError
from ._health import HealthReport
from ._manager import ConnectorManager
from ._slo import SloReport, WindowCounts, window_query
from ._state import LimiterSnapshot, SloQuery

__all__ = ["dashboard_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Breaker transitions kept per vendor, and for how long (seconds).
TIMELINE_POINTS = 50
TIMELINE_SECONDS = 600.0
_COOKIE = "nexus_dashboard"
_ASSETS = {
    "": ("index.html", b"text/html; charset=utf-8"),
    "dashboard.js": ("dashboard.js", b"text/javascript; charset=utf-8"),
    "dashboard.css": ("dashboard.css", b"text/css; charset=utf-8"),
}
_SECURITY = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_encoder = msgspec.json.Encoder()


# -- what the page shows ------------------------------------------------------------------------


class _Gathered(msgspec.Struct, kw_only=True):
    """What one snapshot reads from the manager."""

    health: HealthReport
    slo: SloReport | None = None
    alerts: AlertsReport | None = None
    sums: list[dict[str, int]] = []
    queries: list[tuple[str, str]] = []


def _traffic_queries(names: list[str], now: float) -> tuple[list[SloQuery], list[tuple[str, str]]]:
    """Per connector: the current minute, the one before, and the last 5 minutes."""
    queries, keys = [], []
    for name in names:
        current = window_query(name, 60.0, now)
        queries += [
            current,
            SloQuery(series=name, resolution=60, first=current.first - 1, last=current.first - 1),
            window_query(name, 300.0, now),
        ]
        keys += [(name, "minute"), (name, "previous"), (name, "5m")]
    return queries, keys


def _gather_sync(manager: ConnectorManager, counting: bool) -> _Gathered:
    gathered = _Gathered(health=manager.health(checks=False))  # rate-limit headroom included
    try:
        if manager.config.alerting.slos:
            gathered.slo = manager.slo()
        if manager.config.alerting.rules:
            gathered.alerts = manager.alerts()
        if counting:
            now = manager.clock.time()
            queries, gathered.queries = _traffic_queries(list(manager.config.connectors), now)
            gathered.sums = manager.state.slo_read(queries)
    except StateBackendUnavailableError:
        pass  # health says so; the rest shows as unknown
    return gathered


async def _gather_async(manager: AsyncConnectorManager, counting: bool) -> _Gathered:
    gathered = _Gathered(health=await manager.health(checks=False))
    try:
        if manager.config.alerting.slos:
            gathered.slo = await manager.slo()
        if manager.config.alerting.rules:
            gathered.alerts = await manager.alerts()
        if counting:
            now = manager.clock.time()
            queries, gathered.queries = _traffic_queries(list(manager.config.connectors), now)
            gathered.sums = await manager.state.slo_read(queries)
    except StateBackendUnavailableError:
        pass
    return gathered


def _seconds(value: float | None) -> float | str | None:
    if value is None:
        return None
    return "inf" if math.isinf(value) else value


def _traffic(gathered: _Gathered, name: str, now: float) -> dict[str, Any] | None:
    found = dict(zip(gathered.queries, gathered.sums, strict=False))
    if (name, "5m") not in found:
        return None
    current = WindowCounts.from_sums(found[(name, "minute")])
    previous = WindowCounts.from_sums(found[(name, "previous")])
    recent = WindowCounts.from_sums(found[(name, "5m")])
    # A sliding minute: all of this minute's calls and the part of the last minute's that
    # still falls within 60 seconds of now.
    weight = 1.0 - (now % 60.0) / 60.0

    def per_second(now_count: int, before: int) -> float:
        return (now_count + before * weight) / 60.0

    return {
        "calls_per_s": per_second(
            current.calls + current.excluded, previous.calls + previous.excluded
        ),
        "errors_per_s": per_second(
            current.failed + current.excluded, previous.failed + previous.excluded
        ),
        "p50": _seconds(recent.percentile(0.50)),
        "p95": _seconds(recent.percentile(0.95)),
        "p99": _seconds(recent.percentile(0.99)),
        "window": "5m",
    }


class _Timeline:
    """The breaker transitions this dashboard has seen, per connector and vendor."""

    def __init__(self) -> None:
        self._points: dict[tuple[str, str], collections.deque[tuple[float, str]]] = {}

    def see(self, connector: str, vendor: str, state: str, now: float) -> None:
        points = self._points.get((connector, vendor))
        if points is None:
            points = self._points[(connector, vendor)] = collections.deque(maxlen=TIMELINE_POINTS)
        if not points or points[-1][1] != state:
            points.append((now, state))

    def of(self, connector: str, now: float) -> list[dict[str, Any]]:
        merged = []
        for (name, vendor), points in self._points.items():
            if name != connector:
                continue
            start = now - TIMELINE_SECONDS
            kept = [p for p in points if p[0] >= start]
            older = [p for p in points if p[0] < start]
            if older:  # the state in force when the window starts
                kept.insert(0, (start, older[-1][1]))
            merged += [{"vendor": vendor, "state": state, "at": _iso(at)} for at, state in kept]
        return sorted(merged, key=lambda p: p["at"])


def _limit(snapshot: LimiterSnapshot | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    return {
        "available": snapshot.available,
        "capacity": snapshot.capacity,
        "retry_after": snapshot.retry_after,
    }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _snapshot(
    gathered: _Gathered,
    *,
    now: float,
    timeline: _Timeline,
    errors: dict[str, Any],
    counting: bool,
) -> dict[str, Any]:
    connectors = []
    slos = gathered.slo.slos if gathered.slo is not None else ()
    for name, health in gathered.health.connectors.items():
        for vendor in health.vendors:
            if vendor.breaker is not None:
                timeline.see(name, vendor.vendor, vendor.breaker, now)
        connectors.append(
            {
                "name": name,
                "category": health.category,
                "status": health.status,
                "reasons": list(health.reasons),
                "vendors": [
                    {
                        "vendor": v.vendor,
                        "breaker": v.breaker,
                        "retry_after": v.retry_after,
                        "window_calls": v.window_calls,
                        "window_failures": v.window_failures,
                        "limit": _limit(v.limiter),
                    }
                    for v in health.vendors
                ],
                "timeline": timeline.of(name, now),
                "traffic": _traffic(gathered, name, now) if counting else None,
                "recent": msgspec.to_builtins(health.recent),
                "slo": [msgspec.to_builtins(s) for s in slos if s.connector == name],
                "errors": [msgspec.to_builtins(e) for e in errors.get(name, ())],
            }
        )
    return {
        "at": _iso(now),
        "status": gathered.health.status,
        "counting": counting,
        "alerts": msgspec.to_builtins(gathered.alerts) if gathered.alerts is not None else None,
        "connectors": connectors,
    }


# -- the app --------------------------------------------------------------------------------


class _Dashboard:
    def __init__(
        self,
        manager: ConnectorManager | AsyncConnectorManager,
        token: str | Secret | None,
        interval: float,
    ) -> None:
        if not (isinstance(interval, int | float) and 0.1 <= interval <= 60.0):
            raise ValueError(f"interval must be from 0.1 to 60 seconds, got {interval!r}")
        self.manager = manager
        secret = token.reveal() if isinstance(token, Secret) else token
        if secret is not None and len(secret) < 16:
            raise ValueError("token must be at least 16 characters (use secrets.token_urlsafe())")
        self._token = secret.encode() if secret is not None else None
        # The cookie holds a digest of the token, not the token.
        self._cookie = (
            hashlib.sha256(b"nexus-dashboard:" + self._token).hexdigest()
            if self._token is not None
            else None
        )
        self.interval = float(interval)
        self.timeline = _Timeline()
        self._cached: tuple[float, bytes] | None = None
        self._lock: asyncio.Lock | None = None
        self._assets = {
            route: (
                (files("nexus_connector_core") / "_dashboard_static" / name).read_bytes(),
                kind,
            )
            for route, (name, kind) in _ASSETS.items()
        }

    async def snapshot(self) -> bytes:
        """The current snapshot as JSON, read at most once per interval for every viewer."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() - cached[0] < self.interval * 0.9:
                return cached[1]
            manager = self.manager
            monitor = manager.monitor
            counting = monitor is not None
            if isinstance(manager, AsyncConnectorManager):
                gathered = await _gather_async(manager, counting)
            else:
                gathered = await asyncio.to_thread(_gather_sync, manager, counting)
            errors = monitor.counter.last_errors() if monitor is not None else {}
            body = _encoder.encode(
                _snapshot(
                    gathered,
                    now=manager.clock.time(),
                    timeline=self.timeline,
                    errors=errors,
                    counting=counting,
                )
            )
            self._cached = (time.monotonic(), body)
            return body

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "") or ""
        path = scope.get("path", "") or ""
        if root and path.startswith(root):
            path = path[len(root) :]
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            await _answer(send, 405, b"use GET\n", b"text/plain", [(b"allow", b"GET, HEAD")])
            return
        if path == "":  # mounted at /x and asked for /x: relative URLs need /x/
            await _answer(send, 308, b"", b"text/plain", [(b"location", (root + "/").encode())])
            return
        route = path.lstrip("/")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        extra: list[tuple[bytes, bytes]] = []
        if not self._allowed(scope):
            offered = query.get("token", [""])[0].encode()
            if (
                route == ""
                and self._token is not None
                and hmac.compare_digest(offered, self._token)
            ):
                cookie = (
                    f"{_COOKIE}={self._cookie}; Path={root or '/'}; HttpOnly; SameSite=Strict"
                ).encode()
                location = (root + "/").encode()
                await _answer(
                    send,
                    303,
                    b"",
                    b"text/plain",
                    [(b"set-cookie", cookie), (b"location", location)],
                )
                return
            await _answer(
                send,
                401,
                b"This dashboard needs its token: open it as ?token=... or send "
                b"Authorization: Bearer ...\n",
                b"text/plain; charset=utf-8",
                [(b"www-authenticate", b'Bearer realm="nexus-dashboard"')],
            )
            return
        if route == "events":
            await self._stream(send, receive)
            return
        if route == "snapshot":
            body = await self.snapshot()
            await _answer(send, 200, body, b"application/json", head=method == "HEAD")
            return
        asset = self._assets.get(route)
        if asset is None:
            await _answer(send, 404, b"not found\n", b"text/plain")
            return
        await _answer(send, 200, asset[0], asset[1], extra, head=method == "HEAD")

    def _allowed(self, scope: Scope) -> bool:
        if self._token is None:
            return True
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                if hmac.compare_digest(value[7:].strip(), self._token):
                    return True
            elif name == b"cookie" and self._cookie is not None:
                for part in value.split(b";"):
                    key, _, held = part.strip().partition(b"=")
                    if key == _COOKIE.encode() and hmac.compare_digest(held, self._cookie.encode()):
                        return True
        return False

    async def _stream(self, send: Send, receive: Receive) -> None:
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"x-accel-buffering", b"no"),
            *_SECURITY,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            await send(
                {"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True}
            )
            while not gone.is_set():
                body = await self.snapshot()
                event = b"event: snapshot\ndata: " + body + b"\n\n"
                await send({"type": "http.response.body", "body": event, "more_body": True})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gone.wait(), self.interval)
        finally:
            watcher.cancel()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    kind: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    head: bool = False,
) -> None:
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        *_SECURITY,
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def dashboard_app(
    manager: ConnectorManager | AsyncConnectorManager,
    *,
    token: str | Secret | None = None,
    interval: float = 1.0,
) -> ASGIApp:
    """An ASGI app serving the live dashboard of `manager` (see the module's docstring):
    a snapshot every `interval` seconds (0.1 to 60), behind `token` when given (at least
    16 characters)."""
    return _Dashboard(manager, token, interval)
