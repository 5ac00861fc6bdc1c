"""The call pipeline: an ordered list of middleware around a vendor adapter's method.

Each step is a `Middleware`: ``wrap(handler)`` (``wrap_async`` for async calls) returns a
handler that does the step's work around `handler`, the next step's. A handler takes
``(request, ctx)`` and returns the result (an awaitable of it, async); ``Handler[Req, Res]``
and ``AsyncHandler[Req, Res]`` say which request and result, so that mypy checks how a
pipeline is put together.

A connector composes the pipeline of an operation once, when the operation is first called:
a call runs only the handlers of the steps that are configured, and pays nothing for the
steps being objects. Order, outermost first (``connector.pipeline(operation)`` lists them):

1. observe (`Observer`): span, integration-log record, metrics;
2. plugin middleware (``middleware = [...]`` in the config);
3. idempotency (`IdempotencyStep`), for calls with an idempotency key (for every call when
   a key may be derived from the request or set by a middleware);
4. the read cache (`ReadCache`), when configured for a read operation;
5. the fallback chain (`FallbackStep`) when there are fallback vendors, each with an
   attempt step of its own; the call's deadline starts here, or else in the attempt step;
6. the attempts at the vendor (`AttemptStep`): retry, circuit breaker, rate limit, bulkhead,
   attempt timeout;

then the vendor adapter's method. With one vendor and no other step than observe, the
attempt step carries the observer and does its work itself (one handler less per call).
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

import msgspec

from ._clock import Clock
from ._context import CallContext
from ._operations import Operation

__all__ = [
    "AsyncHandler",
    "Handler",
    "Middleware",
    "MiddlewareFactory",
    "StepSettings",
    "TransformMiddleware",
]

if TYPE_CHECKING:
    # TypeVar defaults (PEP 696) for type checkers: a bare `Handler` is `Handler[Any, Any]`.
    from typing_extensions import TypeVar

    Req = TypeVar("Req", default=Any)
    Res = TypeVar("Res", default=Any)
else:
    Req = typing.TypeVar("Req")
    Res = typing.TypeVar("Res")

#: A synchronous step: ``handler(request, ctx) -> result``; ``Handler[EmailMessage,
#: EmailReceipt]`` takes an `EmailMessage` and returns an `EmailReceipt` (bare: any).
Handler: TypeAlias = Callable[[Req, CallContext], Res]
#: An asynchronous step: ``await handler(request, ctx)``.
AsyncHandler: TypeAlias = Callable[[Req, CallContext], Awaitable[Res]]


@runtime_checkable
class Middleware(Protocol):
    """One step of the pipeline, for sync and async calls alike.

    `wrap` returns a handler that does its work and calls `handler` (or not: a cache hit or a
    rejection answers without it). Keep per-call work small: this runs on every call.
    """

    def wrap(self, handler: Handler[Req, Res]) -> Handler[Req, Res]: ...

    def wrap_async(self, handler: AsyncHandler[Req, Res]) -> AsyncHandler[Req, Res]: ...


class StepSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What a middleware factory is told about the pipeline it is asked to join."""

    connector: str
    category: str
    vendor: str
    operation: Operation[Any, Any]
    clock: Clock


#: Registered under ``register_middleware``: builds the step for one connector and operation,
#: or returns None to stay out of that pipeline.
MiddlewareFactory: TypeAlias = Callable[[StepSettings], Middleware | None]


class TransformMiddleware:
    """Base for middleware that changes requests or results without caring about sync/async.

    Override `before` (return the request to send on), `after` (return the result to hand
    back) and/or `on_error` (observe or translate an error; re-raise by returning nothing).

    >>> class Tag(TransformMiddleware):
    ...     def before(self, request, ctx):
    ...         ctx.extras["tagged"] = True
    ...         return request
    """

    def before(self, request: Any, ctx: CallContext) -> Any:
        return request

    def after(self, result: Any, ctx: CallContext) -> Any:
        return result

    def on_error(self, error: Exception, ctx: CallContext) -> Exception | None:
        """Return a different exception to raise instead, or None to re-raise `error`."""
        return None

    def wrap(self, handler: Handler[Req, Res]) -> Handler[Req, Res]:
        def transform(request: Req, ctx: CallContext) -> Res:
            try:
                result = handler(self.before(request, ctx), ctx)
            except Exception as error:
                replacement = self.on_error(error, ctx)
                if replacement is None:
                    raise
                raise replacement from error
            answer: Res = self.after(result, ctx)
            return answer

        return transform

    def wrap_async(self, handler: AsyncHandler[Req, Res]) -> AsyncHandler[Req, Res]:
        async def transform(request: Req, ctx: CallContext) -> Res:
            try:
                result = await handler(self.before(request, ctx), ctx)
            except Exception as error:
                replacement = self.on_error(error, ctx)
                if replacement is None:
                    raise
                raise replacement from error
            answer: Res = self.after(result, ctx)
            return answer

        return transform
