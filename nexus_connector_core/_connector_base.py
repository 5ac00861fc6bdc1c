"""What sync and async connectors share: adapters built once, and one composed pipeline per
operation.

The pipeline of an operation, outermost first (DESIGN.md, "The call pipeline"):

    observe -> plugin middleware -> idempotency -> cache -> deadline and fallback chain
        -> per vendor: retry, circuit breaker, rate limit, bulkhead, attempt timeout
        -> the vendor adapter's method

Steps that are not configured are left out, so a call pays only for what it uses.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._categories import ADAPTER_PROTOCOLS, CATEGORIES
from ._context import CallContext
from ._errors import ConnectorError, PluginError
from ._operations import Category, Operation
from ._pipeline import StepSettings
from ._resilience.attempts import VendorPolicy
from ._resilience.bulkhead import Bulkhead
from ._resilience.cache import ReadCache
from ._resilience.fallback import FallbackChain
from ._resilience.idempotency import IdempotencyGuard, check_key
from ._state import GuardPlan

if TYPE_CHECKING:
    from ._connector_settings import ConnectorSettings
    from ._runtime import Runtime

__all__ = ["ConnectorCore"]

H = TypeVar("H")

#: Operations whose result is a live stream: neither cached nor stored for idempotency.
_STREAMING = frozenset({("cloud_storage", "open")})


class ConnectorCore(Generic[H]):
    """One configured connector: its adapters (built on first use) and its pipelines.

    `H` is the handler type, sync or async; `_async` says which twin this is.
    """

    _async = False

    def __init__(self, settings: ConnectorSettings, runtime: Runtime) -> None:
        self.name = settings.name
        self.settings = settings
        self.category: Category = CATEGORIES[settings.category]
        self._runtime = runtime
        self._vendor_key = settings.vendor.key
        self._clock = runtime.clock
        self._adapters: list[Any] = [None] * len(settings.vendors)
        self._handlers: dict[str, H] = {}
        self._caches: dict[str, ReadCache] = {}
        self._lock = threading.RLock()
        self._bulkhead = self._make_bulkhead()

    def _make_bulkhead(self) -> Bulkhead | None:
        configs = [c.bulkhead for c in self.settings.resilience.values() if c.bulkhead]
        enabled = [c for c in configs if c.enabled]
        if not enabled:
            return None
        return Bulkhead(min(c.max_concurrent for c in enabled), max(c.max_wait for c in enabled))

    # -- adapters ----------------------------------------------------------------------------

    @property
    def vendor(self) -> str:
        """The key of the primary vendor."""
        return self._vendor_key

    @property
    def vendors(self) -> tuple[str, ...]:
        """The vendor chain: the primary, then the fallbacks."""
        return tuple(v.key for v in self.settings.vendors)

    @property
    def adapter(self) -> Any:
        """The primary vendor's adapter, built on first use (the memory one has ``.calls``)."""
        return self.adapter_for(0)

    def adapter_for(self, vendor: int | str) -> Any:
        """The adapter of a vendor of the chain, by position or key, built on first use."""
        index = vendor if isinstance(vendor, int) else self.vendors.index(vendor)
        adapter = self._adapters[index]
        if adapter is None:
            with self._lock:
                adapter = self._adapters[index]
                if adapter is None:
                    adapter = self._adapters[index] = self._build_adapter(index)
        return adapter

    def _build_adapter(self, index: int) -> Any:
        self._runtime.ensure_open()
        registration = self.settings.vendors[index].registration
        factory = registration.load_async() if self._async else registration.load()
        try:
            settings = self.settings.adapter_settings(
                self._clock, index, self._runtime.state, fail_open=self._runtime.fail_open
            )
            adapter = factory(settings)
        except ConnectorError:
            raise
        except Exception as exc:
            raise PluginError(
                f"{self.category.key} vendor {registration.key!r} failed to start for connector "
                f"{self.name!r}: {type(exc).__name__}: {exc}",
                plugin=registration.plugin,
                distribution=registration.distribution,
            ) from exc
        protocol = ADAPTER_PROTOCOLS[self.category.key][1 if self._async else 0]
        missing = [
            op for op in self.category.operations if not callable(getattr(adapter, op, None))
        ]
        if missing:
            raise PluginError(
                f"{type(adapter).__name__} (vendor {registration.key!r}) does not implement "
                f"{protocol.__name__}: missing {', '.join(missing)}",
                plugin=registration.plugin,
                distribution=registration.distribution,
            )
        return adapter

    # -- pipelines ---------------------------------------------------------------------------

    def _handler(self, operation: Operation[Any, Any]) -> H:
        handler = self._handlers.get(operation.name)
        if handler is None:
            with self._lock:
                handler = self._handlers.get(operation.name)
                if handler is None:
                    handler = self._handlers[operation.name] = self._assemble(operation)
        return handler

    def _vendor_loop(self, operation: Operation[Any, Any], index: int) -> Any:
        vendor = self.settings.vendors[index]
        policy = VendorPolicy(
            connector=self.name,
            vendor=vendor.key,
            operation=operation,
            config=self.settings.resilience[operation.name],
            honours_keys=vendor.registration.idempotency_keys,
            fail_open=self._runtime.fail_open,
            bulkhead=self._bulkhead,
            unguarded=self._runtime.unguarded,
            backend=self._runtime.state,
            watchdogs=self._runtime.watchdogs if self._async else None,
        )
        method = getattr(self.adapter_for(index), operation.name)
        return policy.wrap_async(method) if self._async else policy.wrap(method)

    def _assemble(self, operation: Operation[Any, Any]) -> Any:
        config = self.settings.resilience[operation.name]
        streaming = (self.category.key, operation.name) in _STREAMING
        handler: Any
        if len(self.settings.vendors) == 1:
            handler = self._vendor_loop(operation, 0)
        else:
            handler = self._chain(operation, config.deadline)
        if config.cache is not None and config.cache.enabled and operation.reads and not streaming:
            cache = self._caches[operation.name] = ReadCache(config.cache, self._clock)
            handler = cache.wrap_async(handler) if self._async else cache.wrap(handler)
        if config.idempotency.enabled and not streaming:
            guard = IdempotencyGuard(
                connector=self.name,
                operation=operation,
                config=config.idempotency,
                deadline=config.deadline,
                vendors=self.vendors,
                honouring_keys=frozenset(
                    v.key for v in self.settings.vendors if v.registration.idempotency_keys
                ),
                fail_open=self._runtime.fail_open,
                unguarded=self._runtime.unguarded,
                backend=self._runtime.state,
            )
            handler = guard.wrap_async(handler) if self._async else guard.wrap(handler)
        step_settings = StepSettings(
            connector=self.name,
            category=self.category.key,
            vendor=self._vendor_key,
            operation=operation,
            clock=self._clock,
        )
        steps = [self._runtime.observer]
        for registration in self.settings.middleware:
            step = registration.load()(step_settings)
            if step is not None:
                steps.append(step)
        for step in reversed(steps):
            handler = step.wrap_async(handler) if self._async else step.wrap(handler)
        return handler

    def _chain(self, operation: Operation[Any, Any], deadline: float | None) -> Any:
        chain = FallbackChain(operation, self.vendors, deadline)
        built: list[Any] = [None] * len(self.settings.vendors)

        def builder(index: int) -> Any:
            def build() -> Any:
                loop = built[index]
                if loop is None:
                    with self._lock:
                        loop = built[index]
                        if loop is None:
                            loop = built[index] = self._vendor_loop(operation, index)
                return loop

            return build

        builders = [builder(i) for i in range(len(built))]
        return chain.wrap_async(builders) if self._async else chain.wrap(builders)

    def guard_plan(self, operation: str, vendor: str | None = None) -> GuardPlan | None:
        """What the state backend checks before each attempt of `operation` at `vendor`
        (the primary by default), or None when no breaker, limit or budget applies; pass it
        to ``manager.state.breaker(plan)`` to see the breaker."""
        index = self.vendors.index(vendor) if vendor else 0
        settings = self.settings.vendors[index]
        return VendorPolicy(
            connector=self.name,
            vendor=settings.key,
            operation=self.operation(operation),
            config=self.settings.resilience[operation],
            honours_keys=settings.registration.idempotency_keys,
            fail_open=self._runtime.fail_open,
            bulkhead=None,
        ).plan

    def _context(self, operation: Operation[Any, Any], idempotency_key: str | None) -> CallContext:
        if self._runtime.closed:
            self._runtime.ensure_open()
        if idempotency_key is not None:
            check_key(idempotency_key)
        return CallContext(
            self.name, self._vendor_key, operation, self._clock, idempotency_key=idempotency_key
        )

    def operation(self, name: str) -> Operation[Any, Any]:
        """The operation `name` of this connector's category."""
        try:
            return self.category.operation(name)
        except KeyError as exc:
            raise ConnectorError(str(exc.args[0]), connector=self.name) from None

    def clear_cache(self) -> None:
        """Forget every cached read result of this connector."""
        for cache in self._caches.values():
            cache.clear()

    def _release(self) -> list[Any]:
        with self._lock:
            adapters = [a for a in self._adapters if a is not None]
            self._adapters = [None] * len(self._adapters)
            self._handlers.clear()
        return adapters

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} vendors={list(self.vendors)}>"
