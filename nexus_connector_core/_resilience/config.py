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

from .._config_ranges import DAY, YEAR, Seconds, Wait, between, check_ranges
from .backoff import Jitter, Strategy
from .breaker import BreakerConfig
from .budget import BudgetConfig
from .errors import VENDOR_FAULTS, error_classes
from .ratelimit import RateLimitConfig

__all__ = [
    "NO_LIMIT",
    "BulkheadConfig",
    "CacheConfig",
    "HedgingConfig",
    "IdempotencyConfig",
    "ResilienceConfig",
    "RetryConfig",
    "read_limits",
]


#: How to write "none" for `timeout` and `deadline` in TOML, which has no null.
NO_LIMIT = False

# A `derive_from` path: field names and metadata keys joined by dots; no private attributes.
_FIELD_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*")


def _check(condition: bool, message: str) -> None:
    """Refuse a value; the message starts with the field's name, so the config error names
    the key."""
    if not condition:
        raise ValueError(message)


class RetryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``retry``: how often and how patiently to try again.

    An error is retried when its class (or a parent class) is in `retry_on`, or its vendor
    status code is in `retry_on_status`; never when our own breaker or limiter refused the
    call; and for an operation that is not idempotent, only when the vendor cannot have
    acted on the request or honours the call's idempotency key.
    """

    #: ``false``: every call makes one attempt.
    enabled: bool = True
    #: Attempts per vendor, the first included.
    max_attempts: Annotated[int, between(1, 100)] = 3
    #: How the wait grows from one attempt to the next (see `Backoff`).
    backoff: Strategy = "exponential"
    #: Seconds of the first wait, the unit every strategy multiplies.
    base: Wait = 0.2
    #: The growth factor of ``exponential`` waits (``base`` x ``multiplier``^(n-1)).
    multiplier: Annotated[float, between(1.0, 100.0)] = 2.0
    #: The longest wait, in seconds, before jitter.
    max_delay: Wait = 5.0
    #: Randomness in each wait, so that workers do not retry in step.
    jitter: Jitter = "full"
    #: Error classes to retry (a class matches its subclasses too).
    retry_on: tuple[str, ...] = VENDOR_FAULTS
    #: Vendor status codes to retry as well, whatever the error's class.
    retry_on_status: tuple[Annotated[int, between(100, 599)], ...] = ()
    #: Wait as long as the vendor's Retry-After asks (within the deadline).
    respect_retry_after: bool = True
    #: A Retry-After longer than this is not waited for: the error is raised at once.
    max_retry_after: Wait = 60.0
    #: A cap on retries across the fleet, as a share of calls (unset: no cap).
    budget: BudgetConfig | None = None

    def __post_init__(self) -> None:
        check_ranges(self)
        error_classes(self.retry_on, "retry_on")


class BulkheadConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``bulkhead``: at most `max_concurrent` calls in flight per connector in this process."""

    enabled: bool = True
    #: Calls of the connector in flight at once in this process.
    max_concurrent: Annotated[int, between(1, 10_000)]
    #: Seconds to wait for a free slot before failing.
    max_wait: Wait = 0.0

    def __post_init__(self) -> None:
        check_ranges(self)


class CacheConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``cache``: keep results of read operations (rates, track, get) for `ttl` seconds."""

    enabled: bool = True
    #: Seconds a result is kept.
    ttl: Annotated[float, between(0.001, YEAR)] = 60.0
    #: Results kept per operation; beyond it, the least recently used go.
    max_entries: Annotated[int, between(1, 1_000_000)] = 1024

    def __post_init__(self) -> None:
        check_ranges(self)


class HedgingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``hedging``: for read operations, another attempt alongside a slow one; the first
    answer wins and the others are cancelled (see `Hedging`). Operations that are not
    idempotent reads are never hedged."""

    enabled: bool = True
    #: Seconds an attempt may run before another starts alongside it; ``"p95"``: the 95th
    #: percentile of this operation's recent successful attempts (no hedge until 20 are seen).
    delay: Wait | Literal["p95"] = "p95"
    #: Attempts started alongside the first, at most, one each `delay`.
    max_hedged_attempts: Annotated[int, between(1, 10)] = 1
    #: Hedges at most this share of calls, over the last 10 seconds, in this process.
    budget_ratio: Annotated[float, between(0.0, 10.0, above=True)] = 0.1

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
    #: Trying again after a failure that may pass.
    retry: RetryConfig = RetryConfig()
    #: Not calling a vendor that keeps failing, for a while.
    circuit_breaker: BreakerConfig = BreakerConfig()
    #: At most so many calls per second, shared by every worker (unset: no limit).
    rate_limit: RateLimitConfig | None = None
    #: At most so many calls in flight in this process (unset: no cap).
    bulkhead: BulkheadConfig | None = None
    #: Keeping the results of read operations (unset: none kept).
    cache: CacheConfig | None = None
    #: Another attempt alongside a slow read (unset: none).
    hedging: HedgingConfig | None = None
    #: One vendor call per idempotency key.
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
