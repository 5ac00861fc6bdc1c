"""The ``[connectors.<name>.resilience]`` table: what each policy does for one connector.

Every policy table takes ``enabled = false`` to switch it off. A table under
``operations.<operation>`` overrides the connector's values for that operation only::

    [connectors.payment.resilience]
    timeout = 10.0
    retry = { max_attempts = 4 }
    [connectors.payment.resilience.operations.capture]
    retry = { max_attempts = 2 }

Every number has a range, declared on its field (``between(low, high)``) and checked at load
and when a struct is built: docs/configuration.md lists them. TOML has no null, so "no
timeout" and "no deadline" are written ``false`` (see `read_limits`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from .._config_ranges import DAY, YEAR, between, check_ranges
from .._state import BreakerPolicy, BudgetPolicy, LimitPolicy
from .backoff import Jitter, Strategy
from .errors import error_classes

__all__ = [
    "NO_LIMIT",
    "BreakerConfig",
    "BudgetConfig",
    "BulkheadConfig",
    "CacheConfig",
    "IdempotencyConfig",
    "RateLimitConfig",
    "ResilienceConfig",
    "RetryConfig",
    "read_limits",
]

#: Error classes (and their subclasses) that mean the vendor is struggling.
VENDOR_FAULTS = ("VendorUnavailableError", "RateLimitExceededError")

#: Seconds something may take or last: a millisecond to a day.
Seconds = Annotated[float, between(0.001, DAY)]
#: Seconds to wait, where 0 means "not at all": up to a day.
Wait = Annotated[float, between(0.0, DAY)]
#: A rate threshold: above 0 and at most 1.
Fraction = Annotated[float, between(0.0, 1.0, above=True)]

#: The longest count window: its outcomes are kept as one byte each, in every backend.
MAX_COUNT_WINDOW = 10_000
#: The longest time window (and retry-budget window), in seconds: kept in one-second buckets.
MAX_TIME_WINDOW = 3_600
#: The longest interval between two rate-limit tokens (``per / rate``): a day.
MAX_TOKEN_INTERVAL = DAY

#: How to write "none" for `timeout` and `deadline` in TOML, which has no null.
NO_LIMIT = False

# A `derive_from` path: field names and metadata keys joined by dots; no private attributes.
_FIELD_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*")


def _check(condition: bool, message: str) -> None:
    """Refuse a value; the message starts with the field's name, so the config error names
    the key."""
    if not condition:
        raise ValueError(message)


class BudgetConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``retry.budget``: retries at most `ratio` of calls over `window` seconds, shared by
    every worker through the state backend."""

    enabled: bool = True
    ratio: Annotated[float, between(0.0, 10.0)] = 0.2
    window: Annotated[float, between(1.0, MAX_TIME_WINDOW)] = 10.0
    min_per_second: Annotated[float, between(0.0, 1_000_000.0)] = 1.0

    def __post_init__(self) -> None:
        check_ranges(self)

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
    max_attempts: Annotated[int, between(1, 100)] = 3
    backoff: Strategy = "exponential"
    base: Wait = 0.2
    multiplier: Annotated[float, between(1.0, 100.0)] = 2.0
    max_delay: Wait = 5.0
    jitter: Jitter = "full"
    retry_on: tuple[str, ...] = VENDOR_FAULTS
    retry_on_status: tuple[Annotated[int, between(100, 599)], ...] = ()
    #: Wait as long as the vendor's Retry-After asks (within the deadline).
    respect_retry_after: bool = True
    #: A Retry-After longer than this is not waited for: the error is raised at once.
    max_retry_after: Wait = 60.0
    budget: BudgetConfig | None = None

    def __post_init__(self) -> None:
        check_ranges(self)
        error_classes(self.retry_on, "retry_on")


class BreakerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``circuit_breaker``: stop calling a failing vendor for a while (Resilience4j's model)."""

    enabled: bool = True
    #: One breaker per connector and vendor, or one per operation too.
    scope: Literal["connector", "operation"] = "connector"
    window_type: Literal["count", "time"] = "count"
    #: Calls (count window, at most 10000) or seconds (time window, at most 3600).
    window: Annotated[int, between(1, MAX_COUNT_WINDOW)] = 20
    min_calls: Annotated[int, between(1, 1_000_000)] = 10
    failure_rate: Fraction = 0.5
    slow_call_rate: Fraction = 1.0
    slow_call_duration: Wait = 0.0
    open_for: Seconds = 30.0
    open_for_multiplier: Annotated[float, between(1.0, 100.0)] = 1.0
    open_for_max: Seconds = 300.0
    half_open_calls: Annotated[int, between(1, 1_000)] = 3
    half_open_max_wait: Wait = 60.0
    #: Error classes that count as failures (others, like a declined card, do not).
    failure_on: tuple[str, ...] = VENDOR_FAULTS

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.window_type == "count":
            _check(
                self.min_calls <= self.window,
                f"min_calls cannot exceed a count window's size ({self.window}), "
                f"got {self.min_calls}",
            )
        else:
            _check(
                self.window <= MAX_TIME_WINDOW,
                f"window must be at most {MAX_TIME_WINDOW} seconds for a time window, "
                f"got {self.window}",
            )
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
    """``rate_limit``: `rate` calls per `per` seconds, bursts up to `burst`, for all workers.

    One token comes at least once a day (``per / rate`` is at most 86400 seconds).
    """

    enabled: bool = True
    rate: Annotated[float, between(0.001, 1_000_000.0)]
    per: Seconds = 1.0
    burst: Annotated[int, between(0, 1_000_000)] = 0
    scope: Literal["connector", "operation"] = "connector"
    #: Also limit per key set with ``nexus_connector_core.limit_key("tenant-42")``.
    per_key: bool = False
    #: Wait for a token (within the deadline and `max_wait`) instead of failing at once.
    wait: bool = False
    max_wait: Wait | None = None

    def __post_init__(self) -> None:
        check_ranges(self)
        _check(
            self.per / self.rate <= MAX_TOKEN_INTERVAL,
            f"rate must give at least one call a day: {self.rate} per {self.per} s is one "
            f"every {self.per / self.rate:g} s",
        )

    def policy(self) -> LimitPolicy:
        return LimitPolicy(rate=self.rate, per=self.per, burst=self.burst)


class BulkheadConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``bulkhead``: at most `max_concurrent` calls in flight per connector in this process."""

    enabled: bool = True
    max_concurrent: Annotated[int, between(1, 10_000)]
    #: Seconds to wait for a free slot before failing.
    max_wait: Wait = 0.0

    def __post_init__(self) -> None:
        check_ranges(self)


class CacheConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``cache``: keep results of read operations (rates, track, get) for `ttl` seconds."""

    enabled: bool = True
    ttl: Annotated[float, between(0.001, YEAR)] = 60.0
    max_entries: Annotated[int, between(1, 1_000_000)] = 1024

    def __post_init__(self) -> None:
        check_ranges(self)


class IdempotencyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``idempotency``: one vendor call per idempotency key, outcomes kept for `ttl`."""

    enabled: bool = True
    #: Seconds a stored outcome is replayed (Stripe keeps keys 24 hours).
    ttl: Annotated[float, between(1.0, YEAR)] = 86400.0
    #: Seconds a claim on a key lasts if its holder dies mid-call.
    claim_ttl: Seconds = 60.0
    #: A concurrent duplicate waits for the first call's outcome (else it fails at once).
    wait: bool = True
    #: Make a key from request fields when the caller gives none (``metadata.order_id``).
    derive_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_ranges(self)
        bad = [p for p in self.derive_from if not _FIELD_PATH.fullmatch(p)]
        _check(
            not bad,
            f"derive_from must name request fields joined by dots, such as "
            f"'metadata.order_id'; got {', '.join(map(repr, bad))}",
        )


class ResilienceConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``resilience``: the policies of one connector (or one of its operations).

    `timeout` and `deadline` are seconds (a millisecond to a day); None, written ``false``
    in TOML, means no limit (see `read_limits`).
    """

    #: Seconds one attempt may take; passed to the vendor's transport.
    timeout: Seconds | None = 10.0
    #: Seconds the whole call may take, across attempts, waits and fallback vendors.
    deadline: Seconds | None = 30.0
    retry: RetryConfig = RetryConfig()
    circuit_breaker: BreakerConfig = BreakerConfig()
    rate_limit: RateLimitConfig | None = None
    bulkhead: BulkheadConfig | None = None
    cache: CacheConfig | None = None
    idempotency: IdempotencyConfig = IdempotencyConfig()

    def __post_init__(self) -> None:
        check_ranges(self)


_LIMITS = ("timeout", "deadline")


def read_limits(table: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A ``resilience`` table as written, with TOML's spelling of "no limit"
    (``timeout = false``, ``deadline = false``) turned into None, ready to convert; and the
    problems of those two keys, by key (a problem key is left out of the table)."""
    out: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, value in table.items():
        if key in _LIMITS and (value is NO_LIMIT or value is None):
            out[key] = None
        elif key in _LIMITS and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems[key] = (
                f"expected seconds (a number from 0.001 to {DAY:g}), or false for no "
                f"{key}; got {_shown(value)}"
            )
        else:
            out[key] = value
    return out, problems


def _shown(value: Any) -> str:
    return (
        repr(value)
        if isinstance(value, bool | str) and len(repr(value)) <= 40
        else (type(value).__name__)
    )
