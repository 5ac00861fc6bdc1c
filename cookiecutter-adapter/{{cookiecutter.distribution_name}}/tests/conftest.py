{%- set C = cookiecutter.__class -%}
"""Fixtures for the plugin's tests: the local {{ cookiecutter.vendor_name }} (`{{ cookiecutter.package_name }}.testing`)
over real sockets, and managers whose ``{{ cookiecutter.__connector }}`` connector calls it.

- ``double``: the `{{ C }}Double` (what it accepted);
- ``server``: a `FaultServer` on 127.0.0.1 answering as ``double`` unless a test scripts
  faults (``server.script(FAULTS["rate_limited"])``);
{%- if cookiecutter.auth_method == "oauth2_client_credentials" %}
- ``token_server``: the double's token endpoint on a server of its own, so that faults
  scripted on ``server`` never meet a token request;
{%- endif %}
- ``registry``: the built-in plugin and this one, registered in-process;
- ``connector``: the ``{{ cookiecutter.__connector }}`` connector's table for the double;
- ``make_manager(*, async_=False, options=None, resilience=None)``: a `ConnectorManager`
  (or `AsyncConnectorManager`) on the fake ``clock``, without retries unless asked;
  closed at teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import NO_RETRY, FakeClock, FaultServer, ManagerFactory

from {{ cookiecutter.package_name }} import plugin, testing


@pytest.fixture
def double() -> testing.{{ C }}Double:
    """The local {{ cookiecutter.vendor_name }}'s state for this test."""
    return testing.{{ C }}Double()


@pytest.fixture
def server(double: testing.{{ C }}Double) -> Iterator[FaultServer]:
    """A server on 127.0.0.1 answering as `double` for this test; stopped after it."""
    with FaultServer(default=double) as server:
        yield server
{% if cookiecutter.auth_method == "oauth2_client_credentials" %}

@pytest.fixture
def token_server(double: testing.{{ C }}Double) -> Iterator[FaultServer]:
    """The double's token endpoint, on a server of its own."""
    with FaultServer(default=double) as server:
        yield server
{% endif %}

@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> PluginRegistry:
    """The built-in plugin and this one, registered in-process."""
    registry = PluginRegistry()
    registry.register(plugin, "{{ cookiecutter.vendor_key }}")
    return registry


@pytest.fixture
def connector(server: FaultServer{% if cookiecutter.auth_method == "oauth2_client_credentials" %}, token_server: FaultServer{% endif %}) -> dict[str, Any]:
    """The ``{{ cookiecutter.__connector }}`` connector's table for the double, without resilience."""
{%- if cookiecutter.auth_method == "oauth2_client_credentials" %}
    return testing.connector(server.url, token_url=token_server.url + testing.TOKEN_PATH)
{%- else %}
    return testing.connector(server.url)
{%- endif %}


@pytest.fixture
async def make_manager(
    connector: dict[str, Any], registry: PluginRegistry, clock: FakeClock
) -> AsyncIterator[ManagerFactory]:
    """Managers of the ``{{ cookiecutter.__connector }}`` connector, closed after the test."""
    async with ManagerFactory(
        "{{ cookiecutter.__connector }}", connector, registry=registry, clock=clock, resilience=NO_RETRY
    ) as make:
        yield make
