# Generated from _async_manager.py by nexus_connector_core._unasync: do not edit.
"""The synchronous manager: what an application builds once from its config and calls
vendors through."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, Self, overload

from ._connectors import (
    CONNECTOR_TYPES,
    CloudStorageConnector,
    Connector,
    EmailConnector,
    PaymentConnector,
    ShippingConnector,
    SmsConnector,
)
from ._manager_base import ManagerBase

__all__ = ["ConnectorManager"]


class ConnectorManager(ManagerBase[Connector]):
    """Calls vendors synchronously through configured connectors.

    >>> with ConnectorManager.from_config("connectors.toml") as m:  # doctest: +SKIP
    ...     m.sms.send(SmsMessage(to="+14155550100", body="Your code is 4242"))

    Connectors and their adapters are built on first use and reused; the manager is safe to
    share between threads and tasks. `close` releases every adapter's connections.
    """

    _types = CONNECTOR_TYPES
    _async = False

    @overload
    def connector(self, name: str, category: Literal["email"]) -> EmailConnector: ...
    @overload
    def connector(self, name: str, category: Literal["sms"]) -> SmsConnector: ...
    @overload
    def connector(self, name: str, category: Literal["payment"]) -> PaymentConnector: ...
    @overload
    def connector(
        self, name: str, category: Literal["cloud_storage"]
    ) -> CloudStorageConnector: ...
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
