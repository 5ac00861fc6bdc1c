"""gRPC through a connector's pipeline: client interceptors for grpcio channels
(``pip install nexus-connector-core[grpc]``).

    from nexus_connector_core.grpc import channel

    inventory = manager.connector("inventory")        # category "api", vendor "grpc"
    stub = InventoryStub(channel(inventory))  # or intercept_channel(ch, *interceptors(...))
    item = stub.GetItem(GetItemRequest(sku="A-1"), timeout=2.0)

Every call on the channel runs as an operation of the connector (see
`nexus_connector_core.vendors.grpc_api`): the breaker and the rate limit admit each attempt,
the retry policy repeats it when that is safe, and it is logged, traced and measured like
any call. Each attempt's gRPC deadline is the attempt's timeout, cut to what is left of the
caller's own timeout (``timeout=`` on the stub) and of the connector's deadline; the call's
trace context travels in the metadata (``traceparent``).

A failed call raises the library's error for its status code::

    UNAVAILABLE                         VendorUnavailableError     retried when idempotent
    RESOURCE_EXHAUSTED                  RateLimitExceededError     retried
    DEADLINE_EXCEEDED                   VendorTimeoutError         retried when idempotent
    UNAUTHENTICATED, PERMISSION_DENIED  AuthenticationError
    INVALID_ARGUMENT, OUT_OF_RANGE,     InvalidRequestError
      FAILED_PRECONDITION
    NOT_FOUND                           ObjectNotFoundError
    anything else                       VendorError                not retried

with the status's name as the error's ``code``. A streaming answer goes through the pipeline
until the server's first response headers arrive; the stream is then the application's
(errors while reading it are grpcio's). A streaming answer refused before them raises its
mapped error when the application first reads it (grpcio hands a streaming call's
interceptor errors to the iterator it returns). A streaming request cannot be replayed: it
is never retried after it started, even for a method declared idempotent.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio

from ._adapters import AdapterSettings
from ._context import CallContext
from ._errors import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    ObjectNotFoundError,
    RateLimitExceededError,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from .http import vendor_text
from .vendors.grpc_api import GRPC_OPERATIONS, GrpcCall, GrpcOptions

__all__ = [
    "AsyncConnectorInterceptor",
    "AsyncGrpcAdapter",
    "ConnectorInterceptor",
    "GrpcAdapter",
    "aio_channel",
    "channel",
    "interceptors",
    "rpc_error",
]

_RETRYABLE = {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}
_BY_CODE: dict[str, tuple[type[ConnectorError], bool]] = {  # class, maybe processed
    "UNAVAILABLE": (VendorUnavailableError, True),
    "RESOURCE_EXHAUSTED": (RateLimitExceededError, False),
    "DEADLINE_EXCEEDED": (VendorTimeoutError, True),
    "UNAUTHENTICATED": (AuthenticationError, False),
    "PERMISSION_DENIED": (AuthenticationError, False),
    "INVALID_ARGUMENT": (InvalidRequestError, False),
    "OUT_OF_RANGE": (InvalidRequestError, False),
    "FAILED_PRECONDITION": (InvalidRequestError, False),
    "NOT_FOUND": (ObjectNotFoundError, False),
    "UNIMPLEMENTED": (VendorError, False),
    "ALREADY_EXISTS": (VendorError, False),
}


def rpc_error(code: grpc.StatusCode, details: object, *, replayable: bool = True) -> ConnectorError:
    """The library's error for a call that ended with status `code` (see the module's
    table); `replayable` is False for a streaming request, which may have been consumed."""
    name = code.name
    cls, maybe = _BY_CODE.get(name, (VendorError, True))
    maybe = maybe or not replayable
    text = vendor_text(details) or name
    message = f"the gRPC server answered {name}: {text}"
    if cls is RateLimitExceededError:
        return RateLimitExceededError(message, maybe_processed=maybe)
    if cls is VendorTimeoutError:
        return VendorTimeoutError(message, maybe_processed=maybe)
    if cls is VendorUnavailableError:
        return VendorUnavailableError(message, maybe_processed=maybe)
    if issubclass(cls, VendorError):
        return cls(
            message,
            code=name,
            vendor_message=text,
            maybe_processed=maybe,
            retryable=name in _RETRYABLE,
        )
    return cls(message, maybe_processed=maybe)


class _Details(
    namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    """The call details of one attempt."""


def _attempt(call: GrpcCall, ctx: CallContext) -> tuple[float | None, list[tuple[str, str]]]:
    """The attempt's gRPC timeout and metadata (the trace context added)."""
    timeout = None if call.response_streaming or call.request_streaming else ctx.timeout
    if call.deadline is not None:
        left = call.deadline - ctx.clock.monotonic()
        if left <= 0:
            raise VendorTimeoutError(
                "the caller's gRPC timeout ran out before the attempt",
                maybe_processed=ctx.reached,
                deadline_exceeded=True,
            )
        timeout = left if timeout is None else min(timeout, left)
    metadata = list(call.details.metadata or ())
    if ctx.trace is not None:
        carrier: dict[str, str] = {}
        ctx.trace.inject(carrier)
        metadata.extend(carrier.items())
    return timeout, metadata


