"""Fixtures for the EasyPost plugin's tests: the local EasyPost
(`nexus_connector_easypost.testing`) over real sockets, and managers whose ``shipping``
connector uses it.

- ``easypost``: the `EasyPostDouble` (its ``shipments`` and ``labels`` are what it created
  and sold);
- ``easypost_server``: a `FaultServer` on 127.0.0.1 answering with ``easypost`` unless a
  test scripts faults (``easypost_server.script(FAULTS["rate_limited"])``);
- ``registry``: the built-in plugin plus this one, registered in-process;
- ``environ``, ``connector``: the ``shipping`` connector's credentials and table;
- ``make_manager(*, async_=False, options=None, resilience=None)``: a `ConnectorManager`
  (or `AsyncConnectorManager`) on the fake ``clock``; closed at teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nexus_connector_easypost import plugin
from nexus_connector_easypost.testing import API_KEY, EasyPostDouble

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import NO_RETRY, FakeClock, FaultServer, ManagerFactory


@pytest.fixture
def easypost() -> EasyPostDouble:
    """The local EasyPost's state: what it accepts, created and sold."""
    return EasyPostDouble()


@pytest.fixture
def easypost_server(easypost: EasyPostDouble) -> Iterator[FaultServer]:
    """A server on 127.0.0.1 answering as `easypost` for this test; stopped after it."""
    with FaultServer(default=easypost) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> PluginRegistry:
    """The built-in plugin and this one, registered in-process."""
    registry = PluginRegistry()
    registry.register(plugin, "easypost")
    return registry


@pytest.fixture
def environ() -> dict[str, str]:
    """Where the connectors' ``env:`` credentials come from."""
    return {"EASYPOST_API_KEY": API_KEY}


@pytest.fixture
def connector(easypost_server: FaultServer) -> dict[str, Any]:
    """The ``shipping`` connector's table for the local EasyPost, without resilience."""
    return {
        "vendor": "easypost",
        "options": {"base_url": easypost_server.url},
        "credentials": {"api_key": "env:EASYPOST_API_KEY"},
    }


@pytest.fixture
async def make_manager(
    connector: dict[str, Any], registry: PluginRegistry, environ: dict[str, str], clock: FakeClock
) -> AsyncIterator[ManagerFactory]:
    """Build a ConnectorManager (``async_=True``: an AsyncConnectorManager) whose
    ``shipping`` connector uses the easypost vendor against the local EasyPost, on the fake
    clock, with extra ``options`` and a ``resilience`` table (default: no retries)."""
    async with ManagerFactory(
        "shipping", connector, registry=registry, environ=environ, clock=clock, resilience=NO_RETRY
    ) as make:
        yield make
