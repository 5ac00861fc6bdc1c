"""The memory shipping vendor passes the shipping adapter conformance suite.

Faults map to its `MemoryOptions` (the next call fails with the matching ``failure``), but
for ``lost_answer``, which the memory vendor has no option for: the probe wraps the
adapter's operations so that the next call is served, then answered with an error saying
the answer was lost, as a connection reset after the vendor acted would be.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import pytest

from nexus_connector_core import PluginRegistry, Shipment, VendorUnavailableError
from nexus_connector_core.testing import (
    ReceivedParcel,
    ReceivedShippingRequest,
    ShippingAdapterConformance,
    ShippingFaultKind,
    ShippingHarness,
)

#: Which `MemoryOptions.failure` stands for each fault of the suite that has one.
FAILURES: dict[ShippingFaultKind, str] = {
    "auth": "auth",
    "rate_limited": "rate_limited",
    "transient": "unavailable",
}
OPERATIONS = ("rates", "buy", "track", "cancel", "validate_address")


class MemoryProbe:
    """Reads and steers the adapter of the manager the test built last: the memory
    vendor's state lives in it."""

    adapter: Any = None
    lose_next = False

    def on_manager(self, manager: Any) -> None:
        self.adapter = manager.connector("shipping").adapter
        for name in OPERATIONS:  # before the first call builds the pipeline around them
            setattr(self.adapter, name, self._losing(getattr(self.adapter, name)))

    def _losing(self, operation: Callable[..., Any]) -> Callable[..., Any]:
        """`operation`, whose answer is lost once `lose_next` is set."""

        def lost() -> VendorUnavailableError:
            self.lose_next = False
            return VendorUnavailableError("the answer was lost after the vendor acted (a fault)")

        if inspect.iscoroutinefunction(operation):

            @functools.wraps(operation)
            async def served_async(request: Any, ctx: Any) -> Any:
                losing = self.lose_next
                result = await operation(request, ctx)
                if losing:
                    raise lost()
                return result

            return served_async

        @functools.wraps(operation)
        def served(request: Any, ctx: Any) -> Any:
            losing = self.lose_next
            result = operation(request, ctx)
            if losing:
                raise lost()
            return result

        return served

    def received(self) -> Sequence[ReceivedShippingRequest]:
        """Every call the vendor was asked to serve, failed ones included."""
        return [
            ReceivedShippingRequest(
                operation,
                ReceivedParcel.of(request.parcels[0]) if isinstance(request, Shipment) else None,
            )
            for operation, request in self.adapter.calls
        ]

    def labels(self) -> int:
        return len(self.adapter.labels)

    def fail_next(self, kind: ShippingFaultKind) -> None:
        if kind == "lost_answer":
            self.lose_next = True
            return
        self.adapter.options = msgspec.structs.replace(
            self.adapter.options, fail_first=len(self.adapter.calls) + 1, failure=FAILURES[kind]
        )


class TestMemoryShippingConformance(ShippingAdapterConformance):
    @pytest.fixture
    def harness(self, registry: PluginRegistry) -> ShippingHarness:
        probe = MemoryProbe()
        return ShippingHarness(
            registry=registry,
            connector={"vendor": "memory", "options": {"retry_after": 1.5}},
            received=probe.received,
            labels=probe.labels,
            fail_next=probe.fail_next,
            on_manager=probe.on_manager,
            retry_after=1.5,
        )