class GrpcAdapter:
    """Runs one attempt of an intercepted call (the synchronous twin)."""

    def __init__(self, settings: AdapterSettings) -> None:
        self.vendor = settings.vendor

    def invoke(self, call: GrpcCall, ctx: CallContext) -> Any:
        """One attempt: the channel's continuation, its failure mapped."""
        timeout, metadata = _attempt(call, ctx)
        d = call.details
        details = _Details(
            d.method, timeout, metadata, d.credentials, d.wait_for_ready, d.compression
        )
        outcome = call.continuation(details, call.request)
        if call.response_streaming:
            outcome.initial_metadata()  # the server answered, or the call ended
            if outcome.done() and outcome.code() != grpc.StatusCode.OK:
                raise rpc_error(
                    outcome.code(), outcome.details(), replayable=not call.request_streaming
                )
            return outcome
        try:
            outcome.result()
        except grpc.RpcError as exc:
            raise rpc_error(
                exc.code(),
                exc.details(),
                replayable=not call.request_streaming,
            ) from None
        return outcome


class AsyncGrpcAdapter:
    """Runs one attempt of an intercepted call on a `grpc.aio` channel."""

    def __init__(self, settings: AdapterSettings) -> None:
        self.vendor = settings.vendor

    async def invoke(self, call: GrpcCall, ctx: CallContext) -> Any:
        """One attempt: the channel's continuation awaited, its failure mapped."""
        timeout, metadata = _attempt(call, ctx)
        d = call.details
        details = grpc.aio.ClientCallDetails(
            d.method, timeout, grpc.aio.Metadata(*metadata), d.credentials, d.wait_for_ready
        )
        outcome = await call.continuation(details, call.request)
        try:
            if call.response_streaming:
                await outcome.initial_metadata()
                if outcome.done() and await outcome.code() != grpc.StatusCode.OK:
                    raise rpc_error(await outcome.code(), await outcome.details())
            else:
                await outcome
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc.code(), exc.details()) from None
        return outcome


