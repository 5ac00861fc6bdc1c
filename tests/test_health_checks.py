"""Health: an adapter's own check runs within its own timeout and is reported by class when it
raises (sync and async), and a recent error rate at the threshold degrades a connector."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from nexus_connector_core import (
    ConnectorManager,
    EmailMessage,
    PluginRegistry,
    VendorUnavailableError,
)
from nexus_connector_core._health import DEGRADED_ERROR_RATE, acheck_adapter, check_adapter
from nexus_connector_core.testing import FakeClock

MAIL = EmailMessage(sender="shop@example.com", to=["ada@example.com"], subject="Hi", text="x")
SECRET = "sk_live_health_check_secret_42"


class _HungCheck:
    """An adapter whose check waits until released (a vendor that never answers)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def health_check(self) -> None:
        self.release.wait()


class _RaisingCheck:
    def health_check(self) -> None:
        raise RuntimeError(f"could not reach https://user:{SECRET}@vendor.example")


class _AsyncChecks:
    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.never = asyncio.Event()

    async def health_check(self) -> str | None:
        if self.answer == "hang":
            await self.never.wait()
        return self.answer


def test_a_sync_check_that_never_answers_is_a_problem_after_its_timeout() -> None:
    adapter = _HungCheck()
    try:
        verdict = check_adapter(adapter, timeout=0.05)
    finally:
        adapter.release.set()  # the thread it was left to ends

    assert verdict == "health check gave no answer within 0.05 s"


def test_a_check_that_raises_is_named_by_its_class_only() -> None:
    verdict = check_adapter(_RaisingCheck())

    assert verdict == "health check failed (RuntimeError)"
    assert SECRET not in (verdict or "")


def test_an_adapter_without_a_check_has_none_and_a_passing_check_is_ok() -> None:
    class Passing:
        def health_check(self) -> None:
            return None

    assert check_adapter(object()) is None
    assert check_adapter(Passing()) == "ok"


async def test_an_async_check_is_awaited_within_its_timeout() -> None:
    assert await acheck_adapter(_AsyncChecks(None)) == "ok"
    assert await acheck_adapter(_AsyncChecks("quota nearly spent")) == "quota nearly spent"
    assert await acheck_adapter(_AsyncChecks("hang"), timeout=0.05) == (
        "health check gave no answer within 0.05 s"
    )


def test_a_recent_error_rate_at_the_threshold_degrades_the_connector(
    registry: PluginRegistry, clock: FakeClock
) -> None:
    email: dict[str, Any] = {
        "vendor": "memory",
        "options": {"fail_first": 1},
        "resilience": {"retry": {"enabled": False}},  # the breaker (10 calls at least) stays closed
    }
    config = {"connectors": {"email": email}, "observability": {"loggers": []}}
    with ConnectorManager.from_config(config, registry=registry, clock=clock) as manager:
        with pytest.raises(VendorUnavailableError):
            manager.email.send(MAIL)
        for _ in range(3):
            manager.email.send(MAIL)
        report = manager.health()

    health = report.connectors["email"]
    assert DEGRADED_ERROR_RATE == 0.25  # 1 call in 4 is at the threshold
    assert (report.status, health.status) == ("degraded", "degraded")
    assert health.reasons == ("recent error rate 25%",)
    assert (health.recent.calls, health.recent.error_rate) == (4, 0.25)
    assert health.recent.last_error == "VendorUnavailableError"
    assert health.recent.last_failure is not None
    assert health.recent.last_success is not None
    assert health.vendors[0].breaker == "closed"
