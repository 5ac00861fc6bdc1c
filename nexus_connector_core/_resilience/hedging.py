"""Hedged reads: another attempt alongside a slow one, the first answer wins.

Polly's hedging strategy in its latency mode, inside our attempt loop: a round of attempts
starts one; while it runs past `Hedging.delay`, up to ``max_hedged_attempts`` more start
alongside it, one per delay. The first success wins and the others are cancelled. A failure
the retry policy would retry (a vendor fault) leaves the round to the attempts still
running; any other failure is an answer, and ends the round at once. When every attempt of a
round failed, the retry policy decides as for one attempt (the next round may hedge again).

Every hedge is an attempt: admitted by the breaker and the rate limiter (never waiting for a
slot, outside the retry budget), holding a bulkhead slot, recorded. An attempt the round
abandons records no outcome (``failed=None``: not a failure, not slow; a half-open trial
permit given back). Only idempotent reads are hedged; a send or a charge never is.

What is decided here, without I/O: which operations may hedge (`hedges`), how long to wait
(a fixed delay, or the p95 of recent successful attempts), the budget (at most
``budget_ratio`` hedges per call over the last 10 seconds, per operation and vendor, in this
process: hedging trades load for latency, and a vendor in trouble must not get twice the
load), and one round's attempts (`HedgedRound`). The drivers, asyncio tasks or threads, are
in `hedge_race`; the loop that uses them is `_async_steps.Hedged`.
"""

from __future__ import annotations

import collections
import math
import threading
from typing import TYPE_CHECKING, Any

import msgspec

from .._context import CallContext
from .._state import BudgetPolicy, GuardPlan
from .budget import BudgetRecord
from .config import HedgingConfig

if TYPE_CHECKING:
    from .._operations import Operation

__all__ = [
    "BUDGET_WINDOW",
    "MIN_SAMPLES",
    "SAMPLES",
    "HedgedRound",
    "Hedging",
    "hedge_plan",
    "hedges",
]

#: Successful attempts kept for ``delay = "p95"``.
SAMPLES = 256
#: Below this many, ``delay = "p95"`` does not hedge: a percentile of fewer says little.
MIN_SAMPLES = 20
#: The p95 is computed again after this many new samples (a sort of `SAMPLES` floats).
_REFRESH = 16
#: Seconds over which the hedging budget counts calls and hedges.
BUDGET_WINDOW = 10.0


def hedges(operation: Operation[Any, Any]) -> bool:
    """Whether `operation` may be hedged: it only reads, is idempotent and does not stream
    (a live stream is the caller's to consume, after the call)."""
    return operation.reads and operation.idempotent and not operation.streams


class Hedging:
    """The hedging decisions of one operation at one vendor, in this process.

    >>> h = Hedging(HedgingConfig(delay=0.05, budget_ratio=0.1))
    >>> h.delay()
    0.05
    >>> for _ in range(10):
    ...     h.call_started(100.0)
    >>> h.allow(100.0), h.allow(100.0)  # a tenth of ten calls: one hedge
    (True, False)
    """

    __slots__ = ("_budget", "_lock", "_p95", "_policy", "_samples", "_unsorted", "fixed", "most")

    def __init__(self, config: HedgingConfig) -> None:
        #: The fixed delay, or None for ``"p95"``.
        self.fixed = None if isinstance(config.delay, str) else config.delay
        #: Attempts a round may start beside its first.
        self.most = config.max_hedged_attempts
        self._policy = BudgetPolicy(
            ratio=config.budget_ratio, window=BUDGET_WINDOW, min_per_second=0.0
        )
        self._budget = BudgetRecord()
        self._lock = threading.Lock()
        self._samples: collections.deque[float] = collections.deque(maxlen=SAMPLES)
        self._unsorted = 0
        self._p95: float | None = None

    def delay(self) -> float | None:
        """Seconds to let an attempt run before hedging it; None: do not hedge (``"p95"``
        with fewer than `MIN_SAMPLES` successful attempts seen)."""
        if self.fixed is not None:
            return self.fixed
        if self._unsorted >= _REFRESH or (self._p95 is None and self._unsorted):
            self._refresh()
        return self._p95

    def ready(self, now: float) -> float | None:
        """The delay of a round starting now, or None when it cannot hedge: no delay yet,
        or the budget has no room (then the round is one attempt, raced by nothing)."""
        delay = self.delay()
        if delay is None:
            return None
        with self._lock:
            return delay if self._budget.allows_retry(self._policy, now) else None

    def observe(self, seconds: float) -> None:
        """A successful attempt took `seconds` (for ``delay = "p95"``)."""
        if self.fixed is None:
            with self._lock:  # sync attempts end on worker threads
                self._samples.append(seconds)
                self._unsorted += 1

    def _refresh(self) -> None:
        with self._lock:
            self._unsorted = 0
            ordered = sorted(self._samples)
        if len(ordered) < MIN_SAMPLES:
            return
        self._p95 = ordered[min(math.ceil(0.95 * len(ordered)) - 1, len(ordered) - 1)]

    def call_started(self, now: float) -> None:
        """A call of the operation starts (the budget grows by `budget_ratio` hedges)."""
        with self._lock:
            self._budget.count(self._policy, now, retry=False)

    def allow(self, now: float) -> bool:
        """Whether one more hedge fits the budget now; if so, it is counted."""
        with self._lock:
            if not self._budget.allows_retry(self._policy, now):
                return False
            self._budget.count(self._policy, now, retry=True)
            return True


