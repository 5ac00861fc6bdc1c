"""What sync and async connectors share: adapters built once, and one composed pipeline per
operation.

The pipeline of an operation, outermost first (DESIGN.md, "The call pipeline"):

    observe -> plugin middleware -> idempotency -> cache -> deadline and fallback chain
        -> per vendor: retry, circuit breaker, rate limit, bulkhead, attempt timeout
        -> the vendor adapter's method

Every step is a `Middleware` (`_pipeline.py`): the observer, the plugins' middleware, and
the core steps of `_resilience/middleware.py` (and `ReadCache`). The base assembles the list
of steps; each twin composes it with its own kind of handler (`_compose`: ``wrap`` or
``wrap_async`` of each step, innermost first). Steps that are not configured are left out,
so a call pays only for what it uses. Each operation has two pipelines: one for calls with
an idempotency key, and one for calls without, which leaves out the idempotency step when
no key can appear on the way (none is derived from the request and no middleware may set
one). With one vendor, no cache and no middleware, the keyless pipeline is the attempt step
alone, observing the call itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._categories import ADAPTER_PROTOCOLS
from ._errors import ConnectorError, PluginError
from ._operations import Category, Operation
from ._pipeline import Middleware, StepSettings
from ._resilience.attempts import VendorPolicy
from ._resilience.bulkhead import Bulkhead
from ._resilience.cache import ReadCache
from ._resilience.fallback import FallbackChain
from ._resilience.idempotency import IdempotencyGuard
from ._resilience.middleware import AttemptStep, FallbackStep, IdempotencyStep
from ._state import AsyncStateBackend, GuardPlan, StateBackend

if TYPE_CHECKING:
    from ._connector_settings import ConnectorSettings
    from ._runtime import Runtime

__all__ = ["ConnectorCore"]

H = TypeVar("H")
S = TypeVar("S", StateBackend, AsyncStateBackend)


class ConnectorCore(Generic[H, S]):
    """One configured connector: its adapters (built on first use) and its pipelines.

    `H` is the handler type and `S` the state backend's, sync or async; `_async` says which
    twin this is. The twins (`AsyncConnector`, and `Connector` generated from it) compose
    the steps with their own kind of handler: `_compose`.
    """

    _async = False

    def __init__(self, settings: ConnectorSettings, runtime: Runtime[S]) -> None:
        self.name = settings.name
        self.settings = settings
        self.category: Category = settings.contract
        self._runtime: Runtime[S] = runtime
        self._vendor_key = settings.vendor.key
        self._clock = runtime.clock
        self._adapters: list[Any] = [None] * len(settings.vendors)
        #: Each operation's pipeline for calls without an idempotency key, and with one.
        self._handlers: dict[str, H] = {}
        self._keyed: dict[str, H] = {}
        #: The steps of both, outermost first (`pipeline`).
        self._steps: dict[str, tuple[tuple[Middleware, ...], tuple[Middleware, ...]]] = {}
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
                self._clock, index, self._runtime.state, fail_open=self._runtime.outage.fail_open
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
        methods = dict.fromkeys(op.adapter_method for op in self.category.operations.values())
        missing = [name for name in methods if not callable(getattr(adapter, name, None))]
        if missing:
            raise PluginError(
                f"{type(adapter).__name__} (vendor {registration.key!r}) does not implement "
                f"{protocol.__name__}: missing {', '.join(missing)}",
                plugin=registration.plugin,
                distribution=registration.distribution,
            )
        return adapter

    # -- pipelines ---------------------------------------------------------------------------

    def _compose(self, steps: Sequence[Middleware], handler: H) -> H:
        """`handler` with `steps` around it, the first outermost (each twin's own kind)."""
        raise NotImplementedError

    def pipeline(self, operation: str, *, keyed: bool = False) -> tuple[Middleware, ...]:
        """The steps of `operation`'s pipeline, outermost first, for calls with an
        idempotency key (`keyed`) or without; assembled (and the adapter built) if it was
        not yet. The vendor's method is inside the last.

        >>> [type(step).__name__ for step in manager.email.pipeline("send")]  # doctest: +SKIP
        ['AttemptStep']
        """
        op = self.operation(operation)
        self._handler(op, keyed)
        return self._steps[op.name][keyed]

    def _handler(self, operation: Operation[Any, Any], keyed: bool = False) -> H:
        """The pipeline of `operation` for a call with an idempotency key (`keyed`) or
        without, assembled on first use."""
        handlers = self._keyed if keyed else self._handlers
        handler = handlers.get(operation.name)
        if handler is None:
            with self._lock:
                handler = handlers.get(operation.name)
                if handler is None:
                    keyless, with_key = self._assemble(operation)
                    self._keyed[operation.name] = with_key
                    self._handlers[operation.name] = keyless
                    handler = with_key if keyed else keyless
        return handler

    def _policy(self, operation: Operation[Any, Any], index: int) -> VendorPolicy:
        vendor = self.settings.vendors[index]
        policy = VendorPolicy(
            connector=self.name,
            vendor=vendor.key,
            operation=operation,
            config=self.settings.resilience[operation.name],
            honours_keys=vendor.registration.idempotency_keys or operation.sends_key,
            outage=self._runtime.outage,
            bulkhead=self._bulkhead,
        )
        self._runtime.observer.telemetry.watch(policy)
        return policy

    def _method(self, operation: Operation[Any, Any], index: int) -> H:
        """The method of vendor `index`'s adapter that serves `operation`."""
        method: H = getattr(self.adapter_for(index), operation.adapter_method)
        return method

    def _vendor_path(self, operation: Operation[Any, Any], index: int) -> H:
        """Vendor `index`'s method within its attempts (a fallback vendor's whole path)."""
        step = AttemptStep(self._policy(operation, index), self._runtime.state)
        return self._compose([step], self._method(operation, index))

    def _assemble(self, operation: Operation[Any, Any]) -> tuple[H, H]:
        """The pipelines of `operation`: for calls without an idempotency key, and with one.
        They share every step (one cache, one policy per vendor)."""
        config = self.settings.resilience[operation.name]
        state = self._runtime.state
        observer = self._runtime.observer
        # The steps between the idempotency step and the vendor: one handler for both.
        inner: list[Middleware] = []
        cache = config.cache
        if cache is not None and cache.enabled and operation.reads and not operation.streams:
            read_cache = self._caches[operation.name] = ReadCache(cache, self._clock)
            inner.append(read_cache)
        if len(self.settings.vendors) > 1:
            chain = FallbackChain(operation, self.vendors, config.deadline)
            fallbacks = [self._fallback(operation, i) for i in range(1, len(self.vendors))]
            inner.append(FallbackStep(chain, fallbacks))
        policy = self._policy(operation, 0)
        method = self._method(operation, 0)
        inner.append(AttemptStep(policy, state))
        handler = self._compose(inner, method)
        outer: list[Middleware] = [observer, *self._plugin_steps(operation)]
        keyless_steps = keyed_steps = [*outer, *inner]
        keyless = keyed = self._compose(outer, handler)
        guard = self._guard(operation)
        if guard is not None:
            idempotency = IdempotencyStep(guard, state)
            keyed_steps = [*outer, idempotency, *inner]
            keyed = self._compose([*outer, idempotency], handler)
        if guard is not None and (guard.derives or len(outer) > 1):
            # A key may come from the request, or a middleware may set one.
            keyless_steps, keyless = keyed_steps, keyed
        elif len(inner) == 1 and len(outer) == 1:
            # One vendor and nothing else: the attempt step observes the call itself.
            keyless_steps = [AttemptStep(policy, state, observer)]
            keyless = self._compose(keyless_steps, method)
        self._steps[operation.name] = (tuple(keyless_steps), tuple(keyed_steps))
        return keyless, keyed

    def _guard(self, operation: Operation[Any, Any]) -> IdempotencyGuard | None:
        """The idempotency step's decisions for `operation`, unless it has none."""
        config = self.settings.resilience[operation.name]
        if not config.idempotency.enabled or operation.streams:
            return None
        return IdempotencyGuard(
            connector=self.name,
            operation=operation,
            config=config.idempotency,
            deadline=config.deadline,
            vendors=self.vendors,
            honouring_keys=frozenset(
                v.key
                for v in self.settings.vendors
                if v.registration.idempotency_keys or operation.sends_key
            ),
            outage=self._runtime.outage,
        )

    def _plugin_steps(self, operation: Operation[Any, Any]) -> list[Middleware]:
        """The middleware the connector lists (``middleware = [...]``) that joins `operation`."""
        step_settings = StepSettings(
            connector=self.name,
            category=self.category.key,
            vendor=self._vendor_key,
            operation=operation,
            clock=self._clock,
        )
        steps = (registration.load()(step_settings) for registration in self.settings.middleware)
        return [step for step in steps if step is not None]

    def _fallback(self, operation: Operation[Any, Any], index: int) -> Callable[[], H]:
        """What builds vendor `index`'s path when a call first falls back to it."""
        built: list[H] = []

        def build() -> H:
            if not built:
                with self._lock:
                    if not built:
                        built.append(self._vendor_path(operation, index))
            return built[0]

        return build

    def guard_plan(self, operation: str, vendor: str | None = None) -> GuardPlan | None:
        """What the state backend checks before each attempt of `operation` at `vendor`
        (the primary by default), or None when no breaker, limit or budget applies; pass it
        to ``manager.state.breaker(plan)`` to see the breaker."""
        index = self.vendors.index(vendor) if vendor else 0
        settings = self.settings.vendors[index]
        op = self.operation(operation)
        return VendorPolicy(
            connector=self.name,
            vendor=settings.key,
            operation=op,
            config=self.settings.resilience[operation],
            honours_keys=settings.registration.idempotency_keys or op.sends_key,
            outage=self._runtime.outage,
            bulkhead=None,
        ).plan

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
            self._keyed.clear()
            self._steps.clear()
        return adapters

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} vendors={list(self.vendors)}>"
