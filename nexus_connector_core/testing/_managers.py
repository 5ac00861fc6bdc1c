"""Managers of one connector for a test, closed together after it.

A plugin's tests build many managers of the same connector, sync and async, with other
options or another resilience table each time, and must close every one of them.
`ManagerFactory` does that once::

    @pytest.fixture
    async def make_manager(connector, registry, environ, clock):
        async with ManagerFactory(
            "sms", connector, registry=registry, environ=environ, clock=clock,
            resilience=NO_RETRY,
        ) as make:
            yield make

    def test_something(make_manager):
        sms = make_manager(options={"sender": "Shop"}).sms
        ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self, overload

from .._async_manager import AsyncConnectorManager
from .._clock import Clock
from .._manager import ConnectorManager
from .._plugins import PluginRegistry

__all__ = ["NO_RETRY", "AnyManager", "ManagerFactory"]

AnyManager = ConnectorManager | AsyncConnectorManager

#: A resilience table without retries or a breaker: each call reaches the vendor once, so a
#: test sees exactly the requests it made.
NO_RETRY: Mapping[str, Any] = {"retry": {"enabled": False}, "circuit_breaker": {"enabled": False}}


class ManagerFactory:
    """Makes `ConnectorManager`s and `AsyncConnectorManager`s of one connector; `aclose`
    (or leaving ``async with``) closes every one it made.

    Args:
        name: the connector's name (``"sms"``, ``"files"``); its category defaults to the
            name, as in a config file (give ``category`` in `table` otherwise).
        table: the connector's table: ``vendor``, ``options``, ``credentials``... (read
            as each manager is made: a test may change it first).
        registry: where the vendor is registered (None: the installed plugins).
        environ: the environment that ``env:NAME`` credentials are read from.
        clock: the managers' clock (a `FakeClock` in tests).
        resilience: the ``resilience`` table when a call gives none (None: the table's
            own, else the library's defaults).
        config: other top-level sections of every manager's config (``observability``).
    """

    def __init__(
        self,
        name: str,
        table: Mapping[str, Any],
        *,
        registry: PluginRegistry | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        resilience: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.table = table
        self.registry = registry
        self.environ = environ
        self.clock = clock
        self.resilience = resilience
        self.config: Mapping[str, Any] = dict(config or {})
        #: Every manager made so far, in order.
        self.made: list[AnyManager] = []

    @overload
    def __call__(
        self,
        *,
        async_: Literal[False] = False,
        options: Mapping[str, Any] | None = None,
        resilience: Mapping[str, Any] | None = None,
        fallback: Sequence[str] | None = None,
    ) -> ConnectorManager: ...

    @overload
    def __call__(
        self,
        *,
        async_: Literal[True],
        options: Mapping[str, Any] | None = None,
        resilience: Mapping[str, Any] | None = None,
        fallback: Sequence[str] | None = None,
    ) -> AsyncConnectorManager: ...

    @overload
    def __call__(
        self,
        *,
        async_: bool,
        options: Mapping[str, Any] | None = None,
        resilience: Mapping[str, Any] | None = None,
        fallback: Sequence[str] | None = None,
    ) -> AnyManager: ...

    def __call__(
        self,
        *,
        async_: bool = False,
        options: Mapping[str, Any] | None = None,
        resilience: Mapping[str, Any] | None = None,
        fallback: Sequence[str] | None = None,
    ) -> AnyManager:
        """A new manager (``async_=True``: an `AsyncConnectorManager`) whose connector has
        `options` added to (or replacing) the table's, this `resilience` table and this
        `fallback` chain."""
        table = dict(self.table)
        if options:
            table["options"] = {**table.get("options", {}), **options}
        chosen = resilience if resilience is not None else self.resilience
        if chosen is not None:
            table["resilience"] = dict(chosen)
        if fallback is not None:
            table["fallback"] = list(fallback)
        config = {**self.config, "connectors": {self.name: table}}
        kind = AsyncConnectorManager if async_ else ConnectorManager
        manager = kind.from_config(
            config, registry=self.registry, clock=self.clock, environ=self.environ
        )
        self.made.append(manager)
        return manager

    async def aclose(self) -> None:
        """Close every manager made, each even when another fails to; then raise the first
        failure, if any."""
        failures: list[BaseException] = []
        while self.made:
            manager = self.made.pop(0)
            try:
                if isinstance(manager, AsyncConnectorManager):
                    await manager.aclose()
                else:
                    manager.close()
            except Exception as exc:  # noqa: BLE001 - the others must close too
                failures.append(exc)
        if failures:
            raise failures[0]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<ManagerFactory {self.name!r} made={len(self.made)}>"
