"""The rate limiter's rule: GCRA, the generic cell rate algorithm (a token bucket kept as
one number, the theoretical arrival time of the next call).

One call is admitted at `now` when ``tat - now <= (capacity - 1) x interval``: the bucket
has a token. With `max_wait`, a call that would be refused instead reserves the next free
slot, up to `max_wait` seconds ahead, and waits for it; the reservation is exact, so N
workers waiting for tokens are spread out instead of stampeding.
"""

from __future__ import annotations

from typing import Literal

from .._config_ranges import Wait, check_ranges
from .._state import LimitPolicy, policy_of

__all__ = ["RateLimitConfig", "gcra", "headroom"]

_EPSILON = 1e-9


def gcra(
    tat: float, now: float, policy: LimitPolicy, max_wait: float = 0.0
) -> tuple[bool, float, float]:
    """Decide one call: ``(allowed, wait_or_retry_after, new_tat)``.

    When allowed, the second value is how long to wait for the reserved slot (0 when a token
    was free); when refused, how long until one will be. `new_tat` is what to store when
    allowed (unchanged when refused).
    """
    interval = policy.interval
    tat = max(tat, now)
    earliest = tat - policy.tolerance  # the soonest this call may start
    wait = earliest - now
    if wait <= _EPSILON:  # sums of intervals drift by float rounding; a nanosecond is nothing
        return True, 0.0, tat + interval
    if wait <= max_wait:
        return True, wait, tat + interval
    return False, wait, tat


def headroom(tat: float, now: float, policy: LimitPolicy) -> tuple[int, float]:
    """The tokens the bucket holds at `now` and, when it holds none, seconds until one comes.

    >>> headroom(0.0, 10.0, LimitPolicy(rate=5))       # idle: full
    (5, 0.0)
    >>> headroom(10.6, 10.0, LimitPolicy(rate=5))      # three calls just now
    (2, 0.0)
    """
    interval = policy.interval
    capacity = policy.capacity
    backlog = max(tat - now, 0.0)
    tokens = int((((capacity - 1) * interval - backlog) / interval + 1) + _EPSILON)
    tokens = min(max(tokens, 0), capacity)
    return tokens, (0.0 if tokens else max(backlog - (capacity - 1) * interval, 0.0))


class RateLimitConfig(LimitPolicy, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``rate_limit``: `rate` calls per `per` seconds, bursts up to `burst`, for all workers.

    The `LimitPolicy` fields, with their defaults and ranges, plus what only the pipeline
    reads; `policy` derives the policy the state backend decides by.
    """

    enabled: bool = True
    scope: Literal["connector", "operation"] = "connector"
    #: Also limit per key set with ``nexus_connector_core.limit_key("tenant-42")``.
    per_key: bool = False
    #: Wait for a token (within the deadline and `max_wait`) instead of failing at once.
    wait: bool = False
    max_wait: Wait | None = None

    def __post_init__(self) -> None:
        check_ranges(self)
        LimitPolicy.__post_init__(self)

    def policy(self) -> LimitPolicy:
        return policy_of(self, LimitPolicy)
