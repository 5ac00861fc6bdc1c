"""Fixtures for the Stripe plugin's tests: the local Stripe (`nexus_connector_stripe.testing`)
over real sockets, and managers whose ``payment`` connector takes payments through it.

- ``stripe``: the `StripeDouble` (its ``charges`` are the customers' money held or taken);
- ``stripe_server``: a `FaultServer` on 127.0.0.1 answering with ``stripe`` unless a test
  scripts faults (``stripe_server.script(FAULTS["rate_limited"])``);
- ``registry``: the built-in plugin plus this one, registered in-process;
- ``environ``, ``connector``: the ``payment`` connector's credentials and table;
- ``make_manager(*, async_=False, options=None, resilience=None, fallback=None)``: a
  `ConnectorManager` (or `AsyncConnectorManager`) on the fake ``clock``; closed at teardown.

Test modules import the double's constants from `nexus_connector_stripe.testing`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nexus_connector_stripe import plugin
from nexus_connector_stripe.testing import API_KEY, StripeDouble

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import NO_RETRY, FakeClock, FaultServer, ManagerFactory


@pytest.fixture
def stripe() -> StripeDouble:
    """The local Stripe's state: what it accepts, and what it charged."""
    return StripeDouble(customers={"cus_nexus"})


@pytest.fixture
def stripe_server(stripe: StripeDouble) -> Iterator[FaultServer]:
    """A server on 127.0.0.1 answering as `stripe` for this test; stopped after it."""
    with FaultServer(default=stripe) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> PluginRegistry:
    """The built-in plugin and this one, registered in-process."""
    registry = PluginRegistry()
    registry.register(plugin, "stripe")
    return registry


@pytest.fixture
def environ() -> dict[str, str]:
    """Where the connectors' ``env:`` credentials come from."""
    return {"STRIPE_SECRET_KEY": API_KEY}


@pytest.fixture
def connector(stripe_server: FaultServer) -> dict[str, Any]:
    """The ``payment`` connector's table for the local Stripe, without resilience."""
    return {
        "vendor": "stripe",
        "options": {"base_url": stripe_server.url},
        "credentials": {"api_key": "env:STRIPE_SECRET_KEY"},
    }


@pytest.fixture
async def make_manager(
    connector: dict[str, Any], registry: PluginRegistry, environ: dict[str, str], clock: FakeClock
) -> AsyncIterator[ManagerFactory]:
    """Build a ConnectorManager (``async_=True``: an AsyncConnectorManager) whose ``payment``
    connector uses the stripe vendor against the local Stripe, on the fake clock, with extra
    ``options``, a ``resilience`` table (default: no retries) and a ``fallback`` chain.
    Closed after."""
    async with ManagerFactory(
        "payment", connector, registry=registry, environ=environ, clock=clock, resilience=NO_RETRY
    ) as make:
        yield make
