"""The context of one call as it travels through the pipeline to the vendor adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ._clock import Clock
from ._operations import Operation

if TYPE_CHECKING:
    from ._telemetry import CallTrace

__all__ = ["CallContext"]


class CallContext(msgspec.Struct, eq=False):
    """Everything about one call that is not the request itself.

    One context is made per call and handed to every middleware and, on each attempt, to the
    vendor adapter as its last argument. Adapters read `timeout` (pass it to the transport),
    `idempotency_key` (send it to vendors that honour keys) and may set `status_code` to the
    vendor's HTTP or protocol status for the integration log.

    Attributes:
        connector: the connector's name.
        vendor: the vendor key serving the current attempt (changes on fallback).
        operation: the operation being called.
        idempotency_key: the caller's key, or one the pipeline made for a vendor that
            honours keys; the same on every attempt of the call.
        attempt: 1 for the first attempt, counting across fallback vendors.
        timeout: seconds the current attempt may take (already cut to the deadline), or None.
        deadline: `clock.monotonic()` value by which the whole call must end, or None.
        clock: the clock to read and to wait on.
        status_code: the vendor's last status code, when the adapter reports one.
        request_sent: whether the current attempt's request left for the vendor: None when
            the adapter does not say (assume it may have), False until the first byte is
            written, True after. The shared HTTP toolkit (`nexus_connector_core.http`) sets
            it; an adapter with its own transport sets it the same way, so that an attempt
            cut before sending (a timeout, a cancellation) may be retried or fall back.
        reached: whether an attempt of this call may have reached a vendor (`vendor`, when
            true). Set by the attempt loop, pessimistically while an attempt is in flight,
            so that a call cancelled or interrupted mid-attempt counts as maybe processed.
        trace: the call's OpenTelemetry span and instruments (`CallTrace`), or None when the
            application set no provider; an adapter may add attributes to the attempt's span
            (``ctx.trace.attempt_attribute(...)``) and propagate it (``ctx.trace.inject``).

    A mutable `msgspec.Struct` (compared by identity): the pipeline makes one per call, and
    building it positionally in C costs a fraction of a Python ``__init__``.
    """

    connector: str
    vendor: str
    operation: Operation[Any, Any]
    clock: Clock
    idempotency_key: str | None = None
    deadline: float | None = None
    timeout: float | None = None
    attempt: int = 0
    status_code: int | None = None
    request_sent: bool | None = None
    reached: bool = False
    #: The call's OpenTelemetry trace and metrics (`CallTrace`), or None when the
    #: application set no provider.
    trace: CallTrace | None = None
    _extras: dict[str, Any] | None = None

    @property
    def extras(self) -> dict[str, Any]:
        """Free-form values middleware pass to each other and to adapters."""
        if self._extras is None:
            self._extras = {}
        return self._extras

    def extra(self, name: str) -> Any:
        """``extras[name]``, or None, without making the dict."""
        return self._extras.get(name) if self._extras else None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without a deadline."""
        if self.deadline is None:
            return None
        return max(self.deadline - self.clock.monotonic(), 0.0)

    def __repr__(self) -> str:
        return (
            f"CallContext({self.connector}/{self.vendor}.{self.operation.name}, "
            f"attempt={self.attempt}, timeout={self.timeout})"
        )
