"""Idempotency: one vendor call per idempotency key, however often and however concurrently
the same request arrives.

The first caller claims the key in the state backend (an in-flight marker that expires if
its holder dies), calls the vendor and stores the outcome; a repeat with the same request
gets the stored outcome without a vendor call, a repeat with a different request gets
`IdempotencyConflictError`, and a concurrent duplicate waits for the first call's outcome.
Definite vendor answers (a declined card, a rejected request) are stored and replayed like
results, as Stripe does. A failure that may succeed later releases the key, unless the
vendor may have acted on the request: that call ended in doubt. At a vendor that cannot
recognise a repeat itself (it takes no idempotency keys, like SMTP), the doubt is what a
repeat with the same key gets, never a second send. At a vendor that honours keys (Stripe),
a repeat resumes the call at that vendor only, with the same key, so the vendor's own answer
settles the doubt; it never goes to a fallback vendor, which could act a second time.

"Ended in doubt" covers every way a call can end after its request may have left: a
timeout or reset after sending, a cancelled task, a KeyboardInterrupt, an exception the
adapter did not map, and a result that cannot be stored for replay.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from .._context import CallContext
from .._errors import (
    ConnectorError,
    IdempotencyConflictError,
    InvalidIdempotencyKeyError,
    PaymentDeclinedError,
    StateBackendUnavailableError,
    VendorError,
    VendorUnavailableError,
)
from .._logging import library_logger
from .._operations import Operation
from .._state import IdempotencyClaim
from .config import IdempotencyConfig
from .errors import ERROR_CLASSES
from .outage import StateOutage

__all__ = ["MAX_KEY_LENGTH", "IdempotencyGuard", "Replay", "check_key", "fingerprint"]

_log = library_logger("nexus_connector.resilience")

#: How much longer than the call's deadline an in-flight marker lives: the holder still
#: stores its outcome after the deadline error (a round trip, a slow backend).
CLAIM_MARGIN = 5.0


def _opaque(obj: Any) -> Any:
    # Streams (files, generators) cannot be hashed without consuming them: they count by
    # type, so a keyed put of a stream is identified by its key and metadata.
    return f"<{type(obj).__module__}.{type(obj).__qualname__}>"


_FINGERPRINT = msgspec.msgpack.Encoder(enc_hook=_opaque, order="deterministic")
_ENCODER = msgspec.msgpack.Encoder()


def fingerprint(request: Any) -> bytes:
    """A digest of the request: equal requests, equal digests (dict order does not matter).

    A request holding a value that cannot be encoded (an integer beyond 64 bits, an object
    of an unknown type inside a dict) is refused before any vendor is called.
    """
    try:
        return hashlib.sha256(_FINGERPRINT.encode(request)).digest()
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
        raise ConnectorError(
            f"the {type(request).__name__} cannot be identified for idempotency or caching "
            f"({type(exc).__name__}: {exc}); give its fields values of their declared types"
        ) from None


#: The longest idempotency key taken (Stripe's limit).
MAX_KEY_LENGTH = 255


def check_key(key: object) -> str:
    """`key` when it can identify a call, else `InvalidIdempotencyKeyError`.

    An empty or blank key would make every caller that sends one share one outcome (the
    second customer handed the first one's payment); a key with control characters cannot
    travel in an HTTP header; a key longer than `MAX_KEY_LENGTH` is refused by vendors.
    """
    if not isinstance(key, str):
        raise InvalidIdempotencyKeyError(
            f"an idempotency key must be a str, got {type(key).__name__}"
        )
    if not key.strip():
        raise InvalidIdempotencyKeyError(
            "an idempotency key must not be empty or blank: it would make every call that "
            "carries it share one outcome; use a unique value per operation, such as an "
            "order id or a UUID"
        )
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKeyError(
            f"an idempotency key may have at most {MAX_KEY_LENGTH} characters, got {len(key)}"
        )
    if not key.isprintable():
        raise InvalidIdempotencyKeyError(
            "an idempotency key must not contain control or other non-printable characters"
        )
    return key


_NONE = msgspec.msgpack.encode(None)


class _Outcome(msgspec.Struct, array_like=True):
    result: msgspec.Raw = msgspec.Raw(_NONE)
    error: str | None = None
    message: str = ""
    code: str | None = None
    status_code: int | None = None
    maybe_processed: bool = False
    #: In doubt: the vendor that may have acted on the request.
    vendor: str | None = None
    #: In doubt at a vendor that honours keys: the claim's owner, which a repeat takes to
    #: resume the call at that vendor and store its answer in place of the doubt.
    resume_as: str | None = None
    #: A stored decline: the card issuer's reason (`PaymentDeclinedError.decline_code`).
    decline_code: str | None = None


class IdempotencyGuard:
    """The idempotency step of one operation of one connector."""

    def __init__(
        self,
        *,
        connector: str,
        operation: Operation[Any, Any],
        config: IdempotencyConfig,
        deadline: float | None,
        vendors: tuple[str, ...] = (),
        honouring_keys: frozenset[str] = frozenset(),
        outage: StateOutage,
    ) -> None:
        self.connector = connector
        self.vendors = vendors  # the connector's chain, to resume a call in doubt
        self.honouring_keys = honouring_keys  # vendors that deduplicate keyed requests
        self.outage = outage
        self.operation = operation
        self.config = config
        self.deadline = deadline
        self.max_wait = deadline if deadline is not None else config.claim_ttl
        self._decoder = msgspec.msgpack.Decoder(operation.result_type)
        self._paths = [path.split(".") for path in config.derive_from]
        #: Whether keys are made from request fields when the caller gives none.
        self.derives = bool(self._paths)

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
            # A missing or blank field derives no key: calls lacking it must not share one.
            if value is None or not str(value).strip():
                return None
            parts.append(str(value))
        key = "derived:" + ":".join(parts)
        return key if len(key) <= MAX_KEY_LENGTH and key.isprintable() else None

    @staticmethod
    def outcome(claim: IdempotencyClaim) -> _Outcome:
        assert claim.outcome is not None
        return msgspec.msgpack.decode(claim.outcome, type=_Outcome)

    def resumable(self, outcome: _Outcome) -> bool:
        """Whether a call in doubt may be resumed: at a vendor of this connector that
        honours keys, the only one that can tell a repeat from a new request."""
        return (
            outcome.resume_as is not None
            and outcome.vendor in self.vendors
            and outcome.vendor in self.honouring_keys
        )

    def replay(self, outcome: _Outcome) -> Any:
        """The stored outcome: the result, or the stored error raised again."""
        if outcome.error is None:
            return self._decoder.decode(outcome.result)
        cls = ERROR_CLASSES.get(outcome.error, VendorError)
        if issubclass(cls, PaymentDeclinedError):
            raise cls(
                outcome.message,
                code=outcome.code,
                decline_code=outcome.decline_code,
                status_code=outcome.status_code,
                maybe_processed=outcome.maybe_processed,
            )
        if issubclass(cls, VendorError):
            raise cls(
                outcome.message,
                code=outcome.code,
                status_code=outcome.status_code,
                maybe_processed=outcome.maybe_processed,
            )
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

    def stored(self, result: Any, ctx: CallContext, owner: str) -> bytes:
        """The outcome to keep for `result`: the result itself, or, when it cannot be
        encoded for replay, the doubt (the vendor acted; a repeat must not act again)."""
        try:
            return _ENCODER.encode(_Outcome(result=msgspec.Raw(_ENCODER.encode(result))))
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
            _log.error(
                "the result of %s.%s could not be stored for replay (%s); a repeat with its "
                "idempotency key gets an error instead of a second vendor call",
                self.connector,
                self.operation.name,
                type(exc).__name__,
            )
            return self._doubt(
                ctx,
                owner,
                f"the first call with this idempotency key succeeded at vendor {ctx.vendor!r}, "
                f"but its result could not be stored for replay ({type(exc).__name__}); it is "
                "not sent again: look the result up at the vendor, or use a new key",
                error=None,
                resumable=False,
            )

    def stored_error(self, error: BaseException, ctx: CallContext, owner: str) -> bytes | None:
        """The outcome to keep for `error`, or None when the key should be released.

        A definite answer (a decline, a rejected request) is kept and replayed. A call that
        may have reached a vendor (``ctx.reached``: a timeout or reset after sending, a
        cancellation or interruption mid-attempt, an exception the adapter did not map)
        ended in doubt: the doubt is kept, so that a repeat never makes the vendor act
        twice. Anything else (nothing was sent) releases the key for a retry.
        """
        if isinstance(error, VendorError) and not error.retryable:
            return _ENCODER.encode(
                _Outcome(
                    error=type(error).__name__,
                    message=error.message,
                    code=error.code,
                    status_code=error.status_code,
                    maybe_processed=error.maybe_processed,
                    decline_code=(
                        error.decline_code if isinstance(error, PaymentDeclinedError) else None
                    ),
                )
            )
        maybe = ctx.reached or (isinstance(error, ConnectorError) and error.maybe_processed)
        if not maybe or self.operation.idempotent:
            return None
        what = error.message if isinstance(error, ConnectorError) else type(error).__name__
        if ctx.vendor in self.honouring_keys:
            message = (
                f"the first call with this idempotency key ended in doubt ({what}) at vendor "
                f"{ctx.vendor!r}, which honours keys: a repeat asks it again with the same key"
            )
            return self._doubt(ctx, owner, message, error=error, resumable=True)
        message = (
            f"the first call with this idempotency key ended in doubt ({what}); vendor "
            f"{ctx.vendor!r} may have acted on it and does not deduplicate, so it is not sent "
            "again: check with the vendor, then use a new key"
        )
        return self._doubt(ctx, owner, message, error=error, resumable=False)

    def _doubt(
        self,
        ctx: CallContext,
        owner: str,
        message: str,
        *,
        error: BaseException | None,
        resumable: bool,
    ) -> bytes:
        kind = "VendorUnavailableError"
        if isinstance(error, VendorUnavailableError):
            kind = type(error).__name__  # a timeout stays a timeout (TimeoutError) on replay
        return _ENCODER.encode(
            _Outcome(
                error=kind,
                message=message,
                status_code=getattr(error, "status_code", None),
                maybe_processed=True,
                vendor=ctx.vendor,
                resume_as=owner if resumable else None,
            )
        )

    def unguarded(self, error: StateBackendUnavailableError, key: str) -> None:
        """The store is down before the call: go on unprotected (fail open) or refuse."""
        self.outage.let_through(
            error,
            f"calling {self.connector}.{self.operation.name} with idempotency key "
            f"{key.split(':', 3)[-1]!r} without protection against duplicates",
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

    def poll(self, attempt: int) -> float:
        """Seconds a duplicate waits before asking again after `attempt` polls."""
        return 0.25 if attempt >= 5 else 0.01 * 2**attempt  # 10 ms doubling to 250 ms

    def begin(self, claim: IdempotencyClaim, key: str, ctx: CallContext) -> str | Replay | None:
        """What a claim means for the call: the owner to call the vendor as; a stored
        result to hand back (`Replay`); or None to ask again later (in flight). A stored
        error or a conflict is raised."""
        if claim.status == "acquired":
            assert claim.owner is not None
            return claim.owner
        if claim.status == "done":
            outcome = self.outcome(claim)
            if self.resumable(outcome):
                assert outcome.resume_as is not None
                assert outcome.vendor is not None
                ctx.extras["pinned_vendor"] = outcome.vendor
                ctx.extras["resumed"] = True
                return outcome.resume_as
            ctx.extras["idempotent_replay"] = True
            return Replay(self.replay(outcome))
        if claim.status == "conflict" or not self.config.wait:
            raise self.conflict(key, claim)
        return None


class Replay:
    """A stored result, handed back instead of calling the vendor."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result
