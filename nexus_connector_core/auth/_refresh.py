"""One token refresh for every caller and worker: the decisions, without I/O.

`Refresher.acquire` is a generator that *describes* the I/O it needs as effects (`Read`,
`Lock`, `Store`, `Unlock`, `Fetch`, `Wait`) and receives each one's outcome (or has its
error thrown in). The sync and async OAuth2 flows each run it with their own I/O, so the
logic exists once. In short:

1. read the record from the state backend; a fresh token (not the `stale` one a 401 just
   refused, and not within `margin` of its expiry) is used as it is;
2. a record in its cool-down after a failed refresh raises the remembered error at once
   (or keeps using the old token while it is still valid);
3. otherwise take the backend's refresh lock: the owner re-reads (the previous owner may
   have just stored a token), fetches, and stores the new record, which releases the lock;
   everyone else waits a little, re-reads, and tries the lock again (it expires if its
   owner died).

A failed refresh is stored in the same record, by the lock owner and together with the lock
release, so every worker sees the cool-down at once (1 s, 2 s, 4 s ... up to 60 s by
default) and nobody hammers the token endpoint while it refuses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from .._clock import Clock
from .._errors import ConnectorError, CredentialRefreshError
from .._logging import library_logger
from .._state import StoredToken
from ._oauth2_settings import TOKEN_OPERATION
from ._token_endpoint import Token, TokenRequest

__all__ = [
    "Effect",
    "Fetch",
    "Lock",
    "READ",
    "Read",
    "Refresher",
    "Store",
    "TokenRecord",
    "Unlock",
    "Wait",
    "token_lifetime",
]

_log = library_logger("nexus_connector.auth")

#: Lifetime assumed when the endpoint gives no ``expires_in`` (RFC 6749 makes it optional).
DEFAULT_LIFETIME = 3600.0
#: The longest lifetime a token is trusted for, whatever the endpoint says (``inf``, 10^300):
#: it is refreshed at least daily.
MAX_LIFETIME = 86_400.0
_FIRST_POLL = 0.005
_MAX_POLL = 0.1


def token_lifetime(expires_in: float | None) -> float:
    """Seconds a new token is used for: the endpoint's ``expires_in``, clamped.

    Missing or ``nan``: `DEFAULT_LIFETIME`; negative: 0 (expired, so the next call refreshes
    it); above `MAX_LIFETIME` (``inf`` included): `MAX_LIFETIME`.

    >>> [token_lifetime(v) for v in (None, float("nan"), -5.0, 90.0, float("inf"))]
    [3600.0, 3600.0, 0.0, 90.0, 86400.0]
    """
    if expires_in is None or math.isnan(expires_in):
        return DEFAULT_LIFETIME
    return min(max(float(expires_in), 0.0), MAX_LIFETIME)


class TokenRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the state backend keeps per token: the token, and the last failure if any.

    Times are Unix times on the clock of the auth's user. repr masks the tokens.
    """

    access_token: str = ""
    #: When the token stops working.
    expires_at: float = 0.0
    #: When to replace it: `margin` seconds before `expires_at`.
    refresh_at: float = 0.0
    #: The latest refresh token (an endpoint that rotates them sends a new one each time).
    refresh_token: str = ""
    #: Failed refreshes in a row, and when the next attempt is allowed.
    failures: int = 0
    retry_at: float = 0.0
    #: The last failure: our message (naming the endpoint and error code) and the
    #: vendor's reason; `transient` when the endpoint was unavailable, not refusing.
    error: str = ""
    reason: str = ""
    transient: bool = False

    def decide(self, now: float, stale: str | None) -> Literal["use", "fail", "refresh"]:
        """What to do with this record at `now`, if `stale` was just refused."""
        usable = bool(self.access_token) and self.access_token != stale
        if usable and now < self.refresh_at:
            return "use"
        if self.failures and now < self.retry_at:
            # Cooling down: keep a token that still works, else repeat the failure.
            return "use" if usable and now < self.expires_at else "fail"
        return "refresh"

    def renewed(self, token: Token, now: float, margin: float) -> TokenRecord:
        """The record after `token` arrived at `now`; a new refresh token replaces the old."""
        lifetime = token_lifetime(token.expires_in)
        expires_at = now + lifetime
        return TokenRecord(
            access_token=token.access_token,
            expires_at=expires_at,
            # A token shorter-lived than twice the margin is refreshed halfway instead.
            refresh_at=expires_at - min(margin, lifetime / 2),
            refresh_token=token.refresh_token or self.refresh_token,
        )

    def failed(
        self, error: ConnectorError, now: float, cooldown: tuple[float, float]
    ) -> TokenRecord:
        """The record after a failed refresh: the old token kept, the cool-down started.

        The endpoint's refusal keeps its reason; any other failure (unavailable, timed out,
        breaker open) is `transient` and its message is the reason.
        """
        failures = self.failures + 1
        first, longest = cooldown
        if isinstance(error, CredentialRefreshError):
            reason, transient = error.reason, False
        else:
            reason, transient = error.message, True
        return msgspec.structs.replace(
            self,
            failures=failures,
            retry_at=now + min(first * 2 ** (failures - 1), longest),
            error=error.message,
            reason=reason or "",
            transient=transient,
        )

    def stored(self) -> StoredToken:
        """The record as the backend keeps it."""
        return StoredToken(
            value=msgspec.msgpack.encode(self), expires_at=max(self.expires_at, self.retry_at)
        )

    def __repr__(self) -> str:
        return (
            f"TokenRecord(expires_at={self.expires_at}, refresh_at={self.refresh_at}, "
            f"failures={self.failures}, retry_at={self.retry_at})"
        )


