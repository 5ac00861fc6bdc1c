"""What sync and async connectors share: the adapter, built once, and pipelines per operation."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._categories import ADAPTER_PROTOCOLS, CATEGORIES
from ._context import CallContext
from ._errors import ConnectorError, PluginError
from ._operations import Category, Operation
from ._pipeline import Middleware, StepSettings

if TYPE_CHECKING:
    from ._config import ConnectorSettings
    from ._runtime import Runtime

__all__ = ["ConnectorCore"]

H = TypeVar("H")


class ConnectorCore(Generic[H]):
    """One configured connector: its adapter (built on first use) and its composed pipelines.

    `H` is the handler type: sync or async. Subclasses supply how an adapter is loaded and
    how steps are composed; everything else is shared.
    """

    _async = False

    def __init__(self, settings: ConnectorSettings, runtime: Runtime) -> None:
        self.name = settings.name
        self.settings = settings
        self.category: Category = CATEGORIES[settings.category]
        self._runtime = runtime
        self._vendor_key = settings.vendor.key
        self._clock = runtime.clock
        self._adapter: Any = None
        self._handlers: dict[str, H] = {}
        self._lock = threading.Lock()

    @property
    def vendor(self) -> str:
        """The key of the vendor serving this connector."""
        return self._vendor_key

    @property
    def adapter(self) -> Any:
        """The vendor adapter, built on first use (the memory vendor's has ``.calls``)."""
        adapter = self._adapter
        if adapter is None:
            with self._lock:
                if self._adapter is None:
                    self._adapter = self._build_adapter()
                adapter = self._adapter
        return adapter

    def _build_adapter(self) -> Any:
        self._runtime.ensure_open()
        registration = self.settings.vendor
        factory = registration.load_async() if self._async else registration.load()
        try:
            adapter = factory(self.settings.adapter_settings(self._clock))
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

    def _steps(self, operation: Operation[Any, Any]) -> list[Middleware]:
        steps: list[Middleware] = [self._runtime.observer]
        step_settings = StepSettings(
            connector=self.name,
            category=self.category.key,
            vendor=self._vendor_key,
            operation=operation,
            clock=self._clock,
        )
        for registration in self.settings.middleware:
            step = registration.load()(step_settings)
            if step is not None:
                steps.append(step)
        return steps

    def _handler(self, operation: Operation[Any, Any]) -> H:
        handler = self._handlers.get(operation.name)
        if handler is None:
            adapter = self.adapter
            with self._lock:
                handler = self._handlers.get(operation.name)
                if handler is None:
                    handler = self._compose(
                        getattr(adapter, operation.name), self._steps(operation)
                    )
                    self._handlers[operation.name] = handler
        return handler

    def _compose(self, method: Any, steps: list[Middleware]) -> H:
        raise NotImplementedError

    def _context(self, operation: Operation[Any, Any], idempotency_key: str | None) -> CallContext:
        if self._runtime.closed:
            self._runtime.ensure_open()
        return CallContext(
            self.name, self._vendor_key, operation, self._clock, idempotency_key=idempotency_key
        )

    def operation(self, name: str) -> Operation[Any, Any]:
        """The operation `name` of this connector's category."""
        try:
            return self.category.operation(name)
        except KeyError as exc:
            raise ConnectorError(str(exc.args[0]), connector=self.name) from None

    def _release(self) -> Any:
        with self._lock:
            adapter, self._adapter = self._adapter, None
            self._handlers.clear()
        return adapter

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} vendor={self._vendor_key!r}>"
