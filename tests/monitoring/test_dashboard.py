"""The dashboard app without a browser: its routes behind a prefix, its token, the snapshot it
streams, and its stream under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import types
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from nexus_connector_core import (
    AsyncConnectorManager,
    CallContext,
    ConnectorError,
    ConnectorManager,
    InvalidRequestError,
    PluginRegistry,
    SmsMessage,
    SmsReceipt,
    hookimpl,
)
from nexus_connector_core.asgi import dashboard_app
from nexus_connector_core.testing import FakeClock, Fault, FaultServer

TOKEN = "a-long-enough-dashboard-token"
W0 = 1_767_268_800.0


def _config() -> dict[str, Any]:
    return {
        "observability": {"loggers": []},
        "alerting": {"evaluate_every": 0},
        "connectors": {
            "sms": {
                "vendor": "memory",
                "options": {"fail_first": 2},
                "resilience": {
                    "retry": {"max_attempts": 1},
                    "circuit_breaker": {"window": 4, "min_calls": 4, "open_for": 60.0},
                    "rate_limit": {"rate": 10, "per": 60.0},
                },
                "slo": {"availability": 0.99},
            },
            "email": {"vendor": "memory"},
        },
        "alerts": {"sms-open": {"when": "breaker_open(sms)"}},
    }


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, ConnectorManager]]:
    clock = FakeClock(wall=W0)
    manager = ConnectorManager.from_config(_config(), registry=PluginRegistry(), clock=clock)
    for _ in range(3):
        with contextlib.suppress(ConnectorError):
            manager.sms.send(SmsMessage("+14155550100", "hi bob@example.com"))
    app = dashboard_app(manager, token=TOKEN, interval=0.1)
    transport = httpx.ASGITransport(app=app, root_path="/ops")
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as http:
        yield http, manager
    manager.close()


BEARER = {"authorization": f"Bearer {TOKEN}"}


async def test_every_route_needs_the_token(client: Any) -> None:
    http, _ = client
    for route in ("/ops/", "/ops/snapshot", "/ops/events", "/ops/dashboard.js"):
        answer = await http.get(route)
        assert answer.status_code == 401, route
        assert answer.headers["www-authenticate"] == 'Bearer realm="nexus-dashboard"'
    wrong = await http.get("/ops/snapshot", headers={"authorization": "Bearer nope-nope-nope"})
    assert wrong.status_code == 401


async def test_opening_the_page_with_its_token_sets_a_cookie_for_the_prefix_only(
    client: Any,
) -> None:
    http, _ = client
    answer = await http.get(f"/ops/?token={TOKEN}")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ops/"
    cookie = answer.headers["set-cookie"]
    assert "Path=/ops;" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert TOKEN not in cookie  # a digest of it
    page = await http.get("/ops/", headers={"cookie": cookie.split(";")[0]})
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="dashboard.js" defer></script>' in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere


async def test_the_prefix_without_its_slash_redirects_and_unknown_routes_are_404(
    client: Any,
) -> None:
    http, _ = client
    bare = await http.get("/ops", headers=BEARER)
    assert (bare.status_code, bare.headers["location"]) == (308, "/ops/")
    assert (await http.get("/ops/nope", headers=BEARER)).status_code == 404
    assert (await http.post("/ops/snapshot", headers=BEARER)).status_code == 405
    assert (
        (await http.get("/ops/dashboard.css", headers=BEARER))
        .headers["content-type"]
        .startswith("text/css")
    )


async def test_a_snapshot_shows_breakers_limits_traffic_slo_alerts_and_last_errors(
    client: Any,
) -> None:
    http, manager = client
    manager.monitor.flush()
    manager.monitor.evaluate()
    snapshot = (await http.get("/ops/snapshot", headers=BEARER)).json()
    assert snapshot["counting"] is True
    sms = next(c for c in snapshot["connectors"] if c["name"] == "sms")
    assert sms["vendors"][0]["vendor"] == "memory"
    assert sms["vendors"][0]["breaker"] == "closed"
    assert [(p["vendor"], p["state"]) for p in sms["timeline"]] == [("memory", "closed")]
    assert sms["vendors"][0]["limit"] == {"available": 7, "capacity": 10, "retry_after": 0.0}
    assert sms["traffic"]["calls_per_s"] == pytest.approx(3 / 60)
    assert sms["slo"][0]["objectives"][0]["events"] == 3
    assert [e["error"] for e in sms["errors"]] == ["VendorUnavailableError"] * 2
    assert snapshot["alerts"]["rules"][0]["name"] == "sms-open"


async def test_an_async_managers_dashboard_needs_no_thread() -> None:
    manager = AsyncConnectorManager.from_config(_config(), registry=PluginRegistry())
    app = dashboard_app(manager)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dash"
    ) as http:
        snapshot = (await http.get("/snapshot")).json()
    await manager.aclose()
    assert [c["name"] for c in snapshot["connectors"]] == ["sms", "email"]


def test_a_short_token_or_interval_is_refused() -> None:
    with ConnectorManager.from_config(
        {"connectors": {"email": {"vendor": "memory"}}}, registry=PluginRegistry()
    ) as manager:
        with pytest.raises(ValueError, match="at least 16 characters"):
            dashboard_app(manager, token="short")
        with pytest.raises(ValueError, match="interval must be from 0.1 to 60"):
            dashboard_app(manager, interval=0.0)


async def test_the_stream_sends_a_snapshot_each_interval_under_uvicorn(serve: Any) -> None:
    manager = ConnectorManager.from_config(_config(), registry=PluginRegistry())
    base = await asyncio.to_thread(serve, dashboard_app(manager, interval=0.1))
    events: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as http,
        http.stream("GET", "/events") as stream,
    ):
        assert stream.headers["content-type"] == "text/event-stream"
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
            if len(events) == 2:
                break
    manager.close()
    assert all(event["status"] for event in events)


async def _snapshot(manager: ConnectorManager) -> dict[str, Any]:
    """The dashboard's snapshot of `manager`, once its counts are flushed."""
    assert manager.monitor is not None
    manager.monitor.flush()
    transport = httpx.ASGITransport(app=dashboard_app(manager))
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as http:
        return dict((await http.get("/snapshot")).json())