class _Calls:
    """What both interceptors share: which operation a method runs as."""

    def __init__(self, connector: Any) -> None:
        if "idempotent_call" not in connector.category.operations:
            raise ConnectorError(
                f"connector {connector.name!r} (vendor {connector.vendor!r}) is not a gRPC "
                "connector; use one of vendor 'grpc'",
                connector=connector.name,
            )
        self.connector = connector
        self.options: GrpcOptions = connector.settings.options
        self._idempotent: dict[str, bool] = {}

    def idempotent(self, method: str) -> bool:
        """Whether `method` may be repeated: ``idempotent_methods``, else its proto's
        ``idempotency_level`` (IDEMPOTENT or NO_SIDE_EFFECTS) in the descriptor pool."""
        known = self._idempotent.get(method)
        if known is None:
            known = self.options.declares_idempotent(method) or _declared_in_proto(method)
            if len(self._idempotent) < 10_000:
                self._idempotent[method] = known
        return known

    def call(
        self,
        continuation: Callable[..., Any],
        details: Any,
        request: Any,
        *,
        request_streaming: bool,
        response_streaming: bool,
    ) -> tuple[str, GrpcCall]:
        method = details.method
        if isinstance(method, bytes):
            method = method.decode("ascii", "replace")
        streaming = request_streaming or response_streaming
        idempotent = self.idempotent(method) and not request_streaming
        name = ("idempotent_" if idempotent else "") + ("stream" if streaming else "call")
        assert name in GRPC_OPERATIONS
        timeout = details.timeout
        deadline = None if timeout is None else self.connector._clock.monotonic() + timeout
        return name, GrpcCall(
            method=method,
            continuation=continuation,
            details=details,
            request=request,
            deadline=deadline,
            request_streaming=request_streaming,
            response_streaming=response_streaming,
        )


def _declared_in_proto(method: str) -> bool:
    try:
        from google.protobuf import descriptor_pool
    except ImportError:
        return False
    service, _, name = method.strip("/").partition("/")
    try:
        found = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    except KeyError:
        return False
    # MethodOptions.IdempotencyLevel: 1 NO_SIDE_EFFECTS, 2 IDEMPOTENT
    return bool(found.GetOptions().idempotency_level in (1, 2))


class ConnectorInterceptor(
    _Calls,
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Runs every call of a channel through a (synchronous) connector's pipeline."""

    def _run(self, continuation: Any, details: Any, request: Any, rs: bool, ss: bool) -> Any:
        name, call = self.call(
            continuation, details, request, request_streaming=rs, response_streaming=ss
        )
        return self.connector.invoke(name, call)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return self._run(continuation, details, request, False, False)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return self._run(continuation, details, request, False, True)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return self._run(continuation, details, requests, True, False)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return self._run(continuation, details, requests, True, True)


class AsyncConnectorInterceptor(
    _Calls, grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor
):
    """Runs the unary-request calls of a `grpc.aio` channel through an asynchronous
    connector's pipeline (streaming requests pass through untouched)."""

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        name, call = self.call(
            continuation, details, request, request_streaming=False, response_streaming=False
        )
        return await self.connector.invoke(name, call)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        name, call = self.call(
            continuation, details, request, request_streaming=False, response_streaming=True
        )
        return await self.connector.invoke(name, call)


def interceptors(connector: Any) -> list[Any]:
    """The interceptors that run a channel's calls through `connector` (a ``grpc``
    connector; asynchronous ones for a connector of the `AsyncConnectorManager`, for
    ``grpc.aio.insecure_channel(target, interceptors=...)``)."""
    if connector._async:
        return [AsyncConnectorInterceptor(connector)]
    return [ConnectorInterceptor(connector)]


def _target(connector: Any, target: str | None) -> tuple[str, GrpcOptions]:
    options: GrpcOptions = connector.settings.options
    found = target or options.target
    if not found:
        raise ConnectorError(
            f"no target for connector {connector.name!r}: set options.target or pass target=",
            connector=connector.name,
        )
    return found, options


def channel(connector: Any, target: str | None = None) -> grpc.Channel:
    """A channel to `target` (default ``options.target``) whose calls run through
    `connector`'s pipeline (TLS unless ``options.tls = false``)."""
    where, options = _target(connector, target)
    base = (
        grpc.secure_channel(where, grpc.ssl_channel_credentials())
        if options.tls
        else grpc.insecure_channel(where)
    )
    return grpc.intercept_channel(base, *interceptors(connector))


def aio_channel(connector: Any, target: str | None = None) -> grpc.aio.Channel:
    """The `grpc.aio` twin of `channel`, for a connector of the `AsyncConnectorManager`."""
    where, options = _target(connector, target)
    chosen = interceptors(connector)
    if options.tls:
        return grpc.aio.secure_channel(where, grpc.ssl_channel_credentials(), interceptors=chosen)
    return grpc.aio.insecure_channel(where, interceptors=chosen)
