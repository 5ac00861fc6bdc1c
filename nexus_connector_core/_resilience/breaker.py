"""The circuit breaker's rules, in the manner of Resilience4j, without I/O or a clock.

A `BreakerRecord` is the whole state of one breaker. `admit` and `record` take the current
time and change the record; a backend runs them atomically (under a lock, in a Lua script).

    CLOSED --(failure or slow-call rate >= threshold, with >= min_calls)--> OPEN
    OPEN --(open_for elapsed, at the next admit)--> HALF_OPEN
    HALF_OPEN --(all trial calls done, rates below thresholds)--> CLOSED
    HALF_OPEN --(all trial calls done, a rate at its threshold; or max wait passed)--> OPEN

Every transition increments the generation; outcomes admitted in an older generation are
ignored, so a slow call from before an opening cannot close or re-open the breaker.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from .._config_ranges import Wait, check_ranges
from .._state import Admission, BreakerPolicy, BreakerSnapshot, policy_of
from .errors import VENDOR_FAULTS, error_classes

__all__ = ["BreakerConfig", "BreakerRecord"]

_FAILED = 1
_SLOW = 2


class _CountWindow:
    """The outcomes of the last `size` calls."""

    __slots__ = ("calls", "failures", "index", "ring", "slow")

    @property
    def quiet(self) -> bool:
        """Full of fast successes: recording one more changes nothing."""
        return self.failures == 0 and self.slow == 0 and self.calls == len(self.ring)

    def __init__(self, size: int) -> None:
        self.ring = bytearray(size)
        self.index = 0
        self.calls = self.failures = self.slow = 0

    def add(self, outcome: int, now: float) -> None:
        ring = self.ring
        if self.calls == len(ring):
            old = ring[self.index]
            self.failures -= old & _FAILED
            self.slow -= (old & _SLOW) >> 1
        else:
            self.calls += 1
        ring[self.index] = outcome
        self.failures += outcome & _FAILED
        self.slow += (outcome & _SLOW) >> 1
        self.index = (self.index + 1) % len(ring)

    def totals(self, now: float) -> tuple[int, int, int]:
        return self.calls, self.failures, self.slow


class _TimeWindow:
    """The outcomes of the calls of the last `seconds` seconds, in one-second buckets."""

    __slots__ = ("buckets", "calls", "failures", "seconds", "slow")

    quiet = False  # every success counts towards the rate's denominator

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.buckets: deque[list[int]] = deque()
        self.calls = self.failures = self.slow = 0

    def _evict(self, now: float) -> None:
        horizon = int(now) - self.seconds
        buckets = self.buckets
        while buckets and buckets[0][0] <= horizon:
            _, calls, failures, slow = buckets.popleft()
            self.calls -= calls
            self.failures -= failures
            self.slow -= slow

    def add(self, outcome: int, now: float) -> None:
        self._evict(now)
        second = int(now)
        if not self.buckets or self.buckets[-1][0] != second:
            self.buckets.append([second, 0, 0, 0])
        bucket = self.buckets[-1]
        failed, slow = outcome & _FAILED, (outcome & _SLOW) >> 1
        bucket[1] += 1
        bucket[2] += failed
        bucket[3] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow

    def totals(self, now: float) -> tuple[int, int, int]:
        self._evict(now)
        return self.calls, self.failures, self.slow


def _window(policy: BreakerPolicy) -> _CountWindow | _TimeWindow:
    if policy.window_type == "time":
        return _TimeWindow(policy.window)
    return _CountWindow(policy.window)


def _tripped(policy: BreakerPolicy, calls: int, failures: int, slow: int) -> bool:
    return calls > 0 and (
        failures / calls >= policy.failure_rate
        or (policy.slow_call_duration > 0 and slow / calls >= policy.slow_call_rate)
    )


class BreakerRecord:
    """One breaker's state; see the module docstring for the rules."""

    __slots__ = (
        "admitted",
        "generation",
        "half_open_since",
        "open_until",
        "opened",
        "quiet_generation",
        "state",
        "trial_failures",
        "trial_slow",
        "trials_done",
        "trials_issued",
        "window",
    )

    def __init__(self, policy: BreakerPolicy) -> None:
        self.state = "closed"
        self.generation = 0
        self.window = _window(policy)
        self.open_until = 0.0
        self.opened = 0  # consecutive openings, for the growing open duration
        self.half_open_since = 0.0
        self.trials_issued = self.trials_done = self.trial_failures = self.trial_slow = 0
        self.admitted = Admission(generation=0)
        self.quiet_generation = -1

    # -- transitions -----------------------------------------------------------------------

    def _to(self, state: str) -> None:
        self.state = state
        self.generation += 1
        self.admitted = Admission(generation=self.generation, state=state)  # type: ignore[arg-type]
        self._update_quiet()

    def _open(self, policy: BreakerPolicy, now: float) -> None:
        cap = max(policy.open_for_max, policy.open_for)
        try:
            duration = policy.open_for * policy.open_for_multiplier**self.opened
        except OverflowError:
            duration = cap
        if duration < cap:
            self.opened += 1  # grows only while the duration does, so it never overflows
        self.open_until = now + min(duration, cap)
        self._to("open")

    def _half_open(self, now: float) -> None:
        self.half_open_since = now
        self.trials_issued = self.trials_done = self.trial_failures = self.trial_slow = 0
        self._to("half_open")

    def _close(self, policy: BreakerPolicy) -> None:
        self.window = _window(policy)
        self.opened = 0
        self._to("closed")

    def _expire_half_open(self, policy: BreakerPolicy, now: float) -> None:
        if (
            self.state == "half_open"
            and policy.half_open_max_wait > 0
            and now - self.half_open_since > policy.half_open_max_wait
        ):
            self._open(policy, now)

    # -- the two operations ----------------------------------------------------------------

    def check(self, policy: BreakerPolicy, now: float) -> Admission:
        """Whether a call may go ahead now; changes state only by the passing of time.

        A granted half-open trial is returned with ``trial=True`` but not yet counted:
        call `commit` once every other check (rate limit, budget) has passed too.
        """
        state = self.state
        if state == "closed":
            return self.admitted
        if state == "open":
            if now < self.open_until:
                return Admission(
                    allowed=False,
                    reason="circuit_open",
                    retry_after=self.open_until - now,
                    generation=self.generation,
                    state="open",
                )
            self._half_open(now)
        self._expire_half_open(policy, now)
        if self.state == "open":
            return self.check(policy, now)
        if self.trials_issued < policy.half_open_calls:
            return Admission(generation=self.generation, trial=True, state="half_open")
        wait = (
            self.half_open_since + policy.half_open_max_wait - now
            if policy.half_open_max_wait > 0
            else 1.0
        )
        return Admission(
            allowed=False,
            reason="circuit_open",
            retry_after=max(wait, 0.0),
            generation=self.generation,
            state="half_open",
        )

    def commit(self, admission: Admission) -> None:
        """Count a granted half-open trial (see `check`)."""
        if admission.trial and admission.generation == self.generation:
            self.trials_issued += 1

    def settled(self, admission: Admission, failed: bool | None, slow: bool) -> bool:
        """Whether recording this outcome would change nothing (a fast success in a closed
        breaker whose window holds only fast successes): the common case, skipped."""
        return failed is False and not slow and admission.generation == self.quiet_generation

    def _update_quiet(self) -> None:
        # Kept up to date under the backend's lock, read without it by `settled`. A closed
        # breaker's admissions say whether it is quiet (`Admission.settled`), as Redis's
        # do, so that the caller skips recording a fast success.
        quiet = self.generation if self.state == "closed" and self.window.quiet else -1
        if quiet != self.quiet_generation:
            self.quiet_generation = quiet
            if self.state == "closed":
                self.admitted = Admission(generation=self.generation, settled=quiet >= 0)

    def record(
        self,
        policy: BreakerPolicy,
        admission: Admission,
        failed: bool | None,
        duration: float,
        now: float,
    ) -> None:
        """Count the outcome of an admitted call and trip or settle the breaker.

        ``failed=None`` means the call was abandoned (cancelled) with no outcome: nothing is
        counted, and a half-open trial permit it held is given back.
        """
        if admission.generation != self.generation:
            return
        if failed is None:
            if self.state == "half_open" and admission.trial:
                self.trials_issued = max(self.trials_issued - 1, self.trials_done)
            return
        slow = policy.slow_call_duration > 0 and duration >= policy.slow_call_duration
        if self.state == "closed":
            outcome = _FAILED * failed | _SLOW * slow
            window = self.window
            window.add(outcome, now)
            self._update_quiet()
            # A fast success cannot raise a rate in a count window, unless it is the call
            # that brings the window to min_calls; a time window may have shed old calls.
            if not outcome and policy.window_type == "count" and window.calls != policy.min_calls:
                return
            calls, failures, slow_calls = self.window.totals(now)
            if calls >= policy.min_calls and _tripped(policy, calls, failures, slow_calls):
                self._open(policy, now)
        elif self.state == "half_open" and admission.trial:
            self.trials_done += 1
            self.trial_failures += failed
            self.trial_slow += slow
            if self.trials_done >= policy.half_open_calls:
                if _tripped(policy, self.trials_done, self.trial_failures, self.trial_slow):
                    self._open(policy, now)
                else:
                    self._close(policy)

    def snapshot(self, policy: BreakerPolicy, now: float) -> BreakerSnapshot:
        """The state for display; does not change it."""
        if self.state == "half_open":
            calls, failures, slow = self.trials_done, self.trial_failures, self.trial_slow
        else:
            calls, failures, slow = self.window.totals(now)
        retry_after = max(self.open_until - now, 0.0) if self.state == "open" else 0.0
        return BreakerSnapshot(
            state=self.state,  # type: ignore[arg-type]
            calls=calls,
            failures=failures,
            slow_calls=slow,
            retry_after=retry_after,
            generation=self.generation,
        )


