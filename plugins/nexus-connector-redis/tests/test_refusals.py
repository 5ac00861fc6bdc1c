"""A Redis that answers but refuses (MISCONF after a failed save, BUSY with a long script,
NOPERM from its ACL) is an outage the fail mode decides, never a raw redis-py
`ResponseError`; and an async backend keeps its connections through many cancelled calls
(a cancelled call mid-command, and one cancelled while a failed connection is released: see
test_wire.py).

The servers are real: each test starts its own and puts it in the state it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from nexus_connector_redis import AsyncRedisStateBackend, RedisOptions, RedisStateBackend

from nexus_connector_core import (
    SYSTEM_CLOCK,
    AsyncConnectorManager,
    ConnectorManager,
    PluginRegistry,
    SmsMessage,
    StateBackendUnavailableError,
)
from nexus_connector_core.state import BackendSettings, BreakerPolicy, GuardPlan

SMS = SmsMessage("+14155550100", "Your code is 4242")
PLAN = GuardPlan(scope="sms:memory", breaker_key="sms:memory", breaker=BreakerPolicy())
#: Seconds the server gets to enter the state a test puts it in (a failure, not a wait).
SETTLE_TIMEOUT = 10.0
_POLL = 0.01


@pytest.fixture
def registry() -> PluginRegistry:
    import nexus_connector_redis.plugin

    registry = PluginRegistry()
    registry.register(nexus_connector_redis.plugin, name="redis")
    return registry


def _settings(url: str, prefix: str, **options: Any) -> BackendSettings:
    return BackendSettings(
        options=RedisOptions(url=url, **options), clock=SYSTEM_CLOCK, prefix=prefix
    )


def _until(condition: Callable[[], bool], what: str) -> None:
    """Poll a server until it is in the state a test put it in (a fork finishing a save, a
    script running past the busy threshold): real processes, no clock to fake."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not {what} within {SETTLE_TIMEOUT} s")
        time.sleep(_POLL)