_EMPTY = TokenRecord()


def _decode(stored: StoredToken | None) -> TokenRecord:
    if stored is None:
        return _EMPTY
    try:
        return msgspec.msgpack.decode(stored.value, type=TokenRecord)
    except msgspec.DecodeError:  # a foreign or older value: fetch a new token over it
        return _EMPTY


# -- effects: the I/O a flow asks its driver for -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Read:
    """``state.token_get(key)`` -> `StoredToken` | None."""


READ = Read()


@dataclass(frozen=True, slots=True)
class Lock:
    """``state.token_lock(key, ttl=ttl)`` -> the owner id, or None when held."""

    ttl: float


@dataclass(frozen=True, slots=True)
class Store:
    """``state.token_set(key, owner, token)``: store and release the lock."""

    owner: str
    token: StoredToken = field(repr=False)


@dataclass(frozen=True, slots=True)
class Unlock:
    """``state.token_unlock(key, owner)``."""

    owner: str


@dataclass(frozen=True, slots=True)
class Fetch:
    """Send `request` to the token endpoint through the resilience pipeline -> `Token`."""

    request: TokenRequest


@dataclass(frozen=True, slots=True)
class Wait:
    """Sleep `seconds` on the clock, while another caller refreshes."""

    seconds: float


Effect = Read | Lock | Store | Unlock | Fetch | Wait
Flow = Generator[Effect, Any, TokenRecord]


class Refresher:
    """The refresh decisions for one cached token.

    Args:
        grant: the token request to send, given the current record (for its refresh token).
        clock: the clock whose `time()` dates tokens and cool-downs.
        margin: refresh this many seconds before expiry.
        lock_ttl: how long the refresh lock lasts if its owner dies.
        cooldown: (first, longest) seconds to wait after a failed refresh; it doubles
            with each failure in a row.
        connector, vendor: the names errors carry.
    """

    def __init__(
        self,
        grant: Callable[[TokenRecord], TokenRequest],
        *,
        clock: Clock,
        margin: float,
        lock_ttl: float,
        cooldown: tuple[float, float],
        connector: str,
        vendor: str,
    ) -> None:
        if margin < 0 or lock_ttl <= 0:
            raise ValueError("margin must be >= 0 and lock_ttl > 0")
        if not 0 < cooldown[0] <= cooldown[1]:
            raise ValueError("cooldown must be (first, longest) with 0 < first <= longest")
        self._grant = grant
        self._clock = clock
        self.margin = margin
        self.lock_ttl = lock_ttl
        self.cooldown = cooldown
        self._connector = connector
        self._vendor = vendor

    def error(self, record: TokenRecord) -> CredentialRefreshError:
        """The error a failed record stands for, the same for every caller."""
        wait = max(record.retry_at - self._clock.time(), 0.0)
        return self._error(
            f"{record.error} (no new attempt for {wait:.1f} s)",
            reason=record.reason or None,
            retryable=record.transient,
        )

    def _error(
        self, message: str, *, reason: str | None, retryable: bool
    ) -> CredentialRefreshError:
        return CredentialRefreshError(
            message,
            reason=reason,
            retryable=retryable,
            connector=self._connector,
            vendor=self._vendor,
            operation=TOKEN_OPERATION,
        )

    def acquire(self, stale: str | None = None) -> Flow:
        """A usable token record; `stale` is a token the API just refused, never reused."""
        waited = 0.0
        step = _FIRST_POLL
        while True:
            record = _decode((yield READ))
            verdict = record.decide(self._clock.time(), stale)
            if verdict == "use":
                return record
            if verdict == "fail":
                raise self.error(record)
            owner = yield Lock(self.lock_ttl)
            if owner is not None:
                return (yield from self._refresh(owner, stale))
            if waited >= 2 * self.lock_ttl:
                raise self._error(
                    f"waited {waited:.1f} s for another worker's token refresh, which neither "
                    "finished nor let its lock expire",
                    reason="refresh lock held too long",
                    retryable=True,
                )
            yield Wait(step)
            waited += step
            step = min(step * 2, _MAX_POLL)

    def _refresh(self, owner: str, stale: str | None) -> Flow:
        """Holding the lock: re-read (the previous owner may have just stored a token), and
        fetch only if still needed. Every way out releases the lock."""
        failure: ConnectorError | None = None
        try:
            record = _decode((yield READ))
            verdict = record.decide(self._clock.time(), stale)
            if verdict == "refresh":
                try:
                    token = yield Fetch(self._grant(record))
                except ConnectorError as exc:
                    failure = exc
        except GeneratorExit:
            raise  # the flow is being discarded: it may not yield; the lock's TTL frees it
        except BaseException:
            yield Unlock(owner)
            raise
        if verdict != "refresh":
            yield Unlock(owner)
            if verdict == "fail":
                raise self.error(record)
            return record
        if failure is not None:
            return (yield from self._failed(owner, record, failure, stale))
        now = self._clock.time()
        fresh = record.renewed(token, now, self.margin)
        yield Store(owner, fresh.stored())
        _log.info("OAuth2 token refreshed; it expires in %.0f s", fresh.expires_at - now)
        return fresh

    def _failed(
        self, owner: str, record: TokenRecord, exc: ConnectorError, stale: str | None
    ) -> Flow:
        now = self._clock.time()
        failed = record.failed(exc, now, self.cooldown)
        yield Store(owner, failed.stored())
        _log.warning("OAuth2 token refresh failed (%s); cooling down", failed.error)
        if failed.decide(now, stale) == "use":
            return failed  # the old token still works: use it until the cool-down ends
        raise self.error(failed) from exc
