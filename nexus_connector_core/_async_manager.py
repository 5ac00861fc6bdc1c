"""The asynchronous manager: what an application builds once from its config and calls
vendors through."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, overload

from ._errors import ConnectorError, StateBackendUnavailableError
from ._health import CHECK_TIMEOUT, ConnectorHealth, HealthReport, VendorHealth, acheck_adapter
from ._manager_base import ManagerBase

if TYPE_CHECKING:  # imported when used (see _manager_base)
    from ._alerts import AlertsReport
    from ._async_connectors import (
        AsyncApiConnector,
        AsyncCloudStorageConnector,
        AsyncConnector,
        AsyncEmailConnector,
        AsyncPaymentConnector,
        AsyncShippingConnector,
        AsyncSmsConnector,
    )
    from ._slo import SloReport
    from ._state import (  # noqa: F401 - the base class's
        AsyncStateBackend,
        BreakerSnapshot,
        LimiterSnapshot,
    )

__all__ = ["AsyncConnectorManager"]


class AsyncConnectorManager(ManagerBase["AsyncConnector", "AsyncStateBackend"]):
    """Calls vendors asynchronously through configured connectors.

    >>> async with AsyncConnectorManager.from_config("connectors.toml") as m:  # doctest: +SKIP
    ...     await m.sms.send(SmsMessage(to="+14155550100", body="Your code is 4242"))

    Connectors and their adapters are built on first use and reused; the manager is safe to
    share between threads and tasks. `aclose` releases every adapter's connections.
    """

    _async = True  # unasync: _async = False

    @staticmethod
    def _connector_type(category: str) -> type[AsyncConnector]:
        from ._async_connectors import ASYNC_CONNECTOR_TYPES

        return ASYNC_CONNECTOR_TYPES[category]

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
    def connector(self, name: str, category: Literal["api"]) -> AsyncApiConnector: ...
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

    async def health(self, *, checks: bool = True, timeout: float = CHECK_TIMEOUT) -> HealthReport:
        """The health of every connector (see `HealthReport`): each vendor's breaker from the
        state backend (every worker's view), this process's recent calls, and, with
        `checks`, each adapter's own ``health_check()``, given `timeout` seconds each."""
        connectors: dict[str, ConnectorHealth] = {}
        for name in self.config.connectors:
            connector = self.connector(name)
            vendors: list[VendorHealth] = []
            backend_down = False
            for vendor in connector.vendors:
                snapshots: list[BreakerSnapshot] = []
                limiters: list[LimiterSnapshot] = []
                try:
                    for plan in self._breaker_plans(connector, vendor):
                        snapshots.append(await self.state.breaker(plan))
                    for plan in self._limit_plans(connector, vendor):
                        limiters.append(await self.state.limiter(plan))
                except StateBackendUnavailableError:
                    backend_down = True
                check = None
                if checks:
                    try:
                        adapter = connector.adapter_for(vendor)
                    except ConnectorError as exc:
                        check = f"adapter cannot start ({type(exc).__name__})"
                    else:
                        check = await acheck_adapter(adapter, timeout)
                vendors.append(self._vendor_health(vendor, snapshots, check, limiters))
            connectors[name] = self._connector_health(connector, tuple(vendors), backend_down)
        return self._report(connectors)

    async def slo(self) -> SloReport:
        """Every configured SLO as the fleet's counts stand: attainment, error budget left,
        burn rates over 1 h, 6 h and 3 d (see `SloReport`). Counts reach the state backend
        within ``[alerting] flush_every`` seconds of each call."""
        now, queries = self._slo_queries()
        sums = await self.state.slo_read(queries) if queries else []
        return self._slo_reader.report(now, sums)

    async def alerts(self) -> AlertsReport:
        """Every alert rule's state from the leader's last evaluation, whichever worker it
        was (see `AlertsReport`)."""
        from ._alerts import ALERTS_LEASE

        return self._alerts_report(await self.state.lease_read(ALERTS_LEASE))

    async def aclose(self) -> None:
        """Release every adapter; later calls raise. Calling it again does nothing."""
        errors = []
        if self.closed:
            return
        await self._aclose_monitor()  # unasync: self._close_monitor()
        for connector in self._take_connectors():
            try:
                await connector.aclose()
            except Exception as exc:  # noqa: BLE001 - close the others, then report
                errors.append(exc)
        await self._aclose_log_sinks()  # unasync: self._close_log_sinks()
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
