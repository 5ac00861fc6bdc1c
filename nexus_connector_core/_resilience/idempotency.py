"""Idempotency: one vendor call per idempotency key, however often and however concurrently
the same request arrives.

The first caller claims the key in the state backend (an in-flight marker that expires if
its holder dies), calls the vendor and stores the outcome; a repeat with the same request
gets the stored outcome without a vendor call, a repeat with a different request gets
`IdempotencyConflictError`, and a concurrent duplicate waits for the first call's outcome.
Definite vendor answers (a declined card, a rejected request) are stored and replayed like
results, as Stripe does. A failure that may succeed later releases the key, unless the
vendor may have acted on the request and cannot recognise a repeat itself (it takes no
idempotency keys, like SMTP): that call ended in doubt, and the doubt is what a repeat with
the same key gets, never a second send.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from .._context import CallContext
from .._errors import (
    ConnectorError,
    IdempotencyConflictError,
    StateBackendUnavailableError,
    VendorError,
    VendorUnavailableError,
)
from .._operations import Operation
from .._state import AsyncStateBackend, IdempotencyClaim, StateBackend
from .config import IdempotencyConfig
from .errors import ERROR_CLASSES

if TYPE_CHECKING:
    from .._runtime import Tally

__all__ = ["IdempotencyGuard", "fingerprint"]

_log = logging.getLogger("nexus_connector.resilience")

#: How much longer than the call's deadline an in-flight marker lives: the holder still
#: stores its outcome after the deadline error (a round trip, a slow backend).
CLAIM_MARGIN = 5.0

Handler = Callable[[Any, CallContext], Any]
AsyncHandler = Callable[[Any, CallContext], Awaitable[Any]]


def _opaque(obj: Any) -> Any:
    # Streams (files, generators) cannot be hashed without consuming them: they count by
    # type, so a keyed put of a stream is identified by its key and metadata.
    return f"<{type(obj).__module__}.{type(obj).__qualname__}>"


_FINGERPRINT = msgspec.msgpack.Encoder(enc_hook=_opaque, order="deterministic")
_ENCODER = msgspec.msgpack.Encoder()


def fingerprint(request: Any) -> bytes:
    """A digest of the request: equal requests, equal digests (dict order does not matter)."""
    return hashlib.sha256(_FINGERPRINT.encode(request)).digest()


_NONE = msgspec.msgpack.encode(None)


class _Outcome(msgspec.Struct, array_like=True):
    result: msgspec.Raw = msgspec.Raw(_NONE)
    error: str | None = None
    message: str = ""
    code: str | None = None
    status_code: int | None = None
    maybe_processed: bool = False


class IdempotencyGuard:
    """The idempotency step of one operation of one connector."""

    def __init__(
        self,
        *,
        connector: str,
        operation: Operation[Any, Any],
        config: IdempotencyConfig,
        deadline: float | None,
        honouring_keys: frozenset[str] = frozenset(),
        fail_open: bool = True,
        unguarded: Tally | None = None,
    ) -> None:
        self.connector = connector
        self.honouring_keys = honouring_keys  # vendors that deduplicate keyed requests
        self.fail_open = fail_open
        self._tally = unguarded
        self.operation = operation
        self.config = config
        self.deadline = deadline
        self.max_wait = deadline if deadline is not None else config.claim_ttl
        self._decoder = msgspec.msgpack.Decoder(operation.result_type)
        self._paths = [path.split(".") for path in config.derive_from]

    # -- decisions ---------------------------------------------------------------------------

    def key(self, request: Any, ctx: CallContext) -> str | None:
        """The store key of this call, or None when it carries no idempotency key."""
        key = ctx.idempotency_key
        if key is None and self._paths:
            key = self._derive(request)
            ctx.idempotency_key = key
        if key is None:
            return None
        return f"idem:{self.connector}:{self.operation.name}:{key}"

    def _derive(self, request: Any) -> str | None:
        parts = []
        for path in self._paths:
            value = request
            for name in path:
                value = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
            if value is None:
                return None
            parts.append(str(value))
        return "derived:" + ":".join(parts)

    def replay(self, claim: IdempotencyClaim) -> Any:
        """The stored outcome: the result, or the stored error raised again."""
        assert claim.outcome is not None
        outcome = msgspec.msgpack.decode(claim.outcome, type=_Outcome)
        if outcome.error is None:
            return self._decoder.decode(outcome.result)
        cls = ERROR_CLASSES.get(outcome.error, VendorError)
        if issubclass(cls, VendorError):
            raise cls(outcome.message, code=outcome.code, status_code=outcome.status_code)
        if issubclass(cls, VendorUnavailableError):
            raise cls(
                outcome.message,
                status_code=outcome.status_code,
                maybe_processed=outcome.maybe_processed,
                retryable=False,
            )
        raise cls(outcome.message, maybe_processed=outcome.maybe_processed)

    def conflict(self, key: str, claim: IdempotencyClaim) -> IdempotencyConflictError:
        shown = key.split(":", 3)[-1]
        if claim.status == "conflict":
            message = (
                f"idempotency key {shown!r} was already used with a different request; "
                "use a new key for a new request"
            )
        else:
            message = f"a call with idempotency key {shown!r} is still in flight"
        return IdempotencyConflictError(message, key=shown)

    @staticmethod
    def stored(result: Any) -> bytes:
        return _ENCODER.encode(_Outcome(result=msgspec.Raw(_ENCODER.encode(result))))

    def stored_error(self, error: BaseException, ctx: CallContext) -> bytes | None:
        """The outcome to keep for `error`, or None when the key should be released."""
        if isinstance(error, VendorError) and not error.retryable:
            return _ENCODER.encode(
                _Outcome(
                    error=type(error).__name__,
                    message=error.message,
                    code=error.code,
                    status_code=error.status_code,
                )
            )
        if (
            isinstance(error, ConnectorError)
            and error.maybe_processed
            and not self.operation.idempotent
            and ctx.vendor not in self.honouring_keys
        ):
            # A repeat would reach a vendor that cannot tell it is one: keep the doubt.
            message = (
                f"the first call with this idempotency key ended in doubt ({error.message}); "
                f"vendor {ctx.vendor!r} may have acted on it and does not deduplicate, so "
                "it is not sent again: check with the vendor, then use a new key"
            )
            return _ENCODER.encode(
                _Outcome(
                    error=type(error).__name__,
                    message=message,
                    status_code=getattr(error, "status_code", None),
                    maybe_processed=True,
                )
            )
        return None

    def unguarded(self, error: StateBackendUnavailableError, key: str) -> None:
        """The store is down before the call: go on unprotected (fail open) or refuse."""
        if not self.fail_open:
            raise error
        if self._tally is not None:
            self._tally.add()
        _log.warning(
            "state backend unavailable: calling %s.%s with idempotency key %r without "
            "protection against duplicates: %s",
            self.connector,
            self.operation.name,
            key.split(":", 3)[-1],
            error,
        )

    def unsaved(self, error: StateBackendUnavailableError, key: str) -> None:
        """The store went down after the vendor answered: the answer stands, the key is lost."""
        _log.error(
            "state backend unavailable: the outcome of %s.%s for idempotency key %r was not "
            "stored; a retry with this key will call the vendor again: %s",
            self.connector,
            self.operation.name,
            key.split(":", 3)[-1],
            error,
        )

    def claim_ttl(self, ctx: CallContext) -> float:
        """How long the in-flight marker lives: `claim_ttl`, stretched to outlive the call
        (its deadline), so a slow but live holder's marker never expires under it and lets
        a waiting duplicate call the vendor a second time. Without a deadline, `claim_ttl`
        must exceed the longest call."""
        if ctx.deadline is not None:
            left = ctx.deadline - ctx.clock.monotonic()
        elif self.deadline is not None:
            left = self.deadline
        else:
            return self.config.claim_ttl
        return max(self.config.claim_ttl, left + CLAIM_MARGIN)

    def _poll(self, attempt: int) -> float:
        return 0.25 if attempt >= 5 else 0.01 * 2**attempt  # 10 ms doubling to 250 ms

    # -- the steps ---------------------------------------------------------------------------

    def wrap(self, handler: Handler, backend: StateBackend) -> Handler:
        config = self.config
        derives = bool(self._paths)

        def idempotent(request: Any, ctx: CallContext) -> Any:
            if ctx.idempotency_key is None and not derives:
                return handler(request, ctx)  # the common case: no key, nothing to guard
            key = self.key(request, ctx)
            if key is None:
                return handler(request, ctx)
            digest = fingerprint(request)
            clock = ctx.clock
            give_up = clock.monotonic() + self.max_wait
            polls = 0
            while True:
                try:
                    claim = backend.idempotency_begin(key, digest, ttl=self.claim_ttl(ctx))
                except StateBackendUnavailableError as exc:
                    self.unguarded(exc, key)
                    return handler(request, ctx)
                if claim.status == "acquired":
                    break
                if claim.status == "done":
                    ctx.extras["idempotent_replay"] = True
                    return self.replay(claim)
                if claim.status == "conflict" or not config.wait:
                    raise self.conflict(key, claim)
                if clock.monotonic() >= give_up:
                    raise self.conflict(key, claim)
                clock.sleep(self._poll(polls))
                polls += 1
            owner = claim.owner
            assert owner is not None
            try:
                result = handler(request, ctx)
            except BaseException as error:
                outcome = self.stored_error(error, ctx)
                try:
                    if outcome is None:
                        backend.idempotency_release(key, owner)
                    else:
                        backend.idempotency_complete(key, owner, digest, outcome, ttl=config.ttl)
                except StateBackendUnavailableError as exc:
                    self.unsaved(exc, key)
                raise
            try:
                backend.idempotency_complete(
                    key, owner, digest, self.stored(result), ttl=config.ttl
                )
            except StateBackendUnavailableError as exc:
                self.unsaved(exc, key)
            return result

        return idempotent

    def wrap_async(self, handler: AsyncHandler, backend: AsyncStateBackend) -> AsyncHandler:
        config = self.config

        derives = bool(self._paths)

        def idempotent(request: Any, ctx: CallContext) -> Awaitable[Any]:
            # Not a coroutine itself: a call without a key awaits the next step directly.
            if ctx.idempotency_key is None and not derives:
                return handler(request, ctx)
            key = self.key(request, ctx)
            if key is None:
                return handler(request, ctx)
            return keyed(request, ctx, key)

        async def keyed(request: Any, ctx: CallContext, key: str) -> Any:
            digest = fingerprint(request)
            clock = ctx.clock
            give_up = clock.monotonic() + self.max_wait
            polls = 0
            while True:
                try:
                    claim = await backend.idempotency_begin(key, digest, ttl=self.claim_ttl(ctx))
                except StateBackendUnavailableError as exc:
                    self.unguarded(exc, key)
                    return await handler(request, ctx)
                if claim.status == "acquired":
                    break
                if claim.status == "done":
                    ctx.extras["idempotent_replay"] = True
                    return self.replay(claim)
                if claim.status == "conflict" or not config.wait:
                    raise self.conflict(key, claim)
                if clock.monotonic() >= give_up:
                    raise self.conflict(key, claim)
                await clock.asleep(self._poll(polls))
                polls += 1
            owner = claim.owner
            assert owner is not None
            try:
                result = await handler(request, ctx)
            except BaseException as error:
                outcome = self.stored_error(error, ctx)
                try:
                    if outcome is None:
                        await backend.idempotency_release(key, owner)
                    else:
                        await backend.idempotency_complete(
                            key, owner, digest, outcome, ttl=config.ttl
                        )
                except StateBackendUnavailableError as exc:
                    self.unsaved(exc, key)
                raise
            try:
                await backend.idempotency_complete(
                    key, owner, digest, self.stored(result), ttl=config.ttl
                )
            except StateBackendUnavailableError as exc:
                self.unsaved(exc, key)
            return result

        return idempotent
