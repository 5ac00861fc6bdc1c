"""The asynchronous manager: what an application builds once from its config and calls
vendors through."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, Self, overload

from ._async_connectors import (
    ASYNC_CONNECTOR_TYPES,
    AsyncCloudStorageConnector,
    AsyncConnector,
    AsyncEmailConnector,
    AsyncPaymentConnector,
    AsyncShippingConnector,
    AsyncSmsConnector,
)
from ._manager_base import ManagerBase
from ._state import AsyncStateBackend

__all__ = ["AsyncConnectorManager"]


class AsyncConnectorManager(ManagerBase[AsyncConnector, AsyncStateBackend]):
    """Calls vendors asynchronously through configured connectors.

    >>> async with AsyncConnectorManager.from_config("connectors.toml") as m:  # doctest: +SKIP
    ...     await m.sms.send(SmsMessage(to="+14155550100", body="Your code is 4242"))

    Connectors and their adapters are built on first use and reused; the manager is safe to
    share between threads and tasks. `aclose` releases every adapter's connections.
    """

    _types = ASYNC_CONNECTOR_TYPES
    _async = True  # unasync: _async = False

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
