"""Where policy state that every worker must agree on lives: the state-backend protocols.

A backend keeps these kinds of state behind small atomic operations:

- the *guard* (circuit breaker + rate limiter + retry budget), admitted in one operation and
  recorded in one, so a remote backend needs one round trip each way per attempt;
- idempotency records (in-flight markers with an owner and a TTL, then stored outcomes);
- OAuth tokens and the lock that makes one worker refresh them for all;
- SLO counters: counts of calls in time buckets (a minute, an hour) that every worker adds
  to in batches (`slo_add`, idempotent by batch id) and that are summed over a range of
  buckets (`slo_read`);
- leases: a named lease one owner holds at a time (the leader that evaluates alert rules),
  with data only its holder may store (`lease_store`), so a deposed leader cannot
  overwrite its successor's.

Rules an implementation must keep (the conformance suite checks them): time windows and
budgets count in whole seconds of the backend's clock; a breaker's generation only ever
changes by growing (or starts afresh at a value no earlier admission can carry), so
outcomes from before a transition are ignored; transitions that time drives (open ->
half-open, half-open past its max wait) happen lazily, on the next `admit`; every key
expires once idle, so nothing grows without bound.

Policies describe what to decide (`BreakerPolicy`, `LimitPolicy`, `BudgetPolicy`); the backend
decides atomically, on its own clock, so workers whose clocks disagree still agree. Every
backend passes the conformance suite in `nexus_connector_core.testing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Annotated, Any, Literal, Protocol, TypeVar, runtime_checkable

import msgspec

from ._clock import Clock
from ._config_ranges import DAY, Fraction, Seconds, Wait, between, check_ranges

__all__ = [
    "Admission",
    "AsyncStateBackend",
    "BackendSettings",
    "BreakerPolicy",
    "BreakerSnapshot",
    "BudgetPolicy",
    "GuardPlan",
    "IdempotencyClaim",
    "Lease",
    "LimitPolicy",
    "LimiterSnapshot",
    "MAX_COUNT_WINDOW",
    "MAX_SLO_BUCKETS",
    "SLO_BATCH_MEMORY",
    "MAX_TIME_WINDOW",
    "MAX_TOKEN_INTERVAL",
    "SloCounts",
    "SloQuery",
    "StateBackend",
    "StoredToken",
    "policy_of",
]

BreakerStateName = Literal["closed", "open", "half_open"]


#: The longest count window: its outcomes are kept as one byte each, in every backend.
MAX_COUNT_WINDOW = 10_000
#: The longest time window (and retry-budget window), in seconds: kept in one-second buckets.
MAX_TIME_WINDOW = 3_600
#: The longest interval between two rate-limit tokens (``per / rate``): a day.
MAX_TOKEN_INTERVAL = DAY
#: The most buckets one `SloQuery` may span.
MAX_SLO_BUCKETS = 10_000
#: Seconds a backend remembers an `slo_add` batch id, so the same batch adds once.
SLO_BATCH_MEMORY = 600.0


def _refuse(condition: bool, message: str) -> None:
    # The message starts with the field's name, so a config error names the key.
    if not condition:
        raise ValueError(message)


class BreakerPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """When a circuit breaker opens, how long it stays open, how it tries to close.

    Follows Resilience4j: the breaker opens when, over the sliding window and with at least
    `min_calls` recorded, the failure rate or the slow-call rate reaches its threshold.
    These fields, their defaults and their ranges are the ``circuit_breaker`` table's too:
    `BreakerConfig` extends this struct with what only the pipeline reads.
    """

    #: ``count``: the last `window` calls; ``time``: the calls of the last `window` seconds.
    window_type: Literal["count", "time"] = "count"
    #: Calls (count window, at most 10000) or seconds (time window, at most 3600).
    window: Annotated[int, between(1, MAX_COUNT_WINDOW)] = 20
    min_calls: Annotated[int, between(1, 1_000_000)] = 10
    #: Failure rate (0-1] at or above which the breaker opens.
    failure_rate: Fraction = 0.5
    #: Slow-call rate (0-1] at or above which the breaker opens.
    slow_call_rate: Fraction = 1.0
    #: A call taking at least this many seconds is slow; 0 disables slow-call tracking.
    slow_call_duration: Wait = 0.0
    #: Seconds the breaker stays open before admitting trial calls.
    open_for: Seconds = 30.0
    #: Each consecutive re-opening multiplies `open_for` by this, up to `open_for_max`.
    open_for_multiplier: Annotated[float, between(1.0, 100.0)] = 1.0
    open_for_max: Seconds = 300.0
    #: Trial calls admitted in half-open; all must finish before the breaker decides.
    half_open_calls: Annotated[int, between(1, 1_000)] = 3
    #: Seconds half-open may last before the breaker opens again (0: no limit).
    half_open_max_wait: Wait = 60.0

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.window_type == "count":
            _refuse(
                self.min_calls <= self.window,
                f"min_calls cannot exceed a count window's size ({self.window}), "
                f"got {self.min_calls}",
            )
        else:
            _refuse(
                self.window <= MAX_TIME_WINDOW,
                f"window must be at most {MAX_TIME_WINDOW} seconds for a time window, "
                f"got {self.window}",
            )


class LimitPolicy(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """A token bucket (as GCRA): `rate` tokens per `per` seconds, holding at most `burst`.

    One token comes at least once a day (``per / rate`` is at most 86400 seconds).
    `RateLimitConfig` extends this struct with what only the pipeline reads. What GCRA
    derives from the fields is computed once per policy (``dict=True`` keeps it).
    """

    rate: Annotated[float, between(0.001, 1_000_000.0)]
    per: Seconds = 1.0
    burst: Annotated[int, between(0, 1_000_000)] = 0

    def __post_init__(self) -> None:
        check_ranges(self)
        _refuse(
            self.per / self.rate <= MAX_TOKEN_INTERVAL,
            f"rate must give at least one call a day: {self.rate} per {self.per} s is one "
            f"every {self.per / self.rate:g} s",
        )

    @cached_property
    def capacity(self) -> int:
        """The bucket size: `burst`, or `rate` rounded up when no burst is given."""
        return self.burst or max(int(-(-self.rate // 1)), 1)

    @cached_property
    def interval(self) -> float:
        """Seconds between two tokens."""
        return self.per / self.rate

    @cached_property
    def tolerance(self) -> float:
        """How far ahead of now the next token's time may be for a call to be admitted:
        ``(capacity - 1) x interval``."""
        return (self.capacity - 1) * self.interval


class BudgetPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Retries may be at most `ratio` of first attempts over `window` seconds, plus a floor of
    `min_per_second` retries per second so a quiet connector can still retry.
    `BudgetConfig` extends this struct."""

    ratio: Annotated[float, between(0.0, 10.0)] = 0.2
    window: Annotated[float, between(1.0, MAX_TIME_WINDOW)] = 10.0
    min_per_second: Annotated[float, between(0.0, 1_000_000.0)] = 1.0

    def __post_init__(self) -> None:
        check_ranges(self)