def _counting(connectors: dict[str, Any]) -> dict[str, Any]:
    return {
        "observability": {"loggers": []},
        "alerting": {"evaluate_every": 0, "count_calls": True},
        "connectors": connectors,
    }


async def test_a_vendors_error_message_shows_with_its_addresses_and_numbers_masked() -> None:
    said = "no contact bob@example.com - call +1 415 555 0100 or +14155550199"
    answer = Fault.respond(422, {"error": {"code": "unknown_contact", "message": said}})
    with FaultServer(default=answer) as server:
        crm = {
            "category": "api",
            "vendor": "http",
            "options": {"base_url": server.url},
            "endpoints": {"find": {"method": "GET", "path": "/contacts/{id}", "reads": True}},
        }
        with ConnectorManager.from_config(
            _counting({"crm": crm}), registry=PluginRegistry(), clock=FakeClock(wall=W0)
        ) as manager:
            with pytest.raises(InvalidRequestError) as raised:
                manager.connector("crm").call("find", path={"id": 7})
            snapshot = await _snapshot(manager)

    assert "bob@example.com" in raised.value.message  # the vendor's words reach the caller
    [crm_panel] = snapshot["connectors"]
    [error] = crm_panel["errors"]
    assert error["error"] == "InvalidRequestError"
    assert error["message"].endswith("no contact [email] - call [phone] or [phone]")
    shown = json.dumps(snapshot)
    for private in ("bob@example.com", "example.com", "415 555", "4155550199"):
        assert private not in shown


class _Timed:
    """An SMS vendor whose sends take the seconds their body says, on the call's clock."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        ctx.clock.sleep(float(message.body))
        return SmsReceipt(vendor="timed", vendor_id="SM1", to=message.to)

    def get_status(self, request: Any, ctx: CallContext) -> Any:
        raise NotImplementedError


@hookimpl
def _register_timed(register: Any) -> None:
    register("timed", _Timed, async_impl=_Timed)


async def test_the_traffic_panel_shows_the_latency_percentiles_of_known_durations() -> None:
    registry = PluginRegistry()
    registry.register(types.SimpleNamespace(register_sms_vendors=_register_timed), name="timed")
    clock = FakeClock(wall=W0)
    # 100 sends: the 50th in the 5 ms bucket, the 95th in the 250 ms one, the 99th in 1 s's.
    durations = [0.003] * 50 + [0.2] * 45 + [0.7] * 4 + [20.0]
    with ConnectorManager.from_config(
        _counting({"sms": {"vendor": "timed"}}), registry=registry, clock=clock
    ) as manager:
        for seconds in durations:
            manager.sms.send(SmsMessage("+14155550100", repr(seconds)))
        snapshot = await _snapshot(manager)

    [sms] = snapshot["connectors"]
    traffic = sms["traffic"]
    assert (traffic["p50"], traffic["p95"], traffic["p99"]) == (0.005, 0.25, 1.0)
    assert traffic["window"] == "5m"
    assert clock.time() == pytest.approx(W0 + sum(durations))  # all within the window
