"""What both managers share: the config, the runtime, and connectors built on first use.

Importing a manager loads what the class needs, not what a manager uses: the runtime (the
observer and its loggers, the state backend), the config reader (and through it plugin
discovery), the connector faces, SLOs and alerts are imported by the first call that needs
them, so ``from nexus_connector_core import ConnectorManager`` stays cheap
(benchmarks/import_and_discovery.py).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from ._clock import SYSTEM_CLOCK, Clock
from ._errors import ConnectorError
from ._health import (
    ConnectorHealth,
    HealthReport,
    VendorHealth,
    connector_status,
    report_status,
    tightest,
)

if TYPE_CHECKING:
    from ._alerts import AlertsReport
    from ._config import Config, ConfigSource
    from ._connector_base import ConnectorCore
    from ._monitor import Monitor
    from ._observe import CallLogger, IntegrationLogRecord, MemoryCallLogger
    from ._plugins import PluginRegistry
    from ._runtime import Runtime
    from ._slo import SloReader
    from ._sql_log import LogSink
    from ._state import (
        AsyncStateBackend,
        BreakerSnapshot,
        GuardPlan,
        Lease,
        LimiterSnapshot,
        SloQuery,
        StateBackend,
    )

__all__ = ["ManagerBase"]

_BREAKER_ORDER = {"closed": 0, "half_open": 1, "open": 2}

C = TypeVar("C", bound="ConnectorCore[Any, Any]")
S = TypeVar("S", "StateBackend", "AsyncStateBackend")


class ManagerBase(Generic[C, S]):
    """The shared part of `ConnectorManager` and `AsyncConnectorManager` (`S`: the kind of
    state backend, sync or async)."""

    _async = False

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        loggers: Sequence[CallLogger] = (),
        state: S | None = None,
    ) -> None:
        from ._observe import LoggingCallLogger, MemoryCallLogger, Observer
        from ._runtime import Runtime
        from ._state import BackendSettings

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
            elif kind == "logging":
                configured.append(LoggingCallLogger())
        # -- sinks writing in the background (sql): started here, closed with the manager
        self._log_sinks: tuple[LogSink, ...] = ()
        if "sql" in config.observability.loggers:
            from ._sql_log import open_log_sinks

            self._log_sinks = tuple(open_log_sinks(config.observability))
            configured.extend(self._log_sinks)
        self._runtime: Runtime[S] = Runtime(
            self.clock,
            Observer([*configured, *loggers]),
            state,
            fail_open=config.state.fail_mode == "open",
        )
        self._connectors: dict[str, C] = {}
        self._lock = threading.Lock()
        #: Counts calls for SLOs and alert rules and evaluates the rules (None when the
        #: config has neither, nor ``[alerting] count_calls``).
        self.monitor: Monitor | None = None
        if config.alerting.counting:
            try:
                self.monitor = self._start_monitor(state)
            except BaseException:
                self._close_log_sinks()  # their threads would outlive a manager never made
                raise

    @classmethod
    def from_config(
        cls,
        source: ConfigSource | None = None,
        *,
        registry: PluginRegistry | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        loggers: Sequence[CallLogger] = (),
        state: S | None = None,
    ) -> Self:
        """Build a manager from a config file path or mapping.

        With no `source`, reads ``$NEXUS_CONNECTOR_CONFIG`` or ``./connectors.toml``.
        `registry` defaults to every installed plugin; `environ` to ``os.environ`` (for
        ``NEXUS_CONNECTOR__...`` overrides and ``env:`` secrets). `state` replaces the
        configured state backend (tests use it to make two managers share one).
        """
        from ._config import load_config

        config = load_config(source, registry=registry, environ=environ)
        return cls(config, clock=clock, loggers=loggers, state=state)

    @property
    def state(self) -> S:
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
                    found = self._connector_type(settings.category)(settings, self._runtime)
                    self._connectors[name] = found
        if category is not None and found.category.key != category:
            raise ConnectorError(
                f"connector {name!r} is a {found.category.key} connector, not {category}",
                connector=name,
            )
        return found

    @staticmethod
    def _connector_type(category: str) -> type[C]:
        """The connector class of `category` (each twin imports its faces here)."""
        raise NotImplementedError

    @property
    def call_log(self) -> list[IntegrationLogRecord]:
        """The most recent integration-log records, oldest first (``memory`` logger)."""
        return self._memory_log.records() if self._memory_log else []

    @property
    def log_sinks(self) -> tuple[LogSink, ...]:
        """The integration-log sinks that write in the background (``sql``), each with its
        `dropped` count; the manager closes them when it closes."""
        return self._log_sinks

    def _close_log_sinks(self) -> None:
        # Each sink bounds its own wait (close_timeout) and never raises.
        for sink in self._log_sinks:
            sink.close()

    async def _aclose_log_sinks(self) -> None:
        if self._log_sinks:
            import asyncio

            await asyncio.to_thread(self._close_log_sinks)

    # -- SLOs and alerts: the monitor and the reports both twins share -----------------------

    def _start_monitor(self, state: S) -> Monitor:
        from ._monitor import Monitor
        from ._state import BackendSettings

        owns = False
        backend: Any = state  # a StateBackend, or (async twin) an AsyncStateBackend
        sync: StateBackend
        if not self._async:
            sync = backend
        else:
            nonblocking = backend.nonblocking
            if nonblocking is not None:
                sync = nonblocking
            else:  # the monitor's thread needs a blocking twin of the same backend
                state_settings = self.config.state
                sync = state_settings.backend.load()(
                    BackendSettings(
                        options=state_settings.options,
                        clock=self.clock,
                        prefix=state_settings.prefix,
                    )
                )
                owns = True
        return Monitor(
            self.config.alerting,
            clock=self.clock,
            stats=self._runtime.observer.stats,
            state=sync,
            owns_state=owns,
            breaker_plans=self._breakers_of,
        )

    def _breakers_of(self, name: str, vendor: str | None) -> list[GuardPlan]:
        connector = self._get(name, None)
        vendors = connector.vendors if vendor is None else (vendor,)
        return [plan for key in vendors for plan in self._breaker_plans(connector, key)]

    def _slo_queries(self) -> tuple[float, list[SloQuery]]:
        now = self.clock.time()
        return now, self._slo_reader.queries(now)

    @functools.cached_property
    def _slo_reader(self) -> SloReader:
        from ._slo import SloReader

        return SloReader(self.config.alerting.slos)

    def _alerts_report(self, lease: Lease) -> AlertsReport:
        from ._alerts import alerts_report

        return alerts_report(self.config.alerting.rules, lease.data, lease.holder)

    def _close_monitor(self) -> None:
        if self.monitor is not None:
            self.monitor.close()

    async def _aclose_monitor(self) -> None:
        if self.monitor is not None:
            import asyncio

            await asyncio.to_thread(self.monitor.close)

    @property
    def unguarded_calls(self) -> int:
        """Calls let through without their breaker, limiter or idempotency guard because the
        state backend could not be reached (``[state] fail_mode = "open"``)."""
        return self._runtime.outage.unguarded_calls

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

    # -- health: what both twins share (the I/O is theirs) ----------------------------------

    def _breaker_plans(self, connector: C, vendor: str) -> list[GuardPlan]:
        """The distinct breakers of `vendor` in `connector` (one, or one per operation)."""
        plans: dict[str, GuardPlan] = {}
        for operation in connector.category.operations:
            plan = connector.guard_plan(operation, vendor)
            if plan is not None and plan.breaker is not None:
                plans.setdefault(plan.breaker_key, plan)
        return list(plans.values())

    def _limit_plans(self, connector: C, vendor: str) -> list[GuardPlan]:
        """The distinct shared rate limiters of `vendor` in `connector`; a caller's own
        (``per_key``) are many and left out."""
        plans: dict[str, GuardPlan] = {}
        for operation in connector.category.operations:
            plan = connector.guard_plan(operation, vendor)
            if plan is not None and plan.limit is not None and not plan.limit_per_caller:
                plans.setdefault(plan.limit_key, plan)
        return list(plans.values())

    @staticmethod
    def _vendor_health(
        vendor: str,
        snapshots: list[BreakerSnapshot],
        check: str | None,
        limiters: list[LimiterSnapshot],
    ) -> VendorHealth:
        worst = max(snapshots, key=lambda s: _BREAKER_ORDER[s.state], default=None)
        return VendorHealth(
            vendor=vendor,
            breaker=worst.state if worst is not None else None,
            retry_after=worst.retry_after if worst is not None else 0.0,
            window_calls=sum(s.calls for s in snapshots),
            window_failures=sum(s.failures for s in snapshots),
            check=check,
            limiter=tightest(limiters),
        )

    def _connector_health(
        self, connector: C, vendors: tuple[VendorHealth, ...], backend_down: bool
    ) -> ConnectorHealth:
        recent = self._runtime.observer.stats.summary(connector.name, self.clock)
        status, found = connector_status(vendors, recent.serving, recent.error_rate)
        reasons: tuple[str, ...] = found
        if backend_down:
            closed = not self._runtime.outage.fail_open
            if closed:
                status = "unhealthy"
            elif status == "healthy":
                status = "degraded"
            outage = "state backend unreachable" + (
                " (fail_mode closed: calls fail)" if closed else " (calls go unguarded)"
            )
            reasons = (outage, *reasons)
        return ConnectorHealth(
            name=connector.name,
            category=connector.category.key,
            status=status,
            reasons=reasons,
            vendors=vendors,
            recent=recent,
        )

    def _report(self, connectors: dict[str, ConnectorHealth]) -> HealthReport:
        dropped = sum(getattr(sink, "dropped", 0) for sink in self._runtime.observer.loggers)
        return HealthReport(
            status=report_status(connectors, dropped),
            checked_at=datetime.fromtimestamp(self.clock.time(), UTC),
            connectors=connectors,
            dropped_log_records=dropped,
        )

    def __repr__(self) -> str:
        names = ", ".join(self.config.connectors)
        return f"<{type(self).__name__} [{names}] from {self.config.source}>"
