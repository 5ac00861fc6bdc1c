"""The fallback chain: the next vendor when the primary is shut off or has failed for good.

Each vendor has its own attempt loop (its own breaker and limiter). A vendor is skipped for
the next when its breaker is open, our limiter or bulkhead refused the call, or it failed
with a vendor fault after its retries; never after a decline or a bad request (another
vendor would say the same), never once the deadline is spent, and never for an operation
that is not idempotent if the failed vendor may have acted on it (that could charge twice).
A call resuming an earlier one that ended in doubt (see `IdempotencyGuard`) is pinned to the
vendor that may have acted (``ctx.extras["pinned_vendor"]``) and asks no other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._context import CallContext
from .._errors import (
    CircuitOpenError,
    ConnectorError,
    RateLimitExceededError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from .._operations import Operation

__all__ = ["FallbackChain"]


class FallbackChain:
    """The decisions of the vendor chain: the deadline across vendors, and whether the next
    vendor may be asked (`middleware.FallbackStep` drives them)."""

    def __init__(
        self,
        operation: Operation[Any, Any],
        vendors: Sequence[str],
        deadline: float | None,
    ) -> None:
        self.operation = operation
        self.vendors = tuple(vendors)
        self.deadline = deadline

    def should_fall_back(self, error: BaseException, ctx: CallContext) -> bool:
        """Whether the next vendor may be asked after `error`."""
        if not isinstance(error, ConnectorError):
            return False
        if isinstance(error, VendorTimeoutError) and error.deadline_exceeded:
            return False
        if ctx.deadline is not None and ctx.clock.monotonic() >= ctx.deadline:
            return False
        if error.maybe_processed and not self.operation.idempotent:
            return False  # an earlier attempt may have charged: another vendor could again
        return isinstance(error, CircuitOpenError | VendorUnavailableError | RateLimitExceededError)

    def start(self, ctx: CallContext) -> None:
        """Per call: the deadline that spans every vendor of the chain."""
        if ctx.deadline is None and self.deadline is not None:
            ctx.deadline = ctx.clock.monotonic() + self.deadline

    def pinned(self, ctx: CallContext) -> int | None:
        """The only vendor a call resuming an earlier one in doubt may ask, by position."""
        vendor = ctx.extra("pinned_vendor")
        return None if vendor is None else self.vendors.index(vendor)

    def falling_back(self, index: int, ctx: CallContext) -> None:
        """Note that vendor `index` was given up on for the next."""
        ctx.extras.setdefault("fallback_from", []).append(self.vendors[index])
        if ctx.trace is not None:
            ctx.trace.event(
                "fallback",
                {
                    "nexus_connector.vendor": self.vendors[index],
                    "nexus_connector.fallback_to": self.vendors[index + 1],
                },
            )
