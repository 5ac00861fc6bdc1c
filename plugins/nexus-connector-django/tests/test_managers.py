"""The process's managers: built once from ``NEXUS_CONNECTOR`` on first use, rebuilt when the
setting changes, one async manager per event loop sharing the process's breakers, closed at
exit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from nexus_connector_django import amanager, close_managers, manager

from nexus_connector_core import (
    AsyncConnectorManager,
    CircuitOpenError,
    ConfigError,
    ConnectorManager,
    EmailMessage,
    VendorUnavailableError,
)

MAIL = EmailMessage(sender="shop@example.com", to=["ada@example.com"], subject="Hi", text="x")
#: Opens on the first failure and stays open for a minute.
TRIGGER_HAPPY = {
    "retry": {"enabled": False},
    "circuit_breaker": {"window": 1, "min_calls": 1, "open_for": 60, "half_open_calls": 1},
}


def test_the_manager_is_built_once_from_the_setting_and_rebuilt_after_close_managers(
    nexus_settings: Callable[..., None],
) -> None:
    nexus_settings({"connectors": {"email": {"vendor": "memory"}}})

    first = manager()
    again = manager()
    close_managers()

    assert isinstance(first, ConnectorManager)
    assert again is first
    assert first.closed
    assert manager() is not first


def test_changing_the_setting_closes_the_managers_and_the_next_are_built_from_the_new_one(
    nexus_settings: Callable[..., None],
) -> None:
    nexus_settings({"connectors": {"email": {"vendor": "memory"}}})
    before = manager()

    nexus_settings({"connectors": {"sms": {"vendor": "memory"}}})

    assert before.closed
    assert list(manager().config.connectors) == ["sms"]


def test_an_invalid_config_fails_at_first_use_with_its_key_path(
    nexus_settings: Callable[..., None],
) -> None:
    nexus_settings({"connectors": {"email": {"vendor": "memory", "options": {"latency": -1}}}})

    with pytest.raises(ConfigError, match=r"connectors\.email\.options\.latency"):
        manager()


def test_a_malformed_setting_says_which_key(settings: Any) -> None:
    settings.NEXUS_CONNECTOR = {"config": 42}

    with pytest.raises(ImproperlyConfigured, match=r"NEXUS_CONNECTOR\['config'\]"):
        manager()


def test_amanager_is_one_per_event_loop_and_the_breakers_are_the_processes(
    nexus_settings: Callable[..., None],
) -> None:
    email = {"vendor": "memory", "options": {"fail_first": 1}, "resilience": TRIGGER_HAPPY}
    nexus_settings({"connectors": {"email": email}})
    with pytest.raises(VendorUnavailableError):
        manager().email.send(MAIL)  # the breaker opens

    async def in_a_loop() -> tuple[AsyncConnectorManager, AsyncConnectorManager, Exception]:
        mine = amanager()
        try:
            await mine.email.send(MAIL)
        except CircuitOpenError as refused:
            return mine, amanager(), refused
        raise AssertionError("the async manager did not see the open breaker")

    first, same, refused = asyncio.run(in_a_loop())
    # A new loop, as Django gives each async view under WSGI:
    second, _, _ = asyncio.run(in_a_loop())

    assert same is first
    assert second is not first
    assert first.closed  # closed once its loop had ended and another asked
    assert isinstance(refused, CircuitOpenError)


def test_amanager_outside_a_running_loop_points_to_manager() -> None:
    with pytest.raises(RuntimeError, match=r"manager\(\)"):
        amanager()


def test_the_managers_are_closed_at_exit(site_env: dict[str, str]) -> None:
    # An atexit function registered before the first manager runs after ours (last in,
    # first out): it sees what ours left.
    code = """if True:
        import atexit, django
        django.setup()
        from nexus_connector_django import amanager, manager
        import asyncio
        built = []
        atexit.register(lambda: print([m.closed for m in built]))
        built.append(manager())
        async def in_a_loop():
            built.append(amanager())
        loop = asyncio.new_event_loop()
        loop.run_until_complete(in_a_loop())
    """
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=site_env,
        cwd=str(_site()),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert done.stdout.strip() == "[True, True]"


def _site() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parent / "demo_site"
