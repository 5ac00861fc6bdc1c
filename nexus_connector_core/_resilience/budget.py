"""The retry budget's rule: retries may be at most a fraction of first attempts.

Like Finagle's RetryBudget: over the last `window` seconds, a retry is allowed while
``retries < ratio x first_attempts + min_per_second x window``. Counted in one-second
buckets, so the window slides smoothly.
"""

from __future__ import annotations

from collections import deque

from .._state import BudgetPolicy, policy_of

__all__ = ["BudgetConfig", "BudgetRecord"]


class BudgetRecord:
    """The first attempts and retries of one budget over its window."""

    __slots__ = ("buckets", "calls", "current", "pending", "retries", "until")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.calls = 0
        self.retries = 0
        self.current: list[int] = [-1, 0, 0]
        #: When the current bucket's second ends: before it, a first attempt is counted
        #: in `pending` with nothing to slide (`count`'s fast path).
        self.until = 0.0
        #: First attempts of the current bucket not yet added to it and to `calls` (one
        #: increment on the hot path); `settle` adds them, before anything reads the counts.
        self.pending = 0

    def settle(self) -> None:
        """Add the `pending` first attempts to the current bucket and to `calls`."""
        pending = self.pending
        if pending:
            self.pending = 0
            self.current[1] += pending
            self.calls += pending

    def counts(self) -> tuple[int, int]:
        """First attempts and retries over the window (as of the last slide)."""
        self.settle()
        return self.calls, self.retries

    def _bucket(self, policy: BudgetPolicy, now: float) -> list[int]:
        self.settle()
        second = int(now)
        if self.current[0] == second:  # the common case: nothing to slide
            return self.current
        horizon = second - int(policy.window)
        buckets = self.buckets
        while buckets and buckets[0][0] <= horizon:
            _, calls, retries = buckets.popleft()
            self.calls -= calls
            self.retries -= retries
        if not buckets or buckets[-1][0] != second:
            buckets.append([second, 0, 0])
        self.current = buckets[-1]
        self.until = second + 1.0
        return self.current

    def allows_retry(self, policy: BudgetPolicy, now: float) -> bool:
        """Whether one more retry fits the budget now (records nothing)."""
        self._bucket(policy, now)
        allowance = policy.ratio * self.calls + policy.min_per_second * policy.window
        return self.retries + 1 <= allowance

    def take(self, policy: BudgetPolicy, now: float, *, retry: bool) -> bool:
        """Count a first attempt, or a retry if one fits the budget; False, counting
        nothing, when it does not."""
        if retry and not self.allows_retry(policy, now):
            return False
        self.count(policy, now, retry=retry)
        return True

    def count(self, policy: BudgetPolicy, now: float, *, retry: bool) -> None:
        """Record a first attempt, or a retry."""
        if now < self.until and not retry:  # the common case: a first attempt, same second
            self.pending += 1
            return
        bucket = self.current
        if bucket[0] != int(now):
            bucket = self._bucket(policy, now)
        if retry:
            bucket[2] += 1
            self.retries += 1
        else:
            bucket[1] += 1
            self.calls += 1


class BudgetConfig(BudgetPolicy, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``retry.budget``: retries at most `ratio` of calls over `window` seconds, shared by
    every worker through the state backend (the `BudgetPolicy` fields, and `enabled`)."""

    enabled: bool = True

    def policy(self) -> BudgetPolicy:
        return policy_of(self, BudgetPolicy)
