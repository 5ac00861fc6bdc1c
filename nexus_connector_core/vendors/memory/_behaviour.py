"""What every memory vendor shares: call recording and misbehaving on request."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

import msgspec

from ..._adapters import AdapterSettings
from ..._config_ranges import DAY, between, check_ranges
from ..._context import CallContext
from ..._errors import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    PaymentDeclinedError,
    RateLimitExceededError,
    VendorTimeoutError,
    VendorUnavailableError,
)

__all__ = ["MemoryOptions", "MemoryVendor"]

Failure = Literal["unavailable", "timeout", "rate_limited", "auth", "declined", "invalid"]


class MemoryOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Options of every memory vendor: how to misbehave.

    ``fail_first = 2`` makes the first two calls fail with `failure`; ``latency = 0.5``
    makes every call take half a second (on the manager's clock, so a fake clock skips it).
    """

    #: The first N calls fail (0 to a billion).
    fail_first: Annotated[int, between(0, 1_000_000_000)] = 0
    #: Which error they fail with.
    failure: Failure = "unavailable"
    #: Seconds each call takes (0 to an hour).
    latency: Annotated[float, between(0.0, 3_600.0)] = 0.0
    #: Seconds a ``rate_limited`` failure asks the caller to wait (its Retry-After; 0 to a
    #: day).
    retry_after: Annotated[float, between(0.0, DAY)] = 1.0

    def __post_init__(self) -> None:
        check_ranges(self)


def make_failure(kind: Failure, retry_after: float) -> ConnectorError:
    """The error a misbehaving memory vendor raises for `kind`."""
    if kind == "timeout":
        return VendorTimeoutError("memory vendor timed out (fail_first)")
    if kind == "rate_limited":
        return RateLimitExceededError(
            "memory vendor answered 429 (fail_first)", retry_after=retry_after, status_code=429
        )
    if kind == "auth":
        return AuthenticationError("memory vendor refused the credentials (fail_first)")
    if kind == "declined":
        return PaymentDeclinedError(
            "memory vendor declined the payment (fail_first)", code="card_declined", status_code=402
        )
    if kind == "invalid":
        return InvalidRequestError(
            "memory vendor rejected the request (fail_first)",
            code="invalid_request",
            status_code=400,
        )
    return VendorUnavailableError("memory vendor is unavailable (fail_first)", status_code=503)


class MemoryVendor:
    """Records every call it serves and misbehaves as its `MemoryOptions` say.

    Attributes:
        calls: ``(operation, request)`` pairs in the order they were served, failed ones
            included (the vendor "received" them).
    """

    vendor_key = "memory"

    def __init__(self, settings: AdapterSettings) -> None:
        options = settings.options
        if options is None or isinstance(options, dict):
            options = msgspec.convert(options or {}, MemoryOptions)
        self.settings = settings
        self.options: MemoryOptions = options
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._served = 0

    def _admit(self, operation: str, request: Any) -> tuple[float, ConnectorError | None]:
        """Record the call; say how long it takes and whether it fails."""
        with self._lock:
            self.calls.append((operation, request))
            self._served += 1
            failing = self._served <= self.options.fail_first
        failure = make_failure(self.options.failure, self.options.retry_after) if failing else None
        return self.options.latency, failure

    def _timed_out(self, latency: float, ctx: CallContext) -> bool:
        return ctx.timeout is not None and latency > ctx.timeout

    def _begin(self, operation: str, request: Any, ctx: CallContext) -> None:
        """Synchronous prologue of every operation: record, wait, maybe fail."""
        latency, failure = self._admit(operation, request)
        if latency:
            if self._timed_out(latency, ctx):
                ctx.clock.sleep(ctx.timeout or 0.0)
                raise VendorTimeoutError(f"memory vendor took longer than {ctx.timeout} s")
            ctx.clock.sleep(latency)
        if failure is not None:
            raise failure

    async def _abegin(self, operation: str, request: Any, ctx: CallContext) -> None:
        """Asynchronous prologue of every operation: record, wait, maybe fail."""
        latency, failure = self._admit(operation, request)
        if latency:
            if self._timed_out(latency, ctx):
                await ctx.clock.asleep(ctx.timeout or 0.0)
                raise VendorTimeoutError(f"memory vendor took longer than {ctx.timeout} s")
            await ctx.clock.asleep(latency)
        if failure is not None:
            raise failure

    def health_check(self) -> str | None:
        """None while calls are served; what is wrong while `fail_first` still fails them
        (``nexus-connector check --health`` shows it)."""
        with self._lock:
            failing = self.options.fail_first - self._served
        if failing > 0:
            return (
                f"the next {failing} call(s) fail with {self.options.failure!r} "
                "(options.fail_first)"
            )
        return None

    def close(self) -> None:
        """Nothing to release; present so the manager's close path is exercised."""

    async def aclose(self) -> None:
        """Nothing to release."""
