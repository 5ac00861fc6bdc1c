"""manager.health(): breakers from the state backend, this process's recent calls, adapters'
own checks; and the ASGI app that serves it, under uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from nexus_connector_core import (
    AsyncConnectorManager,
    ConnectorManager,
    EmailMessage,
    PluginRegistry,
    VendorUnavailableError,
)
from nexus_connector_core.asgi import health_app
from nexus_connector_core.testing import FakeClock

MAIL = EmailMessage(sender="shop@example.com", to=["ada@example.com"], subject="Hi", text="x")
#: Opens on the first failure; one trial call closes it again.
TRIGGER_HAPPY = {
    "retry": {"enabled": False},
    "circuit_breaker": {"window": 1, "min_calls": 1, "open_for": 30, "half_open_calls": 1},
}


def _config(options: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    email = {"vendor": "memory", "options": options or {}, "resilience": TRIGGER_HAPPY, **extra}
    return {"connectors": {"email": email}, "observability": {"loggers": []}}


def test_a_connector_that_served_is_healthy_with_its_recent_calls(
    registry: PluginRegistry, clock: FakeClock
) -> None:
    with ConnectorManager.from_config(_config(), registry=registry, clock=clock) as manager:
        manager.email.send(MAIL)
        report = manager.health()

    email = report.connectors["email"]
    assert (report.status, email.status, email.reasons) == ("healthy", "healthy", ())
    (vendor,) = email.vendors
    assert (vendor.vendor, vendor.breaker, vendor.check, vendor.window_calls) == (
        "memory",
        "closed",
        "ok",
        1,
    )
    assert (email.recent.calls, email.recent.error_rate, email.recent.serving) == (1, 0.0, "memory")
    assert email.recent.last_success is not None


def test_an_open_breaker_on_the_only_vendor_is_unhealthy(
    registry: PluginRegistry, clock: FakeClock
) -> None:
    config = _config({"fail_first": 1})
    with ConnectorManager.from_config(config, registry=registry, clock=clock) as manager:
        with pytest.raises(VendorUnavailableError):
            manager.email.send(MAIL)
        report = manager.health()

    email = report.connectors["email"]
    assert (report.status, email.status) == ("unhealthy", "unhealthy")
    assert email.reasons == ("every vendor's circuit breaker is open",)
    assert email.vendors[0].retry_after == 30.0
    assert email.recent.last_error == "VendorUnavailableError"


def test_a_fallback_serving_is_degraded(
    registry: PluginRegistry, clock: FakeClock, tmp_path: Path
) -> None:
    config = {
        "connectors": {
            "files": {
                "category": "cloud_storage",
                "vendor": "memory",
                "options": {"fail_first": 100},
                "fallback": [{"vendor": "filesystem", "options": {"root": str(tmp_path)}}],
                "resilience": TRIGGER_HAPPY,
            }
        },
        "observability": {"loggers": []},
    }
    with ConnectorManager.from_config(config, registry=registry, clock=clock) as manager:
        manager.connector("files").put("a.txt", b"x")
        report = manager.health(checks=False)

    files = report.connectors["files"]
    assert files.status == "degraded"
    assert "fallback vendor 'filesystem' is serving" in files.reasons
    assert [v.breaker for v in files.vendors] == ["open", "closed"]


def test_an_adapter_whose_own_check_fails_degrades_its_connector(
    registry: PluginRegistry, clock: FakeClock
) -> None:
    config = _config({"fail_first": 3})  # the memory vendor reports calls it will fail
    with ConnectorManager.from_config(config, registry=registry, clock=clock) as manager:
        report = manager.health()

    email = report.connectors["email"]
    assert email.status == "unhealthy"  # its only vendor says it will fail
    assert email.vendors[0].check not in (None, "ok")


def test_a_state_backend_that_is_down_is_named_with_what_calls_will_do(clock: FakeClock) -> None:
    pytest.importorskip("nexus_connector_redis")
    config = _config()
    config["state"] = {"backend": "redis", "url": "redis://127.0.0.1:1/0", "fail_mode": "closed"}
    with ConnectorManager.from_config(config, clock=clock) as manager:
        report = manager.health(checks=False)

    email = report.connectors["email"]
    assert email.status == "unhealthy"
    assert email.reasons[0] == "state backend unreachable (fail_mode closed: calls fail)"


async def test_the_async_manager_reports_the_same(
    registry: PluginRegistry, clock: FakeClock
) -> None:
    manager = AsyncConnectorManager.from_config(
        _config({"fail_first": 1}), registry=registry, clock=clock
    )
    try:
        with pytest.raises(VendorUnavailableError):
            await manager.email.send(MAIL)
        report = await manager.health()
    finally:
        await manager.aclose()

    assert report.status == "unhealthy"


# -- the ASGI app under uvicorn --------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[Any]:
    uvicorn = pytest.importorskip("uvicorn")
    servers: list[Any] = []

    def start(app: Any) -> str:
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        for _ in range(500):  # bounded: the server starts in a few milliseconds
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_health_app_answers_503_while_the_breaker_is_open_and_200_once_closed(
    serve: Any, registry: PluginRegistry, clock: FakeClock
) -> None:
    config = _config({"fail_first": 1})
    with ConnectorManager.from_config(config, registry=registry, clock=clock) as manager:
        url = serve(health_app(manager))
        with pytest.raises(VendorUnavailableError):
            manager.email.send(MAIL)

        opened = httpx.get(url)
        clock.advance(31.0)  # past open_for: the next call is the trial that closes it
        manager.email.send(MAIL)
        closed = httpx.get(url)
        refused = httpx.post(url)

    assert opened.status_code == 503
    assert opened.json()["status"] == "unhealthy"
    assert opened.headers["content-type"] == "application/json"
    assert closed.status_code == 200
    assert closed.json()["connectors"]["email"]["vendors"][0]["breaker"] == "closed"
    assert refused.status_code == 405


# -- nexus-connector status ------------------------------------------------------------------


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connectors.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_status_shows_every_connector_and_exits_0_when_all_can_be_called(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nexus_connector_core.cli import cli

    path = _toml(tmp_path, '[connectors.email]\nvendor = "memory"\n')

    done = CliRunner().invoke(cli, ["status", "--config", str(path), "--json"])

    assert done.exit_code == 0, done.output
    report = msgspec.json.decode(done.output)
    assert report["status"] == "healthy"
    assert report["connectors"]["email"]["vendors"][0]["breaker"] == "closed"


def test_status_sees_a_breaker_another_worker_opened_on_redis(
    tmp_path: Path, redis_url: str
) -> None:
    from click.testing import CliRunner

    from nexus_connector_core.cli import cli

    prefix = f"status-{os.urandom(4).hex()}"
    path = _toml(
        tmp_path,
        f'[state]\nbackend = "redis"\nurl = "{redis_url}"\nprefix = "{prefix}"\n'
        '[connectors.email]\nvendor = "memory"\noptions = { fail_first = 1 }\n'
        "[connectors.email.resilience]\nretry = { enabled = false }\n"
        "circuit_breaker = { window = 1, min_calls = 1, open_for = 300 }\n",
    )
    with ConnectorManager.from_config(path) as worker:  # another worker, same Redis
        with pytest.raises(VendorUnavailableError):
            worker.email.send(MAIL)

    done = CliRunner().invoke(cli, ["status", "--config", str(path)])

    assert done.exit_code == 1, done.output
    assert "unhealthy" in done.output
    assert "open (" in done.output
    assert "every vendor's circuit breaker is open" in done.output


def test_health_shows_the_tightest_shared_rate_limiters_headroom(
    registry: PluginRegistry, clock: FakeClock
) -> None:
    config = _config()
    config["connectors"]["email"]["resilience"] = {"rate_limit": {"rate": 5, "per": 1.0}}
    with ConnectorManager.from_config(config, registry=registry, clock=clock) as manager:
        before = manager.health(checks=False).connectors["email"].vendors[0].limiter
        for _ in range(3):
            manager.email.send(MAIL)
        after = manager.health(checks=False).connectors["email"].vendors[0].limiter
        for _ in range(2):
            manager.email.send(MAIL)
        spent = manager.health(checks=False).connectors["email"].vendors[0].limiter

    assert before is not None
    assert after is not None
    assert spent is not None
    assert (before.available, before.capacity) == (5, 5)
    assert (after.available, after.capacity) == (2, 5)
    assert spent.available == 0
    assert spent.retry_after == pytest.approx(0.2)


def test_health_has_no_limiter_for_a_vendor_without_a_rate_limit(
    registry: PluginRegistry, clock: FakeClock
) -> None:
    with ConnectorManager.from_config(_config(), registry=registry, clock=clock) as manager:
        assert manager.health(checks=False).connectors["email"].vendors[0].limiter is None


def test_status_shows_the_rate_limit_headroom(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nexus_connector_core.cli import cli

    path = _toml(
        tmp_path,
        '[connectors.email]\nvendor = "memory"\n'
        "[connectors.email.resilience]\nrate_limit = { rate = 20 }\n",
    )

    done = CliRunner().invoke(cli, ["status", "--config", str(path)])

    assert done.exit_code == 0, done.output
    header, row = done.output.splitlines()[1:3]
    assert "HEADROOM" in header
    assert "20/20" in row
