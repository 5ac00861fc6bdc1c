"""Fixtures for the Postmark plugin's tests: a local Postmark double over real sockets and
managers whose ``email`` connector sends to it.

- ``postmark``: the `PostmarkDouble` (token `TOKEN`, inactive `INACTIVE`): its ``outbox``
  holds what it accepted.
- ``postmark_server``: a `FaultServer` on 127.0.0.1 answering with ``postmark`` unless a test
  scripts faults (``postmark_server.script(postmark_error(429, 429, ..., retry_after=7))``).
- ``registry``: the built-in plugin plus this one, registered in-process.
- ``make_manager(resilience=None, *, async_=False, clock=None, options=None, base_url=None,
  token=TOKEN)``: a `ConnectorManager` (or `AsyncConnectorManager`) whose ``email``
  connector is Postmark at the double; closed at teardown.
- ``clock``: a `FakeClock` for pipeline waits; ``closed_port``: a port nothing listens on.

With ``--import-mode=importlib`` test modules cannot import this file: constants reach
them through the ``postmark`` fixture (``postmark.server_token``, ``postmark.inactive``).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest
from nexus_connector_postmark import plugin
from nexus_connector_postmark.testing import PostmarkDouble

from nexus_connector_core import AsyncConnectorManager, ConnectorManager, PluginRegistry
from nexus_connector_core.testing import FakeClock, FaultServer

#: The server token the double accepts (long enough for the suite's secret-leak guard).
TOKEN = "pm-server-token-5b1d0c7e-93aa"
#: Addresses the double treats as suppressed (hard bounce, spam complaint...).
INACTIVE = frozenset({"bounced@example.com", "complained@example.com"})

#: make_manager(resilience=None, *, async_=False, clock=None, options=None, base_url=None,
#:              token=TOKEN)
MakeManager = Callable[..., Any]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def postmark() -> PostmarkDouble:
    return PostmarkDouble(server_token=TOKEN, inactive=INACTIVE)


@pytest.fixture
def postmark_server(postmark: PostmarkDouble) -> Iterator[FaultServer]:
    with FaultServer(default=postmark) as server:
        yield server


@pytest.fixture
def registry() -> PluginRegistry:
    registry = PluginRegistry()
    registry.register(plugin, name="postmark")
    return registry


@pytest.fixture
def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def make_manager(
    postmark_server: FaultServer, registry: PluginRegistry
) -> AsyncIterator[MakeManager]:
    made: list[ConnectorManager | AsyncConnectorManager] = []

    def make(
        resilience: Mapping[str, Any] | None = None,
        *,
        async_: bool = False,
        clock: FakeClock | None = None,
        options: Mapping[str, Any] | None = None,
        base_url: str | None = None,
        token: str = TOKEN,
    ) -> ConnectorManager | AsyncConnectorManager:
        connector: dict[str, Any] = {
            "vendor": "postmark",
            "credentials": {"server_token": "env:POSTMARK_SERVER_TOKEN"},
            "options": {"base_url": base_url or postmark_server.url, **(options or {})},
        }
        if resilience is not None:
            connector["resilience"] = dict(resilience)
        config = {"connectors": {"email": connector}, "observability": {"loggers": ["memory"]}}
        kind = AsyncConnectorManager if async_ else ConnectorManager
        manager = kind.from_config(
            config, registry=registry, clock=clock, environ={"POSTMARK_SERVER_TOKEN": token}
        )
        made.append(manager)
        return manager

    yield make
    for manager in made:
        if isinstance(manager, AsyncConnectorManager):
            await manager.aclose()
        else:
            manager.close()
