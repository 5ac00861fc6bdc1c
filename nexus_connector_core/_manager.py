"""The managers: what an application builds once from its config and calls vendors through."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar, overload

from ._async_connectors import (
    ASYNC_CONNECTOR_TYPES,
    AsyncCloudStorageConnector,
    AsyncConnector,
    AsyncEmailConnector,
    AsyncPaymentConnector,
    AsyncShippingConnector,
    AsyncSmsConnector,
)
from ._clock import SYSTEM_CLOCK, Clock
from ._config import Config, ConfigSource, load_config
from ._connector_base import ConnectorCore
from ._connectors import (
    CONNECTOR_TYPES,
    CloudStorageConnector,
    Connector,
    EmailConnector,
    PaymentConnector,
    ShippingConnector,
    SmsConnector,
)
from ._errors import ConnectorError
from ._observe import (
    CallLogger,
    IntegrationLogRecord,
    LoggingCallLogger,
    MemoryCallLogger,
    Observer,
)
from ._plugins import PluginRegistry
from ._runtime import Runtime
from ._state import BackendSettings

__all__ = ["AsyncConnectorManager", "ConnectorManager"]

C = TypeVar("C", bound=ConnectorCore[Any])


class _ManagerBase(Generic[C]):
    _types: Mapping[str, type[C]]
    _async = False

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        loggers: Sequence[CallLogger] = (),
        state: Any = None,
    ) -> None:
        self.config = config
        self.clock = clock or SYSTEM_CLOCK
        self._owns_state = state is None
        if state is None:
            registration = config.state.backend
            factory = registration.load_async() if self._async else registration.load()
            state = factory(
                BackendSettings(
                    options=config.state.options, clock=self.clock, prefix=config.state.prefix
                )
            )
        self._memory_log: MemoryCallLogger | None = None
        configured: list[CallLogger] = []
        for kind in config.observability.loggers:
            if kind == "memory":
                self._memory_log = MemoryCallLogger(config.observability.ring_size)
                configured.append(self._memory_log)
            else:
                configured.append(LoggingCallLogger())
        self._runtime = Runtime(
            self.clock,
            Observer([*configured, *loggers]),
            state,
            fail_open=config.state.fail_mode == "open",
        )
        self._connectors: dict[str, C] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        source: ConfigSource | None = None,
        *,
        registry: PluginRegistry | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        loggers: Sequence[CallLogger] = (),
        state: Any = None,
    ) -> Self:
        """Build a manager from a config file path or mapping.

        With no `source`, reads ``$NEXUS_CONNECTOR_CONFIG`` or ``./connectors.toml``.
        `registry` defaults to every installed plugin; `environ` to ``os.environ`` (for
        ``NEXUS_CONNECTOR__...`` overrides and ``env:`` secrets). `state` replaces the
        configured state backend (tests use it to make two managers share one).
        """
        config = load_config(source, registry=registry, environ=environ)
        return cls(config, clock=clock, loggers=loggers, state=state)

    @property
    def state(self) -> Any:
        """The state backend: breakers, limiters and idempotency records live there."""
        return self._runtime.state

    def _get(self, name: str, category: str | None) -> C:
        found = self._connectors.get(name)
        if found is None:
            settings = self.config.connectors.get(name)
            if settings is None:
                configured = ", ".join(
                    f"{n} ({s.category})" for n, s in self.config.connectors.items()
                )
                raise ConnectorError(
                    f"no connector named {name!r} in {self.config.source}; configured: "
                    f"{configured or 'none'}. Add a [connectors.{name}] table."
                )
            with self._lock:
                self._runtime.ensure_open()
                found = self._connectors.get(name)
                if found is None:
                    found = self._types[settings.category](settings, self._runtime)
                    self._connectors[name] = found
        if category is not None and found.category.key != category:
            raise ConnectorError(
                f"connector {name!r} is a {found.category.key} connector, not {category}",
                connector=name,
            )
        return found

    @property
    def call_log(self) -> list[IntegrationLogRecord]:
        """The most recent integration-log records, oldest first (``memory`` logger)."""
        return self._memory_log.records() if self._memory_log else []

    @property
    def unguarded_calls(self) -> int:
        """Calls let through without their breaker, limiter or idempotency guard because the
        state backend could not be reached (``[state] fail_mode = "open"``)."""
        return self._runtime.unguarded.value

    @property
    def closed(self) -> bool:
        """Whether `close` / `aclose` has been called."""
        return self._runtime.closed

    def _take_connectors(self) -> list[C]:
        with self._lock:
            self._runtime.closed = True
            connectors = list(self._connectors.values())
            self._connectors.clear()
        return connectors

    def __repr__(self) -> str:
        names = ", ".join(self.config.connectors)
        return f"<{type(self).__name__} [{names}] from {self.config.source}>"


class ConnectorManager(_ManagerBase[Connector]):
    """Calls vendors synchronously through configured connectors.

    >>> with ConnectorManager.from_config("connectors.toml") as manager:  # doctest: +SKIP
    ...     manager.email.send(EmailMessage(sender="shop@example.com", to=["ada@example.com"],
    ...                                     subject="Hello", text="Hi Ada"))

    Connectors and their adapters are built on first use and reused; the manager is safe to
    share between threads. `close` releases every adapter's connections.
    """

    _types = CONNECTOR_TYPES

    @overload
    def connector(self, name: str, category: Literal["email"]) -> EmailConnector: ...
    @overload
    def connector(self, name: str, category: Literal["sms"]) -> SmsConnector: ...
    @overload
    def connector(self, name: str, category: Literal["payment"]) -> PaymentConnector: ...
    @overload
    def connector(self, name: str, category: Literal["cloud_storage"]) -> CloudStorageConnector: ...
    @overload
    def connector(self, name: str, category: Literal["shipping"]) -> ShippingConnector: ...
    @overload
    def connector(self, name: str, category: None = None) -> Any: ...
    def connector(self, name: str, category: str | None = None) -> Connector:
        """The connector `name`; give its `category` to have it checked and typed."""
        return self._get(name, category)

    @property
    def email(self) -> EmailConnector:
        """The connector named ``email``."""
        return self.connector("email", "email")

    @property
    def sms(self) -> SmsConnector:
        """The connector named ``sms``."""
        return self.connector("sms", "sms")

    @property
    def payment(self) -> PaymentConnector:
        """The connector named ``payment``."""
        return self.connector("payment", "payment")

    @property
    def cloud_storage(self) -> CloudStorageConnector:
        """The connector named ``cloud_storage``."""
        return self.connector("cloud_storage", "cloud_storage")

    @property
    def shipping(self) -> ShippingConnector:
        """The connector named ``shipping``."""
        return self.connector("shipping", "shipping")

    def close(self) -> None:
        """Release every adapter; later calls raise. Calling it again does nothing."""
        errors = []
        if self.closed:
            return
        for connector in self._take_connectors():
            try:
                connector.close()
            except Exception as exc:  # noqa: BLE001 - close the others, then report
                errors.append(exc)
        if self._owns_state:
            self._runtime.state.close()
        if errors:
            raise errors[0]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncConnectorManager(_ManagerBase[AsyncConnector]):
    """Calls vendors with ``await`` through configured connectors.

    >>> async with AsyncConnectorManager.from_config() as manager:  # doctest: +SKIP
    ...     await manager.sms.send(SmsMessage(to="+14155550100", body="Your code is 4242"))
    """

    _types = ASYNC_CONNECTOR_TYPES
    _async = True

    @overload
    def connector(self, name: str, category: Literal["email"]) -> AsyncEmailConnector: ...
    @overload
    def connector(self, name: str, category: Literal["sms"]) -> AsyncSmsConnector: ...
    @overload
    def connector(self, name: str, category: Literal["payment"]) -> AsyncPaymentConnector: ...
    @overload
    def connector(
        self, name: str, category: Literal["cloud_storage"]
    ) -> AsyncCloudStorageConnector: ...
    @overload
    def connector(self, name: str, category: Literal["shipping"]) -> AsyncShippingConnector: ...
    @overload
    def connector(self, name: str, category: None = None) -> Any: ...
    def connector(self, name: str, category: str | None = None) -> AsyncConnector:
        """The connector `name`; give its `category` to have it checked and typed."""
        return self._get(name, category)

    @property
    def email(self) -> AsyncEmailConnector:
        """The connector named ``email``."""
        return self.connector("email", "email")

    @property
    def sms(self) -> AsyncSmsConnector:
        """The connector named ``sms``."""
        return self.connector("sms", "sms")

    @property
    def payment(self) -> AsyncPaymentConnector:
        """The connector named ``payment``."""
        return self.connector("payment", "payment")

    @property
    def cloud_storage(self) -> AsyncCloudStorageConnector:
        """The connector named ``cloud_storage``."""
        return self.connector("cloud_storage", "cloud_storage")

    @property
    def shipping(self) -> AsyncShippingConnector:
        """The connector named ``shipping``."""
        return self.connector("shipping", "shipping")

    async def aclose(self) -> None:
        """Release every adapter; later calls raise. Calling it again does nothing."""
        errors = []
        if self.closed:
            return
        for connector in self._take_connectors():
            try:
                await connector.aclose()
            except Exception as exc:  # noqa: BLE001 - close the others, then report
                errors.append(exc)
        if self._owns_state:
            await self._runtime.state.aclose()
        if errors:
            raise errors[0]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