def _refuses(client: redis.Redis, code: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            client.set("nexus-probe", "1")
        except redis.ResponseError as exc:
            return str(exc).startswith(code)
        return False

    return check


@pytest.fixture
def misconf_redis(launch_redis: Callable[..., Any], tmp_path: Path) -> Any:
    """A server whose last save failed: it refuses every write with MISCONF."""
    gone = tmp_path / "gone"
    gone.mkdir()
    server = launch_redis("--dir", str(gone))
    gone.rmdir()  # the server's folder vanishes: its next snapshot cannot be written
    with server.client() as admin:
        admin.config_set("save", "3600 1")  # stop-writes-on-bgsave-error needs a save point
        admin.bgsave()
        _until(_refuses(admin, "MISCONF"), "refuse writes with MISCONF")
    return server


@pytest.fixture
def busy_redis(launch_redis: Callable[..., Any]) -> Iterator[Any]:
    """A server running a script that never ends: it answers BUSY to everything but SCRIPT
    KILL (which the fixture sends at the end)."""
    server = launch_redis("--lua-time-limit", "20")
    runner = server.client(socket_timeout=SETTLE_TIMEOUT * 3)
    looping = threading.Thread(
        target=lambda: _ignore(lambda: runner.eval("while true do end", 0)), daemon=True
    )
    looping.start()
    with server.client() as admin:
        _until(_refuses(admin, "BUSY"), "answer BUSY")
        try:
            yield server
        finally:
            admin.script_kill()
            looping.join()
            runner.close()


@pytest.fixture
def noperm_redis(launch_redis: Callable[..., Any]) -> Any:
    """A server whose ACL denies the backend's commands (scripts and SET): NOPERM."""
    server = launch_redis()
    with server.client() as admin:
        admin.execute_command("ACL", "SETUSER", "default", "-evalsha", "-eval", "-set")
    return server


def _ignore(action: Callable[[], object]) -> None:
    with contextlib.suppress(redis.RedisError):  # SCRIPT KILL ends the script with an error
        action()


def _writes(backend: RedisStateBackend) -> list[Callable[[], object]]:
    return [
        lambda: backend.admit(PLAN),
        lambda: backend.idempotency_begin("k", b"fingerprint", ttl=60.0),
        lambda: backend.token_lock("t", ttl=5.0),
    ]


def _async_writes(backend: AsyncRedisStateBackend) -> list[Callable[[], Any]]:
    return [
        lambda: backend.admit(PLAN),
        lambda: backend.idempotency_begin("k", b"fingerprint", ttl=60.0),
        lambda: backend.token_lock("t", ttl=5.0),
    ]


#: Each refusing server, and the name the outage gives its refusal: the reply's code, or
#: redis-py's class for the codes it maps itself.
_REFUSING = [
    ("misconf_redis", "MISCONF"),
    ("busy_redis", "BUSY"),
    ("noperm_redis", "NoPermissionError"),
]


@pytest.mark.parametrize(("refusing", "code"), _REFUSING)
def test_a_redis_refusing_commands_is_an_outage_not_a_raw_response_error(
    refusing: str, code: str, request: pytest.FixtureRequest, unique_prefix: str
) -> None:
    server = request.getfixturevalue(refusing)
    backend = RedisStateBackend(_settings(server.url, unique_prefix))
    try:
        for write in _writes(backend):
            with pytest.raises(StateBackendUnavailableError) as caught:
                write()
            message = str(caught.value)
            assert f"refused the command with {code}" in message
            assert unique_prefix not in message  # the reply's text (keys, script) stays out
    finally:
        backend.close()


@pytest.mark.parametrize(("refusing", "code"), _REFUSING)
async def test_an_async_redis_refusing_commands_is_an_outage_too(
    refusing: str, code: str, request: pytest.FixtureRequest, unique_prefix: str
) -> None:
    server = request.getfixturevalue(refusing)
    backend = AsyncRedisStateBackend(_settings(server.url, unique_prefix))
    try:
        for write in _async_writes(backend):
            with pytest.raises(StateBackendUnavailableError, match=f"with {code}"):
                await write()
    finally:
        await backend.aclose()


def _config(url: str, fail_mode: str) -> dict[str, Any]:
    return {
        "connectors": {"sms": {"vendor": "memory", "resilience": {"retry": {"enabled": False}}}},
        "state": {"backend": "redis", "url": url, "fail_mode": fail_mode},
    }


@pytest.mark.parametrize("refusing", ["misconf_redis", "busy_redis", "noperm_redis"])
def test_the_fail_mode_decides_a_call_while_redis_refuses(
    refusing: str, request: pytest.FixtureRequest, registry: PluginRegistry
) -> None:
    server = request.getfixturevalue(refusing)
    with ConnectorManager.from_config(_config(server.url, "open"), registry=registry) as manager:
        assert manager.sms.send(SMS).vendor == "memory"
        assert manager.unguarded_calls == 1
    with ConnectorManager.from_config(_config(server.url, "closed"), registry=registry) as manager:
        with pytest.raises(StateBackendUnavailableError):
            manager.sms.send(SMS)
        assert manager.connector("sms").adapter.calls == []


async def test_the_fail_mode_decides_an_async_call_while_redis_is_busy(
    busy_redis: Any, registry: PluginRegistry
) -> None:
    config = _config(busy_redis.url, "closed")
    async with AsyncConnectorManager.from_config(config, registry=registry) as manager:
        with pytest.raises(StateBackendUnavailableError):
            await manager.sms.send(SMS)


def test_a_server_that_recovers_from_misconf_serves_again(
    misconf_redis: Any, unique_prefix: str
) -> None:
    backend = RedisStateBackend(_settings(misconf_redis.url, unique_prefix))
    try:
        with pytest.raises(StateBackendUnavailableError):
            backend.admit(PLAN)
        with misconf_redis.client() as admin:
            admin.config_set("stop-writes-on-bgsave-error", "no")
        assert backend.admit(PLAN).allowed
    finally:
        backend.close()


# -- the async pool under cancellation ---------------------------------------------------------


async def test_an_async_pool_survives_many_cancelled_calls(
    redis_url: str, unique_prefix: str
) -> None:
    size = 2
    backend = AsyncRedisStateBackend(_settings(redis_url, unique_prefix, pool_size=size))
    chance = random.Random(9)
    try:
        for _ in range(50):
            calls = [asyncio.create_task(backend.admit(PLAN)) for _ in range(3 * size)]
            for _ in range(chance.randrange(6)):
                await asyncio.sleep(0)
            for call in calls:
                if chance.random() < 0.7:
                    call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
        # Every connection is back, idle in the backend or in the pool: `size` calls at
        # once each get one (a lost one would make the pool refuse: too many connections).
        admissions = await asyncio.gather(*(backend.admit(PLAN) for _ in range(size)))
        assert all(admission.allowed for admission in admissions)
    finally:
        await backend.aclose()