P = TypeVar("P", BreakerPolicy, LimitPolicy, BudgetPolicy)


def policy_of(config: msgspec.Struct, kind: type[P], **changes: Any) -> P:
    """The `kind` policy a config that extends it describes: its fields, as configured
    (one set of fields, defaults and ranges: the policy's), with `changes`."""
    fields = {name: getattr(config, name) for name in kind.__struct_fields__}
    return kind(**(fields | changes))


class GuardPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What to check before one attempt of one operation at one vendor.

    Keys name the shared state: the breaker's and the limiter's scope (connector, vendor and,
    by configuration, operation or a caller's key). A None policy is not checked. `scope`
    (``connector:vendor``) starts every key of the plan and is shared by every plan that
    uses those keys: a clustered backend uses it as the hash tag that puts them in one slot,
    so one script can update them together.
    """

    scope: str = ""
    breaker_key: str = ""
    breaker: BreakerPolicy | None = None
    limit_key: str = ""
    limit: LimitPolicy | None = None
    #: The limit key is a caller's (``limit_key("tenant-42")``): there may be many, so a
    #: backend keeps each apart, expiring on its own.
    limit_per_caller: bool = False
    budget_key: str = ""
    budget: BudgetPolicy | None = None


class Admission(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to `admit`.

    Attributes:
        allowed: whether the attempt may go ahead (after waiting `wait` seconds).
        reason: why not: ``circuit_open``, ``rate_limited`` or ``retry_budget``.
        retry_after: seconds until a call could be admitted, when `allowed` is false.
        wait: seconds to wait before calling (a reserved rate-limit slot).
        generation: the breaker's generation at admission; outcomes of an older
            generation are ignored when recorded.
        trial: the attempt holds one of the half-open trial permits.
        state: the breaker's state at admission.
        settled: recording a fast success of this attempt would change nothing (a closed
            breaker whose window holds only fast successes), so the caller may skip it; a
            backend that cannot tell cheaply leaves it false.
    """

    allowed: bool = True
    reason: Literal["circuit_open", "rate_limited", "retry_budget"] | None = None
    retry_after: float = 0.0
    wait: float = 0.0
    generation: int = 0
    trial: bool = False
    state: BreakerStateName = "closed"
    settled: bool = False


class BreakerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A breaker as it stands, for status and health."""

    state: BreakerStateName
    calls: int = 0
    failures: int = 0
    slow_calls: int = 0
    retry_after: float = 0.0
    generation: int = 0


class LimiterSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A rate limiter as it stands, for the dashboard: the tokens its bucket holds now (of
    `capacity`) and, when it holds none, seconds until one comes."""

    available: int
    capacity: int
    retry_after: float = 0.0


class IdempotencyClaim(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to `idempotency_begin`.

    ``acquired``: the caller now owns the key (as `owner`) and must call the vendor, then
    `idempotency_complete` or `idempotency_release`. ``done``: `outcome` holds the stored
    outcome. ``in_flight``: another caller owns the key; wait and ask again. ``conflict``:
    the key was used with a different request (`fingerprint` differs).
    """

    status: Literal["acquired", "done", "in_flight", "conflict"]
    owner: str | None = None
    outcome: bytes | None = None
    retry_after: float = 0.0


class StoredToken(msgspec.Struct, frozen=True, kw_only=True):
    """An OAuth2 access token as the backend keeps it (the token is an opaque value)."""

    value: bytes
    expires_at: float


class SloCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Counts to add to one time bucket of one series (`slo_add`).

    Attributes:
        series: what is counted (a connector's name); a backend keeps series apart.
        resolution: the bucket's length in seconds (60 or 3600).
        bucket: the bucket's number: its start time (epoch seconds) // `resolution`.
        counts: field -> how much to add (fields are short names such as ``send|s``).
        keep: seconds to keep the bucket from now (each addition renews it).
    """

    series: str
    resolution: int
    bucket: int
    counts: dict[str, int]
    keep: float


class SloQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Buckets `first` to `last` (inclusive) of one series at one resolution (`slo_read`);
    at most `MAX_SLO_BUCKETS` of them."""

    series: str
    resolution: int
    first: int
    last: int

    def __post_init__(self) -> None:
        _refuse(self.resolution > 0, f"resolution must be positive, got {self.resolution}")
        span = self.last - self.first + 1
        _refuse(
            0 < span <= MAX_SLO_BUCKETS,
            f"last must be from first to first + {MAX_SLO_BUCKETS - 1}, got {span} buckets",
        )


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    """A named lease as it stands (`lease_acquire`, `lease_read`).

    Attributes:
        holder: the owner holding it now, or None when nobody does.
        data: what its holders last stored (`lease_store`), kept past the lease itself.
        expires_in: seconds until the holder's lease ends unless renewed (0 when free).
    """

    holder: str | None = None
    data: bytes | None = None
    expires_in: float = 0.0


class BackendSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What a state backend's constructor receives."""

    options: Any = None
    clock: Clock
    #: A prefix for every key, so several applications can share one server.
    prefix: str = "nexus"


@runtime_checkable
class StateBackend(Protocol):
    """The synchronous state-backend protocol. Every method is atomic.

    Raise `StateBackendUnavailableError` when the backend cannot answer within its timeout;
    never hang past it. Pipelines then fail open or closed as configured.
    """

    # -- guard: circuit breaker, rate limiter, retry budget -----------------------------

    def admit(self, plan: GuardPlan, *, retry: bool = False, max_wait: float = 0.0) -> Admission:
        """Admit one attempt, checking the breaker, then the limiter, then (for a retry) the
        budget; commit nothing unless all allow it. A first attempt is counted in the budget;
        a retry withdraws from it. The limiter may reserve a slot up to `max_wait` seconds
        ahead instead of refusing (the answer's `wait`)."""
        ...

    def record(
        self, plan: GuardPlan, admission: Admission, *, failed: bool | None, duration: float
    ) -> None:
        """Record the outcome of an admitted attempt in the breaker. ``failed=None``: the
        attempt was abandoned (cancelled) and has no outcome; count nothing, but give back
        the half-open trial permit it held.

        A backend may defer it (keep the outcome in the process, to send with a later
        operation) provided that: the same thread's (task's) next `admit` of the breaker and
        every `breaker` read through this backend decide on it; other processes see it
        within a bound the backend documents (its conformance harness's `record_delay`);
        `close` applies what is kept; and a breaker it opens is open from when it was
        recorded."""
        ...

    def breaker(self, plan: GuardPlan) -> BreakerSnapshot:
        """The breaker of `plan` (``plan.breaker_key``) as it stands now, for status and
        health, this backend's deferred outcomes included; it changes nothing else."""
        ...

    def limiter(self, plan: GuardPlan) -> LimiterSnapshot:
        """The rate limiter of `plan` (``plan.limit_key``) as it stands now, for the
        dashboard; it takes no token."""
        ...

    # -- idempotency ---------------------------------------------------------------------

    def idempotency_begin(self, key: str, fingerprint: bytes, *, ttl: float) -> IdempotencyClaim:
        """Claim `key` for a request with `fingerprint`, or report who holds it. The claim
        (an in-flight marker) expires after `ttl` seconds, so a crashed owner frees it."""
        ...

    def idempotency_complete(
        self, key: str, owner: str, fingerprint: bytes, outcome: bytes, *, ttl: float
    ) -> None:
        """Store the outcome of the owner's call for `ttl` seconds."""
        ...

    def idempotency_release(self, key: str, owner: str) -> None:
        """Drop the owner's claim without storing an outcome (the call may be tried again)."""
        ...

    def idempotency_extend(self, key: str, owner: str, *, ttl: float) -> bool:
        """Keep the owner's in-flight claim for `ttl` seconds from now (a lease renewed while
        the owner works). True when the owner still held it with no outcome stored; False,
        changing nothing, when it expired, was released or completed, or is another's."""
        ...

    # -- OAuth tokens --------------------------------------------------------------------

    def token_get(self, key: str) -> StoredToken | None:
        """The stored token, or None (expired tokens are returned: the caller decides)."""
        ...

    def token_lock(self, key: str, *, ttl: float) -> str | None:
        """Take the refresh lock of `key` for `ttl` seconds: an owner id, or None if held."""
        ...

    def token_set(self, key: str, owner: str, token: StoredToken) -> None:
        """Store a refreshed token and release the lock held by `owner`."""
        ...

    def token_unlock(self, key: str, owner: str) -> None:
        """Release the refresh lock without storing a token (the refresh failed)."""
        ...

    # -- SLO counters --------------------------------------------------------------------

    def slo_add(self, batch: str, counts: Sequence[SloCounts]) -> None:
        """Add `counts` to their buckets. `batch` names this addition: the same batch id
        added again within `SLO_BATCH_MEMORY` seconds adds nothing, so a batch whose answer
        was lost may be sent again. Each series' counts are added atomically."""
        ...

    def slo_read(self, queries: Sequence[SloQuery]) -> list[dict[str, int]]:
        """For each query, every field's sum over its buckets (fields never added: absent;
        expired buckets count nothing)."""
        ...

    # -- leases --------------------------------------------------------------------------

    def lease_acquire(self, name: str, owner: str, *, ttl: float) -> Lease:
        """Take the lease `name` for `ttl` seconds if it is free, or renew it if `owner`
        holds it; the lease as it stands after (`owner` got it when ``holder == owner``)."""
        ...

    def lease_read(self, name: str) -> Lease:
        """The lease as it stands; it changes nothing."""
        ...

    def lease_store(self, name: str, owner: str, data: bytes, *, keep: float) -> bool:
        """Store `data` with the lease, kept `keep` seconds, if `owner` holds it now; False,
        changing nothing, if not (a deposed holder cannot overwrite its successor's)."""
        ...

    def lease_release(self, name: str, owner: str) -> None:
        """Give the lease up if `owner` holds it (its data stays)."""
        ...

    def ping(self) -> None:
        """Check that the backend answers, within its timeout (``nexus-connector check``);
        raise `StateBackendUnavailableError` when it does not."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class AsyncStateBackend(Protocol):
    """The asynchronous twin of `StateBackend`: the same operations, awaited.

    `nonblocking` is a `StateBackend` over the same state whose operations never block
    (the memory backend's), which the pipeline calls without awaiting; None for a backend
    that does I/O.
    """

    @property
    def nonblocking(self) -> StateBackend | None: ...

    async def admit(
        self, plan: GuardPlan, *, retry: bool = False, max_wait: float = 0.0
    ) -> Admission: ...

    async def record(
        self, plan: GuardPlan, admission: Admission, *, failed: bool | None, duration: float
    ) -> None: ...

    async def breaker(self, plan: GuardPlan) -> BreakerSnapshot: ...

    async def limiter(self, plan: GuardPlan) -> LimiterSnapshot: ...

    async def idempotency_begin(
        self, key: str, fingerprint: bytes, *, ttl: float
    ) -> IdempotencyClaim: ...

    async def idempotency_complete(
        self, key: str, owner: str, fingerprint: bytes, outcome: bytes, *, ttl: float
    ) -> None: ...

    async def idempotency_release(self, key: str, owner: str) -> None: ...

    async def idempotency_extend(self, key: str, owner: str, *, ttl: float) -> bool: ...

    async def token_get(self, key: str) -> StoredToken | None: ...

    async def token_lock(self, key: str, *, ttl: float) -> str | None: ...

    async def token_set(self, key: str, owner: str, token: StoredToken) -> None: ...

    async def token_unlock(self, key: str, owner: str) -> None: ...

    async def slo_add(self, batch: str, counts: Sequence[SloCounts]) -> None: ...

    async def slo_read(self, queries: Sequence[SloQuery]) -> list[dict[str, int]]: ...

    async def lease_acquire(self, name: str, owner: str, *, ttl: float) -> Lease: ...

    async def lease_read(self, name: str) -> Lease: ...

    async def lease_store(self, name: str, owner: str, data: bytes, *, keep: float) -> bool: ...

    async def lease_release(self, name: str, owner: str) -> None: ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...