class BreakerConfig(BreakerPolicy, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``circuit_breaker``: stop calling a failing vendor for a while (Resilience4j's model).

    The `BreakerPolicy` fields (window, thresholds, open and half-open periods), with their
    defaults and ranges, plus what only the pipeline reads. `policy` derives the policy the
    state backend decides by.
    """

    enabled: bool = True
    #: One breaker per connector and vendor, or one per operation too.
    scope: Literal["connector", "operation"] = "connector"
    #: A call taking at least this many seconds is slow (0: slow calls are not tracked).
    #: Unset, it is the attempt timeout (or the deadline): the calls a vendor that hangs
    #: makes run into it, and the breaker counts them slow, not failed.
    slow_call_duration: Wait | None = None  # type: ignore[assignment]  # None: derived
    #: Error classes that count as failures (others, like a declined card, do not).
    failure_on: tuple[str, ...] = VENDOR_FAULTS

    def __post_init__(self) -> None:
        check_ranges(self)
        BreakerPolicy.__post_init__(self)
        error_classes(self.failure_on, "failure_on")

    def policy(self, *, timeout: float | None = None) -> BreakerPolicy:
        """The breaker policy; `timeout` is the attempt timeout (or deadline) an unset
        `slow_call_duration` takes."""
        slow = self.slow_call_duration
        if slow is None:
            slow = timeout or 0.0
        return policy_of(self, BreakerPolicy, slow_call_duration=slow)
