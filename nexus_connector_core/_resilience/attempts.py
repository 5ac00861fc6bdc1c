"""The attempts at one vendor: retry, circuit breaker, rate limit, bulkhead and timeout.

These policies interlock (a retry needs the breaker's and the budget's consent, a
Retry-After must fit the deadline, a reserved rate-limit slot is waited for within it), so
they run as one loop per vendor rather than as separate steps: one admission (one round
trip to a remote backend) before each attempt, one record after it. The decisions live in
`VendorPolicy`; the loop that drives them is written once, in `_async_steps.attempts`, and
its synchronous twin generated from it (`_steps.attempts`); `middleware.AttemptStep` puts
it in a pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from .._context import CallContext
from .._errors import (
    CircuitOpenError,
    ConnectorError,
    RateLimitExceededError,
    StateBackendUnavailableError,
    VendorTimeoutError,
)
from .._limit_key import current_limit_key
from .._logging import library_logger
from .._operations import Operation
from .._state import Admission, GuardPlan
from .backoff import Backoff
from .bulkhead import Bulkhead
from .config import ResilienceConfig
from .errors import error_classes
from .hedging import Hedging, hedges
from .outage import StateOutage

if TYPE_CHECKING:
    from .._telemetry import CallTrace

__all__ = ["UNGUARDED", "VendorPolicy", "settle"]

_log = library_logger("nexus_connector.resilience")
#: What a call without a guard plan records its outcome against.
UNGUARDED = GuardPlan()


class VendorPolicy:
    """The decisions of the attempt loop for one operation at one vendor."""

    def __init__(
        self,
        *,
        connector: str,
        vendor: str,
        operation: Operation[Any, Any],
        config: ResilienceConfig,
        honours_keys: bool,
        outage: StateOutage,
        bulkhead: Bulkhead | None,
    ) -> None:
        retry = config.retry
        self.connector = connector
        self.vendor = vendor
        self.operation = operation
        self.timeout = config.timeout
        self.deadline = config.deadline
        self.max_attempts = retry.max_attempts if retry.enabled else 1
        self.backoff = Backoff(
            retry.backoff,
            base=retry.base,
            max_delay=retry.max_delay,
            multiplier=retry.multiplier,
            jitter=retry.jitter,
        )
        self.retry_on = error_classes(retry.retry_on, "retry_on")
        self.retry_on_status = frozenset(retry.retry_on_status)
        self.respect_retry_after = retry.respect_retry_after
        self.max_retry_after = retry.max_retry_after
        breaker = config.circuit_breaker if config.circuit_breaker.enabled else None
        self.failure_on = error_classes(breaker.failure_on, "failure_on") if breaker else ()
        # A non-idempotent call to a vendor that honours keys gets one, so it may be retried.
        self.makes_key = honours_keys and not operation.idempotent
        self.honours_keys = honours_keys
        self.outage = outage
        #: The breaker state the last admission met (for the breaker gauge and health).
        self.last_breaker_state: str | None = None
        #: Which breaker: the operation's own, or the connector's ("*").
        self.breaker_scope = operation.name if config.circuit_breaker.scope == "operation" else "*"
        self.bulkhead = bulkhead
        self.plan = self._plan(config)
        # A success at least this slow must be recorded even when the admission was settled.
        slow = self.plan.breaker.slow_call_duration if self.plan and self.plan.breaker else 0.0
        self.slow_after = slow if slow > 0 else float("inf")
        #: The duration recorded for an attempt cut short by the deadline: slow, whatever
        #: its length (with slow-call tracking off, its real length is recorded).
        self.slow_after_cut = slow
        limit = config.rate_limit
        self.per_key = bool(limit and limit.enabled and limit.per_key)
        self._keyed_plans: dict[str, GuardPlan] = {}
        self.limit_wait = (
            (limit.max_wait if limit.max_wait is not None else float("inf"))
            if limit is not None and limit.enabled and limit.wait
            else 0.0
        )
        hedging = config.hedging
        #: Hedged reads (None: this operation is not hedged, and its loop knows nothing of it).
        self.hedging = (
            Hedging(hedging)
            if hedging is not None and hedging.enabled and hedges(operation)
            else None
        )

    def _plan(self, config: ResilienceConfig) -> GuardPlan | None:
        scope = f"{self.connector}:{self.vendor}"
        op_scope = f"{scope}:{self.operation.name}"
        breaker = config.circuit_breaker
        limit = config.rate_limit
        budget = config.retry.budget
        plan = GuardPlan(
            scope=scope,
            breaker_key=op_scope if breaker.scope == "operation" else scope,
            breaker=breaker.policy(timeout=config.timeout or config.deadline)
            if breaker.enabled
            else None,
            limit_key=op_scope if limit and limit.scope == "operation" else scope,
            limit=limit.policy() if limit and limit.enabled else None,
            budget_key=scope,
            budget=budget.policy() if budget and budget.enabled and config.retry.enabled else None,
        )
        if plan.breaker is None and plan.limit is None and plan.budget is None:
            return None
        return plan

    def keyed_plan(self) -> GuardPlan:
        """The plan for the caller's `limit_key`, when the limiter is per key."""
        assert self.plan is not None
        key = current_limit_key()
        if key is None:
            return self.plan
        plan = self._keyed_plans.get(key)
        if plan is None:
            if len(self._keyed_plans) > 10_000:  # bound the memo, not the limiter
                self._keyed_plans.clear()
            plan = self._keyed_plans[key] = msgspec.structs.replace(
                self.plan, limit_key=f"{self.plan.limit_key}:key:{key}", limit_per_caller=True
            )
        return plan

    # -- decisions ---------------------------------------------------------------------------

    def remaining(
        self, ctx: CallContext, last_error: BaseException | None, reached: bool = False
    ) -> float | None:
        """Seconds left before the deadline; raises when none are left."""
        if ctx.deadline is None:
            return None
        remaining = ctx.deadline - ctx.clock.monotonic()
        if remaining <= 0:
            raise self.deadline_error(ctx, last_error, reached)
        return remaining

    def max_wait(self, remaining: float | None) -> float:
        """How far ahead the limiter may reserve a slot for this attempt."""
        return self.limit_wait if remaining is None else min(self.limit_wait, remaining)

    def attempt_timeout(self, remaining: float | None) -> float | None:
        timeout = self.timeout
        if remaining is None:
            return timeout
        return remaining if timeout is None or remaining < timeout else timeout

    def deadline_error(
        self, ctx: CallContext, last_error: BaseException | None, reached: bool = False
    ) -> VendorTimeoutError:
        maybe = reached or ctx.reached or getattr(last_error, "maybe_processed", False)
        budget = f"{self.deadline} s" if self.deadline is not None else "the caller's deadline"
        error = VendorTimeoutError(
            f"deadline of {budget} exceeded after {ctx.attempt} attempt(s)",
            maybe_processed=bool(maybe),
            deadline_exceeded=True,
        )
        error.__cause__ = last_error
        return error

    def rejection(
        self, admission: Admission, last_error: BaseException | None, reached: bool = False
    ) -> BaseException:
        """The error for an attempt the guard refused; `reached` says whether an earlier
        attempt of this call may have reached the vendor."""
        if admission.reason == "circuit_open":
            error: ConnectorError = CircuitOpenError(
                f"circuit breaker of vendor {self.vendor!r} is {admission.state.replace('_', '-')}"
                f"; retry in {admission.retry_after:.1f} s",
                retry_after=admission.retry_after,
            )
        elif admission.reason == "rate_limited":
            error = RateLimitExceededError(
                f"rate limit of connector {self.connector!r} reached; retry in "
                f"{admission.retry_after:.3f} s",
                retry_after=admission.retry_after,
                local=True,
            )
        else:  # the retry budget: the vendor's own error is the one worth reporting
            assert last_error is not None
            last_error.add_note("not retried: the retry budget of this vendor is spent")
            return settle(last_error, reached)
        error.__cause__ = last_error
        return settle(error, reached)

    def counts_as_failure(self, error: BaseException) -> bool:
        if isinstance(error, RateLimitExceededError) and error.local:
            return False
        if isinstance(error, VendorTimeoutError) and error.deadline_exceeded:
            return False  # our own budget ran out: a slow call (see `failed_attempt`)
        return isinstance(error, self.failure_on)

    def failed_attempt(
        self, error: Exception, ctx: CallContext, start: float, reached: bool
    ) -> tuple[Exception, float | None]:
        """What an attempt that raised `error` means: the error to act on, and the duration
        to record for the breaker (None: not a slow call, record the real one).

        Decides whether the attempt may have reached the vendor (the error says so, or, for
        an exception the adapter did not map, whether its request was sent) and keeps it in
        ``ctx.reached``. A timeout in an attempt whose timeout was the rest of the call's
        deadline is our own deadline cutting the attempt short: a deadline error, counted
        by the breaker as a slow call, never as a failure (the vendor may only be slow, and
        a caller's short budget is not its fault; a vendor that hangs makes every call slow
        and trips the slow-call rate)."""
        if isinstance(error, ConnectorError):
            maybe = error.maybe_processed
        else:
            maybe = ctx.request_sent is not False
        ctx.reached = ctx.reached or maybe
        deadline = ctx.deadline
        if (
            deadline is not None
            and isinstance(error, VendorTimeoutError)
            and not error.deadline_exceeded
            and (self.timeout is None or deadline - start <= self.timeout)
        ):
            cut = self.deadline_error(ctx, error, reached or maybe)
            return cut, max(ctx.clock.monotonic() - start, self.slow_after_cut)
        return error, None

    def transient(self, error: BaseException) -> bool:
        """Whether `error` is of a kind that is retried (`retry_on`, `retry_on_status`):
        a vendor fault that may pass, not our own guard's refusal nor a spent deadline."""
        if not isinstance(error, ConnectorError):
            return False
        if isinstance(error, CircuitOpenError) or getattr(error, "local", False):
            return False  # our own guard said no; trying again at once will not change that
        if isinstance(error, VendorTimeoutError) and error.deadline_exceeded:
            return False
        return getattr(error, "status_code", None) in self.retry_on_status or (
            isinstance(error, self.retry_on)
            # An adapter may mark one error of a retryable kind as not worth repeating
            # (an untrusted certificate); a class a user lists in retry_on is retried.
            and (error.retryable or not type(error).default_retryable)
        )

    def retry_delay(
        self, error: BaseException, retries: int, previous: float, ctx: CallContext
    ) -> float | None:
        """Seconds to wait before retrying after `error`, or None not to retry."""
        if retries + 1 >= self.max_attempts or not self.transient(error):
            return None
        assert isinstance(error, ConnectorError)
        if (
            not self.operation.idempotent
            and error.maybe_processed
            and not (self.honours_keys and ctx.idempotency_key)
        ):
            return None  # the vendor may have acted: repeating could charge twice
        delay = self.backoff.delay(retries + 1, previous)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and self.respect_retry_after:
            if retry_after > self.max_retry_after:
                return None
            delay = max(delay, retry_after)
        if ctx.deadline is not None and ctx.clock.monotonic() + delay >= ctx.deadline:
            return None  # waiting would outlast the deadline: the vendor's error says more
        return delay

    def breaker_seen(self, state: str, trace: CallTrace | None) -> None:
        """An admission met the breaker in `state`, another than the last one seen here."""
        if trace is not None:
            trace.event(
                "breaker",
                {
                    "nexus_connector.vendor": self.vendor,
                    "nexus_connector.breaker_state": state,
                    "nexus_connector.breaker_state_before": self.last_breaker_state or "unknown",
                },
            )
        self.last_breaker_state = state

    def rejected(self, admission: Admission) -> dict[str, Any]:
        """The attributes of the event of an attempt our own guard refused."""
        return {
            "nexus_connector.vendor": self.vendor,
            "nexus_connector.reason": admission.reason or "refused",
            "nexus_connector.retry_after": admission.retry_after,
        }

    def retrying(self, ctx: CallContext, error: BaseException, wait: float) -> dict[str, Any]:
        """The attributes of a retry event."""
        return {
            "nexus_connector.vendor": self.vendor,
            "nexus_connector.attempt": ctx.attempt,
            "nexus_connector.wait": wait,
            "error.type": type(error).__name__,
        }

    def backend_down(self, error: StateBackendUnavailableError) -> None:
        """Fail open (go on without the guard, logged) or closed (raise), as configured."""
        self.outage.let_through(
            error,
            f"calling {self.connector}/{self.vendor}.{self.operation.name} without its guard",
        )

    def timed_out(self, ctx: CallContext, timeout: float) -> VendorTimeoutError:
        """The attempt the watchdog cancelled; `failed_attempt` tells a deadline cut."""
        return VendorTimeoutError(
            f"no answer within the attempt timeout of {timeout:g} s",
            maybe_processed=ctx.request_sent is not False,
        )


def settle(error: BaseException, reached: bool) -> BaseException:
    """The call's final error: when an earlier attempt may have reached the vendor, the call
    may have been processed, whatever the last attempt says (so no fallback vendor and no
    caller retries it blindly)."""
    if reached and isinstance(error, ConnectorError) and not error.maybe_processed:
        error.maybe_processed = True
        error.add_note("an earlier attempt of this call may have reached the vendor")
    return error
