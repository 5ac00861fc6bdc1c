"""Redis down or slow: a call never waits past the backend's timeout; fail-open lets it
through (logged and counted), fail-closed refuses it; recovery needs no restart."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from nexus_connector_core import (
    AsyncConnectorManager,
    ConnectorManager,
    Money,
    PaymentRequest,
    PluginRegistry,
    RateLimitExceededError,
    SmsMessage,
    StateBackendUnavailableError,
)

pytestmark = pytest.mark.redis

SMS = SmsMessage("+14155550100", "Your code is 4242")
#: Generous bound for "did not hang": the backend's timeout is 0.25 s.
PROMPT = 1.5
#: A script that keeps the (single-threaded) server busy for 1.5 s: a really slow Redis.
_STALL = """
local t = redis.call('TIME')
local stop = tonumber(t[1]) + tonumber(t[2]) / 1e6 + 1.5
repeat t = redis.call('TIME') until tonumber(t[1]) + tonumber(t[2]) / 1e6 > stop
return 1
"""


@pytest.fixture
def registry() -> PluginRegistry:
    import nexus_connector_redis.plugin

    registry = PluginRegistry()
    registry.register(nexus_connector_redis.plugin, name="redis")
    return registry


def _config(url: str, fail_mode: str) -> dict[str, Any]:
    return {
        "connectors": {
            "sms": {
                "vendor": "memory",
                # One call per hour: after a restart (an empty Redis) the second call of a
                # fresh bucket is refused, which proves the guard is back.
                "resilience": {
                    "rate_limit": {"rate": 1, "per": 3600.0},
                    "retry": {"enabled": False},
                },
            }
        },
        "state": {"backend": "redis", "url": url, "fail_mode": fail_mode, "timeout": 0.25},
    }


def _timed(call: Any) -> tuple[float, Any]:
    start = time.monotonic()
    try:
        result: Any = call()
    except Exception as exc:  # noqa: BLE001 - the test inspects what came out
        result = exc
    return time.monotonic() - start, result


def test_fail_open_lets_calls_through_while_redis_is_down_and_recovers(
    restartable_redis: Any, registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with ConnectorManager.from_config(
        _config(restartable_redis.url, "open"), registry=registry
    ) as manager:
        manager.sms.send(SMS)
        with pytest.raises(RateLimitExceededError):
            manager.sms.send(SMS)  # guarded: the hour's only token is spent
        restartable_redis.stop()
        took, result = _timed(lambda: manager.sms.send(SMS))
        assert result.vendor == "memory"
        assert took < PROMPT
        assert manager.unguarded_calls == 1
        assert "state backend unavailable" in caplog.text
        restartable_redis.start()
        manager.sms.send(SMS)  # guarded again, on a fresh (empty) Redis: its first token
        with pytest.raises(RateLimitExceededError):
            manager.sms.send(SMS)
        assert manager.unguarded_calls == 1


def test_fail_closed_refuses_calls_while_redis_is_down_and_recovers(
    restartable_redis: Any, registry: PluginRegistry
) -> None:
    with ConnectorManager.from_config(
        _config(restartable_redis.url, "closed"), registry=registry
    ) as manager:
        restartable_redis.stop()
        took, result = _timed(lambda: manager.sms.send(SMS))
        assert isinstance(result, StateBackendUnavailableError)
        assert took < PROMPT
        assert manager.sms.adapter.calls == []  # the vendor was never called
        assert "Redis at redis://127.0.0.1" in str(result)
        restartable_redis.start()
        assert manager.sms.send(SMS).vendor == "memory"


async def test_async_calls_fail_open_and_recover_too(
    restartable_redis: Any, registry: PluginRegistry
) -> None:
    config = _config(restartable_redis.url, "open")
    async with AsyncConnectorManager.from_config(config, registry=registry) as manager:
        await manager.sms.send(SMS)
        restartable_redis.stop()
        start = time.monotonic()
        assert (await manager.sms.send(SMS)).vendor == "memory"
        assert time.monotonic() - start < PROMPT
        assert manager.unguarded_calls == 1
        restartable_redis.start()
        await manager.sms.send(SMS)
        with pytest.raises(RateLimitExceededError):
            await manager.sms.send(SMS)


def test_a_slow_redis_costs_a_call_no_more_than_the_timeout(
    restartable_redis: Any, registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with ConnectorManager.from_config(
        _config(restartable_redis.url, "open"), registry=registry
    ) as manager:
        manager.sms.send(SMS)  # connected and scripts loaded
        stall = restartable_redis.client(socket_timeout=10)
        blocker = threading.Thread(target=lambda: stall.eval(_STALL, 0))
        blocker.start()
        time.sleep(0.1)  # let DEBUG SLEEP start: the server really stalls
        took, result = _timed(lambda: manager.sms.send(SMS))
        blocker.join()
        assert result.vendor == "memory"
        assert took < PROMPT
        assert manager.unguarded_calls == 1


@pytest.mark.parametrize("fail_mode", ["open", "closed"])
def test_a_redis_out_of_memory_is_an_outage_not_a_crash(
    restartable_redis: Any, registry: PluginRegistry, fail_mode: str
) -> None:
    # maxmemory below what the server already uses, without eviction: Redis refuses writes
    # with "OOM command not allowed", as a full production Redis does. Claiming an
    # idempotency key is such a write.
    config = {
        "connectors": {"payment": {"vendor": "memory"}},
        "state": {"backend": "redis", "url": restartable_redis.url, "fail_mode": fail_mode},
    }
    purchase = PaymentRequest(amount=Money(1999, "EUR"), payment_method="pm_card_visa")
    admin = restartable_redis.client()
    with ConnectorManager.from_config(config, registry=registry) as manager:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")
        try:
            _, result = _timed(lambda: manager.payment.purchase(purchase, idempotency_key="o-1"))
        finally:
            admin.config_set("maxmemory", "0")
        if fail_mode == "open":
            assert result.status == "succeeded"
            assert manager.unguarded_calls == 1
        else:
            assert isinstance(result, StateBackendUnavailableError)
            assert "OutOfMemoryError" in str(result)
            assert manager.payment.adapter.calls == []
