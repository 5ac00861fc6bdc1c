"""The core steps of the call pipeline as `Middleware`: idempotency, the fallback chain and
the attempts at one vendor (the read cache, `ReadCache`, is one itself).

Each step binds its policy's decisions (and, for the steps that keep shared state, the state
backend) to its driver, written once in `_async_steps` and generated into `_steps`. `wrap`
and `wrap_async` return the driver's handler as it is: a pipeline is composed once per
connector and operation, and a call pays nothing for its steps being objects. A step that
holds a state backend wraps handlers of the backend's kind: `wrap` with a `StateBackend`,
`wrap_async` with an `AsyncStateBackend` (mypy checks it).

`AttemptStep` is the runtime's one way to call a vendor: the connectors' pipelines and the
OAuth2 token requests (`nexus_connector_core.auth`) both go through it, and its async
attempts time out through the process's one watchdog per event loop (`WATCHDOGS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._pipeline import AsyncHandler, Handler, Req, Res
from .._state import AsyncStateBackend, StateBackend
from .attempts import VendorPolicy
from .fallback import FallbackChain
from .idempotency import IdempotencyGuard
from .watchdog import WATCHDOGS

if TYPE_CHECKING:
    from .._observe import Observer

__all__ = ["AttemptStep", "FallbackStep", "IdempotencyStep"]

S = TypeVar("S", StateBackend, AsyncStateBackend)


class AttemptStep(Generic[S]):
    """Retry, circuit breaker, rate limit, bulkhead and attempt timeout at one vendor, around
    the vendor's method (see `_async_steps.attempts`).

    With an `observer`, the step is the whole pipeline (one vendor, nothing else around it):
    it also does the observe step's work, on the clock readings it takes anyway. Outside a
    pipeline, it calls a vendor under a policy as a connector does::

        fetch = AttemptStep(policy, backend).wrap(endpoint.send)
        token = fetch(request, ctx)
    """

    __slots__ = ("backend", "observer", "policy")

    def __init__(self, policy: VendorPolicy, backend: S, observer: Observer | None = None) -> None:
        self.policy = policy
        self.backend: S = backend
        self.observer = observer

    def wrap(self: AttemptStep[StateBackend], handler: Handler[Req, Res]) -> Handler[Req, Res]:
        from . import _steps

        # A synchronous attempt's timeout is its transport's (no watchdog).
        return _steps.attempts(self.policy, handler, self.backend, None, self.observer)

    def wrap_async(
        self: AttemptStep[AsyncStateBackend], handler: AsyncHandler[Req, Res]
    ) -> AsyncHandler[Req, Res]:
        from . import _async_steps

        return _async_steps.attempts(self.policy, handler, self.backend, WATCHDOGS, self.observer)

    def __repr__(self) -> str:
        policy = self.policy
        observed = ", observed" if self.observer is not None else ""
        return f"<AttemptStep {policy.connector}/{policy.vendor}.{policy.operation.name}{observed}>"


class IdempotencyStep(Generic[S]):
    """One vendor call per idempotency key, its outcome stored in the state backend and
    replayed (see `_async_steps.idempotent` and `IdempotencyGuard`)."""

    __slots__ = ("backend", "guard")

    def __init__(self, guard: IdempotencyGuard, backend: S) -> None:
        self.guard = guard
        self.backend: S = backend

    def wrap(self: IdempotencyStep[StateBackend], handler: Handler[Req, Res]) -> Handler[Req, Res]:
        from . import _steps

        return _steps.idempotent(self.guard, handler, self.backend)

    def wrap_async(
        self: IdempotencyStep[AsyncStateBackend], handler: AsyncHandler[Req, Res]
    ) -> AsyncHandler[Req, Res]:
        from . import _async_steps

        return _async_steps.idempotent(self.guard, handler, self.backend)

    def __repr__(self) -> str:
        return f"<IdempotencyStep {self.guard.connector}.{self.guard.operation.name}>"


class FallbackStep:
    """The vendor chain (`FallbackChain`), within one deadline: wraps the primary vendor's
    handler and, when the chain allows, hands the call to the next vendor's.

    `fallbacks[i]` builds the handler of vendor ``i + 1`` of the chain, of the kind wrapped
    (sync or async), when a call first needs it: a fallback vendor's adapter is not started
    while the primary answers.
    """

    __slots__ = ("chain", "fallbacks")

    def __init__(self, chain: FallbackChain, fallbacks: Sequence[Callable[[], Any]]) -> None:
        self.chain = chain
        self.fallbacks = tuple(fallbacks)

    def wrap(self, handler: Handler[Req, Res]) -> Handler[Req, Res]:
        from . import _steps

        def primary() -> Handler[Req, Res]:
            return handler

        return _steps.fallback(self.chain, [primary, *self.fallbacks])

    def wrap_async(self, handler: AsyncHandler[Req, Res]) -> AsyncHandler[Req, Res]:
        from . import _async_steps

        def primary() -> AsyncHandler[Req, Res]:
            return handler

        return _async_steps.fallback(self.chain, [primary, *self.fallbacks])

    def __repr__(self) -> str:
        return f"<FallbackStep {' -> '.join(self.chain.vendors)}>"
