"""The memory payment vendor passes the payment adapter conformance suite.

Faults map to its `MemoryOptions` (the next call fails with the matching ``failure``), except
``reset_after_processing``, which no in-process vendor can suffer: the probe lets the next
mutating call act, then raises what an HTTP adapter raises for a connection reset after
sending. The probe also records the idempotency key of every mutating call, as a vendor's
server would see it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import pytest

from nexus_connector_core import PluginRegistry, VendorUnavailableError
from nexus_connector_core.testing import PaymentAdapterConformance, PaymentFaultKind, PaymentHarness

#: Which `MemoryOptions.failure` stands for each fault of the suite made by options.
FAILURES: dict[PaymentFaultKind, str] = {
    "rate_limited": "rate_limited",
    "unavailable": "unavailable",
    "auth": "auth",
}
MUTATING = ("authorize", "purchase", "capture", "refund", "void")


class MemoryProbe:
    """Reads and steers the adapter of the manager under test: the memory vendor's state
    lives in it."""

    adapter: Any = None

    def __init__(self) -> None:
        self.received_keys: list[str | None] = []
        self.reset_next = False

    def on_manager(self, manager: Any) -> None:
        self.adapter = manager.connector("payment").adapter
        for name in MUTATING:
            setattr(self.adapter, name, self._watched(getattr(self.adapter, name)))

    def _watched(self, method: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def watched_async(request: Any, ctx: Any) -> Any:
                self.received_keys.append(ctx.idempotency_key)
                result = await method(request, ctx)
                self._maybe_reset()
                return result

            return watched_async

        @functools.wraps(method)
        def watched(request: Any, ctx: Any) -> Any:
            self.received_keys.append(ctx.idempotency_key)
            result = method(request, ctx)
            self._maybe_reset()
            return result

        return watched

    def _maybe_reset(self) -> None:
        if self.reset_next:
            self.reset_next = False
            raise VendorUnavailableError(
                "the connection was reset after the request was sent (ReadError)",
                maybe_processed=True,
            )

    def keys(self) -> Sequence[str | None]:
        return list(self.received_keys)

    def charges(self) -> int:
        """Payments the vendor holds: each one an authorization or a capture."""
        return len(self.adapter._payments)

    def fail_next(self, kind: PaymentFaultKind) -> None:
        if kind == "reset_after_processing":
            self.reset_next = True
            return
        self.adapter.options = msgspec.structs.replace(
            self.adapter.options, fail_first=len(self.adapter.calls) + 1, failure=FAILURES[kind]
        )


class TestMemoryPaymentConformance(PaymentAdapterConformance):
    @pytest.fixture
    def harness(self, registry: PluginRegistry) -> PaymentHarness:
        probe = MemoryProbe()
        return PaymentHarness(
            registry=registry,
            connector={"vendor": "memory", "options": {"retry_after": 1.5}},
            charges=probe.charges,
            keys=probe.keys,
            fail_next=probe.fail_next,
            on_manager=probe.on_manager,
            retry_after=1.5,
            decline_code="generic_decline",
            vendor_checks_currency=True,  # the call reaches it; it refuses, moving nothing
        )
