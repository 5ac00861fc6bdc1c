"""Fixtures for the Twilio plugin's tests: the local Twilio (`nexus_connector_twilio.testing`)
over real sockets, and managers whose ``sms`` connector sends to it.

- ``twilio``: the `TwilioDouble` (its ``outbox`` holds the messages it created);
- ``twilio_server``: a `FaultServer` on 127.0.0.1 answering with ``twilio`` unless a test
  scripts faults (``twilio_server.script(FAULTS["rate_limited"])``);
- ``registry``: the built-in plugin plus this one, registered in-process;
- ``environ``, ``connector``: the ``sms`` connector's credentials and table;
- ``make_manager(*, async_=False, options=None, resilience=None)``: a `ConnectorManager`
  (or `AsyncConnectorManager`) on the fake ``clock``; closed at teardown.

Test modules import the double's constants from `nexus_connector_twilio.testing`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nexus_connector_twilio import plugin
from nexus_connector_twilio.testing import ACCOUNT_SID, AUTH_TOKEN, SENDER, TwilioDouble

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import NO_RETRY, FakeClock, FaultServer, ManagerFactory


@pytest.fixture
def twilio() -> TwilioDouble:
    """The local Twilio's state: what it accepts, and what it created."""
    return TwilioDouble()


@pytest.fixture
def twilio_server(twilio: TwilioDouble) -> Iterator[FaultServer]:
    """A server on 127.0.0.1 answering as `twilio` for this test; stopped after it."""
    with FaultServer(default=twilio) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> PluginRegistry:
    """The built-in plugin and this one, registered in-process."""
    registry = PluginRegistry()
    registry.register(plugin, "twilio")
    return registry


@pytest.fixture
def environ() -> dict[str, str]:
    """Where the connectors' ``env:`` credentials come from."""
    return {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}


@pytest.fixture
def connector(twilio_server: FaultServer) -> dict[str, Any]:
    """The ``sms`` connector's table for the local Twilio, without resilience."""
    return {
        "vendor": "twilio",
        "options": {"base_url": twilio_server.url, "sender": SENDER},
        "credentials": {
            "account_sid": "env:TWILIO_ACCOUNT_SID",
            "auth_token": "env:TWILIO_AUTH_TOKEN",
        },
    }


@pytest.fixture
async def make_manager(
    connector: dict[str, Any], registry: PluginRegistry, environ: dict[str, str], clock: FakeClock
) -> AsyncIterator[ManagerFactory]:
    """Build a ConnectorManager (``async_=True``: an AsyncConnectorManager) whose ``sms``
    connector uses the twilio vendor against the local Twilio, on the fake clock, with
    extra ``options`` and a ``resilience`` table (default: no retries). Closed after."""
    async with ManagerFactory(
        "sms", connector, registry=registry, environ=environ, clock=clock, resilience=NO_RETRY
    ) as make:
        yield make
