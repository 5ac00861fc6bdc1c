"""The Redis state backend, sync and async: the same keys, arguments and replies (`_Codec`),
only the client differs.

Every key of one guard plan carries the plan's scope as a hash tag (``{connector:vendor}``),
so on Redis Cluster the admit script touches a single slot. Every key expires once idle.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

from nexus_connector_core import (
    Admission,
    BackendSettings,
    BreakerSnapshot,
    GuardPlan,
    IdempotencyClaim,
    StateBackendUnavailableError,
    StoredToken,
)

from ._options import RedisOptions
from ._scripts import SCRIPTS, Script

__all__ = ["AsyncRedisStateBackend", "RedisStateBackend"]

# What "Redis cannot answer now" looks like from redis-py: refused, reset, timed out, loading,
# a cluster without a majority. Anything else (a script error) is a bug and propagates.
_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    OSError,
)
_TOKEN_KEEP = 86400.0  # tokens stay this long past their expiry, for the caller to inspect


def _owner() -> str:
    return os.urandom(9).hex()


def _options(settings: BackendSettings) -> RedisOptions:
    options = settings.options
    if options is None or isinstance(options, dict):
        return msgspec.convert(options or {}, RedisOptions)
    if not isinstance(options, RedisOptions):
        raise TypeError(f"expected RedisOptions, got {type(options).__name__}")
    return options


def _flag(value: bool) -> str:
    return "1" if value else "0"


class _Codec:
    """Keys, script arguments and replies; shared by the sync and async backends."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._plans: dict[int, tuple[GuardPlan, list[str], list[str], list[str]]] = {}

    # -- guard plans -------------------------------------------------------------------------

    def _plan(self, plan: GuardPlan) -> tuple[list[str], list[str], list[str]]:
        """Keys, static admit arguments and breaker policy arguments of a plan (memoised:
        plans live as long as their connector)."""
        memo = self._plans.get(id(plan))
        if memo is not None and memo[0] is plan:
            return memo[1], memo[2], memo[3]
        tag = plan.scope or plan.breaker_key or plan.limit_key or plan.budget_key or "-"
        base = f"{self.prefix}:{{{tag}}}"
        keys = [
            f"{base}:br:{plan.breaker_key}",
            f"{base}:rl:{plan.limit_key}",
            f"{base}:rb:{plan.budget_key}",
        ]
        breaker = self._breaker_args(plan)
        limit, budget = plan.limit, plan.budget
        static = [
            _flag(plan.breaker is not None),
            *breaker,
            _flag(limit is not None),
            repr(limit.interval) if limit else "0",
            str(limit.capacity) if limit else "0",
            _flag(budget is not None),
            repr(budget.ratio) if budget else "0",
            str(int(budget.window)) if budget else "0",
            repr(budget.min_per_second) if budget else "0",
        ]
        if len(self._plans) > 10_000:
            self._plans.clear()
        self._plans[id(plan)] = (plan, keys, static, breaker)
        return keys, static, breaker

    @staticmethod
    def _breaker_args(plan: GuardPlan) -> list[str]:
        p = plan.breaker
        if p is None:
            return ["count", "1", "1", "1", "1", "0", "1", "1", "1", "1", "0", "60"]
        longest = max(p.open_for_max, p.open_for, p.half_open_max_wait)
        if p.window_type == "time":
            longest = max(longest, p.window)
        return [
            p.window_type,
            str(p.window),
            str(p.min_calls),
            repr(p.failure_rate),
            repr(p.slow_call_rate),
            repr(p.slow_call_duration),
            repr(p.open_for),
            repr(p.open_for_multiplier),
            repr(p.open_for_max),
            str(p.half_open_calls),
            repr(p.half_open_max_wait),
            str(int(longest * 2 + 3600)),  # an idle breaker's key expires after this
        ]

    def admit(self, plan: GuardPlan, retry: bool, max_wait: float) -> tuple[list[str], list[str]]:
        keys, static, _ = self._plan(plan)
        return keys, [_flag(retry), repr(max_wait), *static]

    def record(
        self, plan: GuardPlan, admission: Admission, failed: bool | None, duration: float
    ) -> tuple[list[str], list[str]]:
        keys, _, breaker = self._plan(plan)
        outcome = "-1" if failed is None else _flag(failed)
        args = [
            *breaker,
            str(admission.generation),
            _flag(admission.trial),
            outcome,
            repr(duration),
        ]
        return keys[:1], args

    def breaker(self, plan: GuardPlan) -> tuple[list[str], list[str]]:
        if plan.breaker is None:
            raise ValueError("the plan has no circuit breaker")
        keys, _, breaker = self._plan(plan)
        return keys[:1], breaker

    @staticmethod
    def admission(reply: Sequence[Any]) -> Admission:
        allowed, reason, retry_after, wait, generation, trial, state, settled = reply
        return Admission(
            allowed=allowed == 1,
            reason=reason.decode() if reason else None,
            retry_after=float(retry_after),
            wait=float(wait),
            generation=int(generation),
            trial=trial == 1,
            state=state.decode(),
            settled=settled == 1,
        )

    @staticmethod
    def snapshot(reply: Sequence[Any]) -> BreakerSnapshot:
        state, calls, failures, slow, retry_after, generation = reply
        return BreakerSnapshot(
            state=state.decode(),
            calls=int(calls),
            failures=int(failures),
            slow_calls=int(slow),
            retry_after=float(retry_after),
            generation=int(generation),
        )

    # -- idempotency and tokens --------------------------------------------------------------

    def claim_key(self, key: str) -> str:
        return f"{self.prefix}:{{{key}}}:idem"

    @staticmethod
    def claim(reply: Sequence[Any]) -> IdempotencyClaim:
        status = reply[0].decode()
        if status == "acquired":
            return IdempotencyClaim(status="acquired", owner=reply[1].decode())
        if status == "done":
            return IdempotencyClaim(status="done", outcome=bytes(reply[1]))
        if status == "in_flight":
            return IdempotencyClaim(status="in_flight", retry_after=max(int(reply[1]), 0) / 1000)
        return IdempotencyClaim(status="conflict")

    def token_keys(self, key: str) -> list[str]:
        base = f"{self.prefix}:{{tok:{key}}}"
        return [f"{base}:token", f"{base}:lock"]

    @staticmethod
    def token(reply: Sequence[Any]) -> StoredToken | None:
        value, expires_at = reply
        if value is None:
            return None
        return StoredToken(value=bytes(value), expires_at=float(expires_at))


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


