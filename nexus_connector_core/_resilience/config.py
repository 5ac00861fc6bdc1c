"""The ``[connectors.<name>.resilience]`` table: what each policy does for one connector.

Every policy table takes ``enabled = false`` to switch it off. A table under
``operations.<operation>`` overrides the connector's values for that operation only::

    [connectors.payment.resilience]
    timeout = 10.0
    retry = { max_attempts = 4 }
    [connectors.payment.resilience.operations.capture]
    retry = { max_attempts = 2 }
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .._state import BreakerPolicy, BudgetPolicy, LimitPolicy
from .backoff import Jitter, Strategy
from .errors import error_classes

__all__ = [
    "BreakerConfig",
    "BudgetConfig",
    "BulkheadConfig",
    "CacheConfig",
    "IdempotencyConfig",
    "RateLimitConfig",
    "ResilienceConfig",
    "RetryConfig",
]

#: Error classes (and their subclasses) that mean the vendor is struggling.
VENDOR_FAULTS = ("VendorUnavailableError", "RateLimitExceededError")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class BudgetConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``retry.budget``: retries at most `ratio` of calls over `window` seconds, shared by
    every worker through the state backend."""

    enabled: bool = True
    ratio: float = 0.2
    window: float = 10.0
    min_per_second: float = 1.0

    def __post_init__(self) -> None:
        _check(0 <= self.ratio <= 10, f"ratio must be between 0 and 10, got {self.ratio}")
        _check(self.window >= 1, f"window must be at least 1 second, got {self.window}")
        _check(self.min_per_second >= 0, "min_per_second must be >= 0")

    def policy(self) -> BudgetPolicy:
        return BudgetPolicy(
            ratio=self.ratio, window=self.window, min_per_second=self.min_per_second
        )


class RetryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``retry``: how often and how patiently to try again.

    An error is retried when its class (or a parent class) is in `retry_on`, or its vendor
    status code is in `retry_on_status`; never when our own breaker or limiter refused the
    call; and for an operation that is not idempotent, only when the vendor cannot have
    acted on the request or honours the call's idempotency key.
    """

    enabled: bool = True
    max_attempts: int = 3
    backoff: Strategy = "exponential"
    base: float = 0.2
    multiplier: float = 2.0
    max_delay: float = 5.0
    jitter: Jitter = "full"
    retry_on: tuple[str, ...] = VENDOR_FAULTS
    retry_on_status: tuple[int, ...] = ()
    #: Wait as long as the vendor's Retry-After asks (within the deadline).
    respect_retry_after: bool = True
    #: A Retry-After longer than this is not waited for: the error is raised at once.
    max_retry_after: float = 60.0
    budget: BudgetConfig | None = None

    def __post_init__(self) -> None:
        _check(
            1 <= self.max_attempts <= 100, f"max_attempts must be 1-100, got {self.max_attempts}"
        )
        _check(self.base >= 0, f"base must be >= 0, got {self.base}")
        _check(self.multiplier >= 1, f"multiplier must be >= 1, got {self.multiplier}")
        _check(self.max_delay >= 0, f"max_delay must be >= 0, got {self.max_delay}")
        error_classes(self.retry_on, "retry_on")


class BreakerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``circuit_breaker``: stop calling a failing vendor for a while (Resilience4j's model)."""

    enabled: bool = True
    #: One breaker per connector and vendor, or one per operation too.
    scope: Literal["connector", "operation"] = "connector"
    window_type: Literal["count", "time"] = "count"
    window: int = 20
    min_calls: int = 10
    failure_rate: float = 0.5
    slow_call_rate: float = 1.0
    slow_call_duration: float = 0.0
    open_for: float = 30.0
    open_for_multiplier: float = 1.0
    open_for_max: float = 300.0
    half_open_calls: int = 3
    half_open_max_wait: float = 60.0
    #: Error classes that count as failures (others, like a declined card, do not).
    failure_on: tuple[str, ...] = VENDOR_FAULTS

    def __post_init__(self) -> None:
        _check(self.window >= 1, f"window must be >= 1, got {self.window}")
        _check(self.min_calls >= 1, f"min_calls must be >= 1, got {self.min_calls}")
        if self.window_type == "count":
            _check(self.min_calls <= self.window, "min_calls cannot exceed a count window's size")
        _check(
            0 < self.failure_rate <= 1, f"failure_rate must be in (0, 1], got {self.failure_rate}"
        )
        _check(0 < self.slow_call_rate <= 1, "slow_call_rate must be in (0, 1]")
        _check(self.open_for > 0, f"open_for must be > 0, got {self.open_for}")
        _check(self.open_for_multiplier >= 1, "open_for_multiplier must be >= 1")
        _check(self.half_open_calls >= 1, "half_open_calls must be >= 1")
        error_classes(self.failure_on, "failure_on")

    def policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            window_type=self.window_type,
            window=self.window,
            min_calls=self.min_calls,
            failure_rate=self.failure_rate,
            slow_call_rate=self.slow_call_rate,
            slow_call_duration=self.slow_call_duration,
            open_for=self.open_for,
            open_for_multiplier=self.open_for_multiplier,
            open_for_max=self.open_for_max,
            half_open_calls=self.half_open_calls,
            half_open_max_wait=self.half_open_max_wait,
        )


class RateLimitConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``rate_limit``: `rate` calls per `per` seconds, bursts up to `burst`, for all workers."""

    enabled: bool = True
    rate: float
    per: float = 1.0
    burst: int = 0
    scope: Literal["connector", "operation"] = "connector"
    #: Also limit per key set with ``nexus_connector_core.limit_key("tenant-42")``.
    per_key: bool = False
    #: Wait for a token (within the deadline and `max_wait`) instead of failing at once.
    wait: bool = False
    max_wait: float | None = None

    def __post_init__(self) -> None:
        _check(self.rate > 0, f"rate must be > 0, got {self.rate}")
        _check(self.per > 0, f"per must be > 0, got {self.per}")
        _check(self.burst >= 0, f"burst must be >= 0, got {self.burst}")

    def policy(self) -> LimitPolicy:
        return LimitPolicy(rate=self.rate, per=self.per, burst=self.burst)


class BulkheadConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``bulkhead``: at most `max_concurrent` calls in flight per connector in this process."""

    enabled: bool = True
    max_concurrent: int
    #: Seconds to wait for a free slot before failing.
    max_wait: float = 0.0

    def __post_init__(self) -> None:
        _check(self.max_concurrent >= 1, "max_concurrent must be >= 1")


class CacheConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``cache``: keep results of read operations (rates, track, get) for `ttl` seconds."""

    enabled: bool = True
    ttl: float = 60.0
    max_entries: int = 1024

    def __post_init__(self) -> None:
        _check(self.ttl > 0, "ttl must be > 0")
        _check(self.max_entries >= 1, "max_entries must be >= 1")


class IdempotencyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``idempotency``: one vendor call per idempotency key, outcomes kept for `ttl`."""

    enabled: bool = True
    #: Seconds a stored outcome is replayed (Stripe keeps keys 24 hours).
    ttl: float = 86400.0
    #: Seconds a claim on a key lasts if its holder dies mid-call.
    claim_ttl: float = 60.0
    #: A concurrent duplicate waits for the first call's outcome (else it fails at once).
    wait: bool = True
    #: Make a key from request fields when the caller gives none (``metadata.order_id``).
    derive_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check(self.ttl > 0, "ttl must be > 0")
        _check(self.claim_ttl > 0, "claim_ttl must be > 0")


class ResilienceConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``resilience``: the policies of one connector (or one of its operations)."""

    #: Seconds one attempt may take; passed to the vendor's transport.
    timeout: float | None = 10.0
    #: Seconds the whole call may take, across attempts, waits and fallback vendors.
    deadline: float | None = 30.0
    retry: RetryConfig = RetryConfig()
    circuit_breaker: BreakerConfig = BreakerConfig()
    rate_limit: RateLimitConfig | None = None
    bulkhead: BulkheadConfig | None = None
    cache: CacheConfig | None = None
    idempotency: IdempotencyConfig = IdempotencyConfig()

    def __post_init__(self) -> None:
        _check(self.timeout is None or self.timeout > 0, "timeout must be > 0")
        _check(self.deadline is None or self.deadline > 0, "deadline must be > 0")