def hedge_plan(plan: GuardPlan) -> GuardPlan:
    """What admits a hedge: `plan` without the retry budget (a hedge is no retry; the
    hedging budget caps hedges)."""
    if plan.budget is None:
        return plan
    return msgspec.structs.replace(plan, budget=None)


class HedgedRound:
    """The attempts of one round, each with a context of its own (an adapter sets
    ``status_code`` and ``request_sent`` on the context of its attempt), and which won.

    `fork` makes an attempt's context from the call's. An attempt that ends says so:
    `won` (the first success claims the round) or `failed`; either answers False once the
    round was decided without it: the attempt was abandoned and records no outcome (a sync
    attempt cannot be cancelled: it finishes in the background). `end` puts back what the
    call's context must say: every attempt counted, the winner's (or the last failure's)
    status, and whether any may have reached the vendor.
    """

    __slots__ = ("_lock", "call", "contexts", "decided", "last", "request")

    def __init__(self, call: CallContext, request: Any) -> None:
        self.call = call
        #: What every attempt of the round sends.
        self.request = request
        self.contexts: list[CallContext] = []
        self.decided = False
        #: The winner's context, else the last to fail.
        self.last: CallContext | None = None
        self._lock = threading.Lock()

    def fork(self, timeout: float | None) -> CallContext:
        """A context for the round's next attempt, with the attempt's `timeout`."""
        call = self.call
        call.attempt += 1
        call.extras  # noqa: B018 - made now, so that every attempt shares the call's dict
        trace = call.trace
        ctx = msgspec.structs.replace(
            call,
            timeout=timeout,
            status_code=None,
            request_sent=None,
            trace=trace.branch() if trace is not None else None,
        )
        self.contexts.append(ctx)
        return ctx

    def won(self, ctx: CallContext) -> bool:
        """The attempt of `ctx` succeeded: whether it is the first (the winner)."""
        with self._lock:
            if self.decided:
                return False
            self.decided = True
            self.last = ctx
            return True

    def failed(self, ctx: CallContext) -> bool:
        """The attempt of `ctx` failed: whether the round was still undecided."""
        with self._lock:
            if self.decided:
                return False
            self.last = ctx
            return True

    def end(self) -> None:
        """The round is over (won, failed, cut by the deadline or cancelled): attempts
        still running are abandoned, and the call's context says what the round did."""
        with self._lock:
            self.decided = True
        call = self.call
        last = self.last or (self.contexts[-1] if self.contexts else None)
        if last is not None:
            call.status_code = last.status_code
            call.request_sent = last.request_sent
            call.timeout = last.timeout
        call.reached = call.reached or any(ctx.reached for ctx in self.contexts)