def _retry_none() -> redis.retry.Retry:
    # Never retry inside redis-py: one attempt within the timeout, then the pipeline's
    # fail mode decides. Retries here would multiply the time a call waits on a dead Redis.
    return redis.retry.Retry(NoBackoff(), 0)


class RedisStateBackend:
    """The synchronous Redis state backend (`StateBackend`)."""

    def __init__(self, settings: BackendSettings) -> None:
        self.options = _options(settings)
        self._codec = _Codec(settings.prefix)
        options = self.options
        common: dict[str, Any] = {
            "socket_timeout": options.timeout,
            "socket_connect_timeout": options.connect_timeout,
            "retry": _retry_none(),
        }
        self._client: Any = None
        self._connect_lock = threading.Lock()
        if options.is_cluster:
            # redis-py's cluster client connects in its constructor: made on first use, so a
            # Redis that is down when the application starts is an outage, not a crash.
            self._connect: Callable[[], Any] = lambda: redis.cluster.RedisCluster.from_url(
                options.client_url, max_connections=options.pool_size, **common
            )
        else:
            self._client = redis.Redis.from_url(
                options.client_url, max_connections=options.pool_size, **common
            )

    def _connected(self) -> Any:
        with self._connect_lock:
            if self._client is None:
                try:
                    self._client = self._connect()
                except (*_UNAVAILABLE, redis.exceptions.RedisClusterException) as exc:
                    raise self._unavailable(exc) from exc
        return self._client

    def _unavailable(self, exc: BaseException) -> StateBackendUnavailableError:
        return StateBackendUnavailableError(
            f"Redis at {self.options.safe_url} did not answer: {type(exc).__name__}",
            backend="redis",
        )

    def _eval(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        client = self._client or self._connected()
        try:
            try:
                return client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:  # a restarted or flushed server: send the source once
                return client.eval(script.source, len(keys), *keys, *args)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    def _call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        client = self._client or self._connected()
        try:
            return getattr(client, command)(*args, **kwargs)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    # -- guard -------------------------------------------------------------------------------

    def admit(self, plan: GuardPlan, *, retry: bool = False, max_wait: float = 0.0) -> Admission:
        keys, args = self._codec.admit(plan, retry, max_wait)
        return self._codec.admission(self._eval(SCRIPTS["admit"], keys, args))

    def record(
        self, plan: GuardPlan, admission: Admission, *, failed: bool | None, duration: float
    ) -> None:
        if plan.breaker is None:
            return
        keys, args = self._codec.record(plan, admission, failed, duration)
        self._eval(SCRIPTS["record"], keys, args)

    def breaker(self, plan: GuardPlan) -> BreakerSnapshot:
        keys, args = self._codec.breaker(plan)
        return self._codec.snapshot(self._eval(SCRIPTS["breaker"], keys, args))

    # -- idempotency -------------------------------------------------------------------------

    def idempotency_begin(self, key: str, fingerprint: bytes, *, ttl: float) -> IdempotencyClaim:
        keys = [self._codec.claim_key(key)]
        reply = self._eval(SCRIPTS["idem_begin"], keys, [fingerprint, _owner(), _ms(ttl)])
        return self._codec.claim(reply)

    def idempotency_complete(
        self, key: str, owner: str, fingerprint: bytes, outcome: bytes, *, ttl: float
    ) -> None:
        keys = [self._codec.claim_key(key)]
        self._eval(SCRIPTS["idem_complete"], keys, [owner, fingerprint, outcome, _ms(ttl)])

    def idempotency_release(self, key: str, owner: str) -> None:
        self._eval(SCRIPTS["idem_release"], [self._codec.claim_key(key)], [owner])

    # -- tokens ------------------------------------------------------------------------------

    def token_get(self, key: str) -> StoredToken | None:
        token_key, _ = self._codec.token_keys(key)
        return self._codec.token(self._call("hmget", token_key, ["v", "e"]))

    def token_lock(self, key: str, *, ttl: float) -> str | None:
        _, lock = self._codec.token_keys(key)
        owner = _owner()
        return owner if self._call("set", lock, owner, nx=True, px=_ms(ttl)) else None

    def token_set(self, key: str, owner: str, token: StoredToken) -> None:
        keep = _ms(max(token.expires_at - self._server_time(), 0.0) + _TOKEN_KEEP)
        args = [owner, token.value, repr(token.expires_at), keep]
        self._eval(SCRIPTS["token_set"], self._codec.token_keys(key), args)

    def token_unlock(self, key: str, owner: str) -> None:
        _, lock = self._codec.token_keys(key)
        self._eval(SCRIPTS["token_unlock"], [lock], [owner])

    def _server_time(self) -> float:
        reply = self._call("time")
        if isinstance(reply, dict):  # a cluster answers per node
            reply = next(iter(reply.values()))
        seconds, micros = reply
        return float(seconds) + float(micros) / 1_000_000

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __repr__(self) -> str:
        kind = "cluster" if self.options.is_cluster else "server"
        return f"RedisStateBackend({kind} {self.options.safe_url})"


class AsyncRedisStateBackend:
    """The asynchronous Redis state backend (`AsyncStateBackend`)."""

    def __init__(self, settings: BackendSettings) -> None:
        self.options = _options(settings)
        self._codec = _Codec(settings.prefix)
        options = self.options
        common: dict[str, Any] = {
            "socket_timeout": options.timeout,
            "socket_connect_timeout": options.connect_timeout,
        }
        self._client: Any
        if options.is_cluster:
            self._client = redis.asyncio.cluster.RedisCluster.from_url(
                options.client_url,
                max_connections=options.pool_size,
                retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
                **common,
            )
        else:
            self._client = redis.asyncio.Redis.from_url(
                options.client_url,
                max_connections=options.pool_size,
                retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
                **common,
            )
        # redis-py's async cluster client learns the slots on first use; tasks that race
        # that first use lose connections to it, so the first caller does it for all.
        self._ready = not options.is_cluster
        self._starting: asyncio.Lock | None = None

    async def _start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if not self._ready:
                try:
                    await self._client.initialize()
                except _UNAVAILABLE as exc:
                    raise self._unavailable(exc) from exc
                self._ready = True

    def _unavailable(self, exc: BaseException) -> StateBackendUnavailableError:
        return StateBackendUnavailableError(
            f"Redis at {self.options.safe_url} did not answer: {type(exc).__name__}",
            backend="redis",
        )

    async def _eval(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if not self._ready:
            await self._start()
        try:
            try:
                return await self._client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                return await self._client.eval(script.source, len(keys), *keys, *args)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    async def _call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        if not self._ready:
            await self._start()
        try:
            return await getattr(self._client, command)(*args, **kwargs)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    async def admit(
        self, plan: GuardPlan, *, retry: bool = False, max_wait: float = 0.0
    ) -> Admission:
        keys, args = self._codec.admit(plan, retry, max_wait)
        return self._codec.admission(await self._eval(SCRIPTS["admit"], keys, args))

    async def record(
        self, plan: GuardPlan, admission: Admission, *, failed: bool | None, duration: float
    ) -> None:
        if plan.breaker is None:
            return
        keys, args = self._codec.record(plan, admission, failed, duration)
        await self._eval(SCRIPTS["record"], keys, args)

    async def breaker(self, plan: GuardPlan) -> BreakerSnapshot:
        keys, args = self._codec.breaker(plan)
        return self._codec.snapshot(await self._eval(SCRIPTS["breaker"], keys, args))

    async def idempotency_begin(
        self, key: str, fingerprint: bytes, *, ttl: float
    ) -> IdempotencyClaim:
        keys = [self._codec.claim_key(key)]
        reply = await self._eval(SCRIPTS["idem_begin"], keys, [fingerprint, _owner(), _ms(ttl)])
        return self._codec.claim(reply)

    async def idempotency_complete(
        self, key: str, owner: str, fingerprint: bytes, outcome: bytes, *, ttl: float
    ) -> None:
        keys = [self._codec.claim_key(key)]
        await self._eval(SCRIPTS["idem_complete"], keys, [owner, fingerprint, outcome, _ms(ttl)])

    async def idempotency_release(self, key: str, owner: str) -> None:
        await self._eval(SCRIPTS["idem_release"], [self._codec.claim_key(key)], [owner])

    async def token_get(self, key: str) -> StoredToken | None:
        token_key, _ = self._codec.token_keys(key)
        return self._codec.token(await self._call("hmget", token_key, ["v", "e"]))

    async def token_lock(self, key: str, *, ttl: float) -> str | None:
        _, lock = self._codec.token_keys(key)
        owner = _owner()
        return owner if await self._call("set", lock, owner, nx=True, px=_ms(ttl)) else None

    async def token_set(self, key: str, owner: str, token: StoredToken) -> None:
        keep = _ms(max(token.expires_at - await self._server_time(), 0.0) + _TOKEN_KEEP)
        args = [owner, token.value, repr(token.expires_at), keep]
        await self._eval(SCRIPTS["token_set"], self._codec.token_keys(key), args)

    async def token_unlock(self, key: str, owner: str) -> None:
        _, lock = self._codec.token_keys(key)
        await self._eval(SCRIPTS["token_unlock"], [lock], [owner])

    async def _server_time(self) -> float:
        reply = await self._call("time")
        if isinstance(reply, dict):
            reply = next(iter(reply.values()))
        seconds, micros = reply
        return float(seconds) + float(micros) / 1_000_000

    async def aclose(self) -> None:
        await self._client.aclose()

    def __repr__(self) -> str:
        kind = "cluster" if self.options.is_cluster else "server"
        return f"AsyncRedisStateBackend({kind} {self.options.safe_url})"
