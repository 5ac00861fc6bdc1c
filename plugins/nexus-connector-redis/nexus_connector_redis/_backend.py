"""The Redis state backend, sync and async: the same keys, arguments and replies (`_Codec`),
only the client differs.

Every key of one guard plan carries the plan's scope as a hash tag (``{connector:vendor}``),
so on Redis Cluster the admit script touches a single slot. Every key expires once idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, ResponseError

from nexus_connector_core import StateBackendUnavailableError
from nexus_connector_core.state import (
    SLO_BATCH_MEMORY,
    Admission,
    BackendSettings,
    BreakerPolicy,
    BreakerSnapshot,
    GuardPlan,
    IdempotencyClaim,
    Lease,
    LimiterSnapshot,
    SloCounts,
    SloQuery,
    StateBackend,
    StoredToken,
    headroom,
)

from ._options import RedisOptions
from ._outcomes import Batch, Flusher, Pending, Slot, lost, outcome_code, outcomes_in, track
from ._scripts import SCRIPTS, GuardScripts, Script, guard_scripts
from ._wire import Wire, wired

__all__ = ["AsyncRedisStateBackend", "RedisStateBackend"]

# What "Redis cannot answer now" looks like from redis-py: refused, reset, timed out, loading,
# a cluster without a majority or slots, and every error reply (`ResponseError`): a server
# refusing writes (MISCONF after a failed save, OOM under maxmemory, READONLY on a replica,
# NOREPLICAS), busy with a script (BUSY), denying a command (NOPERM). NOSCRIPT never gets
# here: the command is sent again with the script's source. All of them are outages that the
# pipeline's fail mode decides, never a raw redis-py error in the application.
_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ResponseError,
    redis.exceptions.InvalidResponse,
    redis.exceptions.RedisClusterException,
    OSError,
)
#: Why a server refuses, by the reply's code (or redis-py's class for the codes it maps).
_REFUSALS = {
    "MISCONF": "it cannot save to disk and refuses writes (see its log)",
    "BUSY": "it is busy running a script past busy-reply-threshold",
    "NOREPLICAS": "it has fewer replicas than min-replicas-to-write",
    "OutOfMemoryError": "it is at maxmemory and evicts nothing",
    "ReadOnlyError": "it is a read-only replica: point [state] url at the primary",
    "NoPermissionError": "its ACL user may not run a command the backend needs",
    "MovedError": "it is a Redis Cluster node: set [state] cluster = true",
    "AskError": "it is a Redis Cluster node: set [state] cluster = true",
}
_REPLY_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,31}(?= |$)")
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


def _auth(options: RedisOptions) -> dict[str, Any]:
    """The password, when it is an option of its own rather than part of the URL."""
    return {} if options.password is None else {"password": options.password.reveal()}


def _flag(value: bool) -> str:
    return "1" if value else "0"


_STATES: dict[bytes, Any] = {b"0": "closed", b"1": "open", b"2": "half_open"}
#: The small numbers outcomes carry, encoded as bulk strings once (formatting each costs
#: more than the rest of a carrying admission's encoding).
_SMALL = 1024
_BULK = [b"$%d\r\n%d\r\n" % (len(b"%d" % number), number) for number in range(_SMALL)]
_FIRST, _RETRY = ["0", "0"], ["1", "0"]


#: One script call: the script, its keys and its arguments.
Call = tuple[Script, list[str], list[Any]]


class _Codec:
    """Keys, scripts, arguments and replies; shared by the sync and async backends."""

    def __init__(self, prefix: str, packer: Callable[..., Any] | None = None) -> None:
        self.prefix = prefix
        #: Encodes a command (redis-py's ``pack_command``), for the commands sent as they
        #: are; `pack` joins its parts.
        self.packer = packer
        self._plans: dict[int, tuple[GuardPlan, list[str], GuardScripts, Slot | None]] = {}
        self._slots: dict[tuple[str, str, BreakerPolicy], Slot] = {}
        self._packed: dict[tuple[int, bool], tuple[GuardPlan, bytes]] = {}
        self._carrying: dict[tuple[int, bool], tuple[GuardPlan, bytes, int, Script, list[str]]] = {}
        #: Numbers outcomes carried, beyond `_BULK`, encoded (generations: a few at a time).
        self._large: dict[int, bytes] = {}
        # Admissions are immutable and most replies repeat (closed, quiet, same generation).
        self._admissions: dict[bytes, Admission] = {}

    # -- guard plans -------------------------------------------------------------------------

    def _plan(self, plan: GuardPlan) -> tuple[list[str], GuardScripts]:
        """A plan's keys and scripts (memoised by identity: plans live as long as their
        connector; equal plans made apart share the same scripts, by their SHA)."""
        memo = self._plans.get(id(plan))
        if memo is not None and memo[0] is plan:
            return memo[1], memo[2]
        return self._remember(plan)[1:3]

    def slot(self, plan: GuardPlan) -> Slot:
        """Where outcomes recorded against `plan` go: its breaker's slot."""
        memo = self._plans.get(id(plan))
        slot = memo[3] if memo is not None and memo[0] is plan else self._remember(plan)[3]
        if slot is None:
            raise ValueError("the plan has no circuit breaker")
        return slot

    def _remember(self, plan: GuardPlan) -> tuple[GuardPlan, list[str], GuardScripts, Slot | None]:
        """Make and keep a plan's keys, scripts and breaker slot."""
        tag = plan.scope or plan.breaker_key or plan.limit_key or plan.budget_key or "-"
        base = f"{self.prefix}:{{{tag}}}"
        # One hash holds the scope's breakers, limiters and budgets; a caller's limiter
        # (one per tenant) has a key of its own.
        own = f"{base}:rl:{plan.limit_key}" if plan.limit_per_caller else base
        keys = [base, own]
        scripts = guard_scripts(plan)
        slot = None
        if plan.breaker is not None:
            assert scripts.record is not None
            assert scripts.breaker is not None
            if len(self._slots) > 10_000:
                self._slots.clear()
            slot = self._slots.setdefault(
                (base, plan.breaker_key, plan.breaker),
                Slot(base, scripts.record, scripts.breaker),
            )
        if len(self._plans) > 10_000:
            self._plans.clear()
        memo = self._plans[id(plan)] = (plan, keys, scripts, slot)
        return memo

    def admit(
        self, plan: GuardPlan, retry: bool, max_wait: float
    ) -> tuple[Script, list[str], list[str]]:
        keys, scripts = self._plan(plan)
        if not max_wait:  # the common case: no reservation ahead
            return scripts.admit, keys, _RETRY if retry else _FIRST
        return scripts.admit, keys, ["1" if retry else "0", repr(max_wait)]

    def pack(self, *command: Any) -> bytes:
        """`command` encoded for the wire, in one piece."""
        assert self.packer is not None  # set whenever there is a pool
        return b"".join(self.packer(*command))

    def packed_admit(self, plan: GuardPlan, retry: bool) -> bytes:
        """The EVALSHA of an admission without reservation, encoded once per plan."""
        memo = self._packed.get((id(plan), retry))
        if memo is not None and memo[0] is plan:
            return memo[1]
        script, keys, args = self.admit(plan, retry, 0.0)
        packed = self.pack("EVALSHA", script.sha, len(keys), *keys, *args)
        if len(self._packed) > 10_000:
            self._packed.clear()
        self._packed[(id(plan), retry)] = (plan, packed)
        return packed

    def carrying(self, plan: GuardPlan, retry: bool, max_wait: float, outcomes: list[Any]) -> Call:
        """An admission that first records `outcomes` (triples: generation, code, age)."""
        keys, scripts = self._plan(plan)
        assert scripts.carrying is not None
        return scripts.carrying, keys, [_flag(retry), repr(max_wait), *outcomes]

    def carrying_args(self, retry: bool, outcomes: list[Any]) -> list[Any]:
        """The arguments of a carrying admission without reservation, for EVAL when the
        server has lost the script (`packed_carrying` holds them encoded)."""
        return [*(_RETRY if retry else _FIRST), *outcomes]

    def packed_carrying(
        self, plan: GuardPlan, retry: bool, outcomes: list[int]
    ) -> tuple[bytes, Script, list[str]]:
        """The EVALSHA of a carrying admission without reservation: all but the outcomes
        encoded once per plan (redis-py's encoder costs more than the script's extra work);
        with its script and keys."""
        memo = self._carrying.get((id(plan), retry))
        if memo is None or memo[0] is not plan:
            script, keys, args = self.carrying(plan, retry, 0.0, [])
            whole = self.pack("EVALSHA", script.sha, len(keys), *keys, *args)
            count = 3 + len(keys) + len(args)  # EVALSHA, the SHA, the number of keys, ...
            if len(self._carrying) > 10_000:
                self._carrying.clear()
            memo = self._carrying[(id(plan), retry)] = (
                plan,
                whole[whole.index(b"\n") + 1 :],
                count,
                script,
                keys,
            )
        _, tail, count, script, keys = memo
        parts = [b"*%d\r\n" % (count + len(outcomes)), tail]
        large = self._large
        for number in outcomes:  # codes and ages are small; generations repeat
            if 0 <= number < _SMALL:
                parts.append(_BULK[number])
                continue
            bulk = large.get(number)
            if bulk is None:
                digits = b"%d" % number
                bulk = b"$%d\r\n%s\r\n" % (len(digits), digits)
                if len(large) > 256:
                    large.clear()
                large[number] = bulk
            parts.append(bulk)
        return b"".join(parts), script, keys

    @staticmethod
    def record(batch: Batch) -> list[Call]:
        """One record script call per breaker of `batch`."""
        return [(slot.record, [slot.key], pairs) for slot, pairs in batch]

    def limiter(self, plan: GuardPlan) -> Call:
        keys, _ = self._plan(plan)
        if plan.limit is None:
            raise ValueError("the plan has no rate limit")
        if plan.limit_per_caller:
            return SCRIPTS["limiter"], keys[1:], [""]
        return SCRIPTS["limiter"], keys[:1], [f"l:{plan.limit_key}"]

    @staticmethod
    def limiter_snapshot(plan: GuardPlan, reply: Sequence[Any]) -> LimiterSnapshot:
        assert plan.limit is not None
        tat, now = reply
        available, retry_after = headroom(
            float(now) if tat is None else float(tat), float(now), plan.limit
        )
        return LimiterSnapshot(
            available=available, capacity=plan.limit.capacity, retry_after=retry_after
        )

    def admission(self, reply: bytes) -> Admission:
        known = self._admissions.get(reply)
        if known is not None:
            return known
        allowed, reason, retry_after, wait, generation, trial, state, settled = reply.split(b"|")
        admission = Admission(
            allowed=allowed == b"1",
            reason=reason.decode() if reason else None,  # type: ignore[arg-type]
            retry_after=float(retry_after),
            wait=float(wait),
            generation=int(float(generation)),
            trial=trial == b"1",
            state=_STATES[state],
            settled=settled == b"1",
        )
        if allowed == b"1" and wait == b"0":  # refusals and waits carry times: not reused
            if len(self._admissions) > 256:
                self._admissions.clear()
            self._admissions[reply] = admission
        return admission

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

    # -- SLO counters and leases -------------------------------------------------------------

    def _slo_base(self, series: str) -> str:
        # One hash tag per series: a series' buckets and batch markers share a slot.
        return f"{self.prefix}:{{slo:{series}}}"

    def slo_add(self, batch: str, counts: Sequence[SloCounts]) -> list[Call]:
        """One script call per series (each adds its buckets atomically)."""
        by_series: dict[str, list[SloCounts]] = {}
        for item in counts:
            by_series.setdefault(item.series, []).append(item)
        calls: list[Call] = []
        for series, items in by_series.items():
            base = self._slo_base(series)
            keys = [f"{base}:batch:{batch}"]
            args: list[Any] = [_ms(SLO_BATCH_MEMORY)]
            for item in items:
                keys.append(f"{base}:{item.resolution}:{item.bucket}")
                args += [_ms(item.keep), len(item.counts)]
                for field, count in item.counts.items():
                    args += [field, count]
            calls.append((SCRIPTS["slo_add"], keys, args))
        return calls

    def slo_read(self, queries: Sequence[SloQuery]) -> list[Call]:
        calls: list[Call] = []
        for query in queries:
            base = self._slo_base(query.series)
            keys = [
                f"{base}:{query.resolution}:{bucket}"
                for bucket in range(query.first, query.last + 1)
            ]
            calls.append((SCRIPTS["slo_read"], keys, []))
        return calls

    @staticmethod
    def sums(reply: Sequence[Any]) -> dict[str, int]:
        return {bytes(reply[i]).decode(): int(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}

    def lease_keys(self, name: str) -> list[str]:
        base = f"{self.prefix}:{{lease:{name}}}"
        return [f"{base}:holder", f"{base}:data"]

    @staticmethod
    def lease(reply: Sequence[Any]) -> Lease:
        holder, data, left = reply
        if holder is None or int(left) <= 0:
            return Lease(data=None if data is None else bytes(data))
        return Lease(
            holder=bytes(holder).decode(),
            data=None if data is None else bytes(data),
            expires_in=int(left) / 1000,
        )


def _unavailable(options: RedisOptions, exc: BaseException) -> StateBackendUnavailableError:
    """The outage, named by the reply's code or redis-py's class: never the reply's text, which
    may quote keys and arguments."""
    where = f"Redis at {options.safe_url}"
    if not isinstance(exc, redis.exceptions.ResponseError):
        return StateBackendUnavailableError(
            f"{where} did not answer: {type(exc).__name__}", backend="redis"
        )
    code = _REPLY_CODE.match(str(exc))
    label = code.group() if code else type(exc).__name__
    why = _REFUSALS.get(label)
    return StateBackendUnavailableError(
        f"{where} refused the command with {label}" + (f": {why}" if why else ""),
        backend="redis",
    )


#: The longest time-to-live sent to Redis (a year): PEXPIRE refuses what overflows, and no
#: claim, outcome or token needs longer.
_MAX_TTL = 366 * 86400.0


def _ms(seconds: float) -> int:
    if not seconds < _MAX_TTL:  # also NaN and infinity: keep the key as long as allowed
        seconds = _MAX_TTL
    return max(int(seconds * 1000), 1)


def _pipelined(client: Any, calls: Sequence[Call]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    return list(pipe.execute())


async def _apipelined(client: Any, calls: Sequence[Call]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    return list(await pipe.execute())


def _retry_none() -> redis.retry.Retry:
    # Never retry inside redis-py: one attempt within the timeout, then the pipeline's
    # fail mode decides. Retries here would multiply the time a call waits on a dead Redis.
    return redis.retry.Retry(NoBackoff(), 0)


class RedisStateBackend:
    """The synchronous Redis state backend (`StateBackend`)."""

    def __init__(self, settings: BackendSettings) -> None:
        self.options = _options(settings)
        options = self.options
        common: dict[str, Any] = {
            **_auth(options),
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
        self._pool = None if options.is_cluster else self._client.connection_pool
        packer = self._pool.make_connection().pack_command if self._pool else None
        self._codec = _Codec(settings.prefix, packer)
        #: Connections the guard's scripts use, idle between calls (see `_send`).
        self._idle: list[Any] = []
        # Outcomes kept for the next admission of their breaker (see `_outcomes`).
        self._delay = options.record_delay
        self._pending = Pending()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # outcomes landed; the flush's wake
        self._flusher: Flusher | None = None
        track(self)

    def _connected(self) -> Any:
        with self._connect_lock:
            if self._client is None:
                try:
                    self._client = self._connect()
                except _UNAVAILABLE as exc:
                    raise self._unavailable(exc) from exc
        return self._client

    def _unavailable(self, exc: BaseException) -> StateBackendUnavailableError:
        return _unavailable(self.options, exc)

    def _eval(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if self._pool is not None:
            packed = self._codec.pack("EVALSHA", script.sha, len(keys), *keys, *args)
            return self._send(packed, script, keys, args)
        client = self._client or self._connected()
        try:
            try:
                return client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:  # a restarted or flushed server: send the source once
                return client.execute_command("EVAL", script.source, len(keys), *keys, *args)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    def _call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        client = self._client or self._connected()
        try:
            return getattr(client, command)(*args, **kwargs)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    # -- guard -------------------------------------------------------------------------------

    def _send(self, packed: bytes, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """One pre-encoded EVALSHA straight on a connection: redis-py's command layer costs
        more than the script itself. Falls back to EVAL when the server lost it.

        The connection is one the backend keeps idle between calls (`_idle`): taking one from
        redis-py's pool and giving it back costs about as much as a round trip on loopback
        (its lock, a poll of the socket for unread data, its observability hooks). A new one
        comes from the pool, so pool_size still bounds them; after any error one goes back to
        the pool, which checks it, since it may hold a reply nobody read."""
        pool = self._pool
        assert pool is not None
        idle = self._idle
        try:
            connection = idle.pop() if idle else pool.get_connection()
            try:
                connection.send_packed_command((packed,), check_health=False)
                try:
                    reply = connection.read_response()
                except NoScriptError:
                    connection.send_command("EVAL", script.source, len(keys), *keys, *args)
                    reply = connection.read_response()
            except BaseException:
                pool.release(connection)
                raise
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        idle.append(connection)
        return reply

    def admit(self, plan: GuardPlan, *, retry: bool = False, max_wait: float = 0.0) -> Admission:
        codec = self._codec
        pending = self._pending
        if (pending.outcomes or pending.in_flight) and plan.breaker is not None:
            outcomes = self._own(codec.slot(plan))
            if outcomes:  # recorded first, by the same script: still one round trip
                if max_wait or self._pool is None:
                    call = codec.carrying(plan, retry, max_wait, outcomes)
                    return codec.admission(self._eval(*call))
                packed, script, keys = codec.packed_carrying(plan, retry, outcomes)
                args = codec.carrying_args(retry, outcomes)  # for EVAL only
                return codec.admission(self._send(packed, script, keys, args))
        if max_wait or self._pool is None:
            return codec.admission(self._eval(*codec.admit(plan, retry, max_wait)))
        script, keys, args = codec.admit(plan, retry, 0.0)  # encoded once, sent as it is
        return codec.admission(self._send(codec.packed_admit(plan, retry), script, keys, args))

    def _own(self, slot: Slot) -> list[Any] | None:
        """This thread's outcomes for `slot`, once another carrier of earlier ones landed."""
        key = (threading.get_ident(), slot)
        with self._lock:
            while key in self._pending.in_flight:
                self._changed.wait()
            return self._pending.take(key, time.monotonic())

    def record(
        self, plan: GuardPlan, admission: Admission, *, failed: bool | None, duration: float
    ) -> None:
        """Keep the outcome for the next admission of the breaker by this thread (or the
        flush within ``record_delay``); with ``record_delay = 0``, record it now."""
        if plan.breaker is None:
            return
        code = outcome_code(plan.breaker, admission, failed, duration)
        if code is None:
            return
        slot = self._codec.slot(plan)
        if not self._delay:
            self._eval(slot.record, [slot.key], [admission.generation, code, 0])
            return
        key = (threading.get_ident(), slot)
        with self._lock:
            if self._pending.add(key, admission.generation, code, time.monotonic()):
                flusher = self._flusher
                if flusher is None:
                    flusher = self._flusher = Flusher(self._pending, self._changed, self._delay)
                    weakref.finalize(self, flusher.stop).atexit = False
                flusher.hold(self._deliver)

    def _deliver(self, batch: Batch) -> None:
        self._evals(self._codec.record(batch))

    def _landed(self, keys: Sequence[Any]) -> None:
        with self._changed:
            self._pending.delivered(keys)
            self._changed.notify_all()

    def flush(self) -> None:
        """Record every outcome kept so far, now, in one round trip (`close` does it too),
        and wait for those a flush is sending. `StateBackendUnavailableError` when Redis
        cannot take them: they are dropped."""
        with self._changed:
            while self._pending.in_flight:
                self._changed.wait()
            batch, keys = self._pending.carry(list(self._pending.outcomes), time.monotonic())
        if not batch:
            return
        try:
            self._deliver(batch)
        except StateBackendUnavailableError as exc:
            lost(outcomes_in(batch), exc)
            raise
        finally:
            self._landed(keys)

    def breaker(self, plan: GuardPlan) -> BreakerSnapshot:
        """As it stands once this process's outcomes kept for it are recorded (the same
        round trip)."""
        slot = self._codec.slot(plan)
        with self._changed:
            while self._pending.busy(slot):
                self._changed.wait()
            batch, keys = self._pending.carry(self._pending.of(slot), time.monotonic())
        try:
            reply = self._eval(slot.breaker, [slot.key], batch[0][1] if batch else [])
        finally:
            if keys:
                self._landed(keys)
        return self._codec.snapshot(reply)

    def limiter(self, plan: GuardPlan) -> LimiterSnapshot:
        return self._codec.limiter_snapshot(plan, self._eval(*self._codec.limiter(plan)))

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

    def idempotency_extend(self, key: str, owner: str, *, ttl: float) -> bool:
        keys = [self._codec.claim_key(key)]
        return bool(self._eval(SCRIPTS["idem_extend"], keys, [owner, _ms(ttl)]))

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

    # -- SLO counters and leases -------------------------------------------------------------

    def _evals(self, calls: Sequence[Call]) -> list[Any]:
        """Several script calls in one round trip (a pipeline), loading the scripts the server
        lacks and sending the calls again (each is safe to repeat: reads, or additions made
        once by their batch id)."""
        if not calls:
            return []
        client = self._client or self._connected()
        try:
            try:
                return _pipelined(client, calls)
            except NoScriptError:
                for script in {call[0].sha: call[0] for call in calls}.values():
                    client.script_load(script.source)
                return _pipelined(client, calls)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    def slo_add(self, batch: str, counts: Sequence[SloCounts]) -> None:
        self._evals(self._codec.slo_add(batch, counts))

    def slo_read(self, queries: Sequence[SloQuery]) -> list[dict[str, int]]:
        return [self._codec.sums(reply) for reply in self._evals(self._codec.slo_read(queries))]

    def lease_acquire(self, name: str, owner: str, *, ttl: float) -> Lease:
        keys = self._codec.lease_keys(name)
        return self._codec.lease(self._eval(SCRIPTS["lease_acquire"], keys, [owner, _ms(ttl)]))

    def lease_read(self, name: str) -> Lease:
        return self._codec.lease(
            self._eval(SCRIPTS["lease_read"], self._codec.lease_keys(name), [])
        )

    def lease_store(self, name: str, owner: str, data: bytes, *, keep: float) -> bool:
        keys = self._codec.lease_keys(name)
        return bool(self._eval(SCRIPTS["lease_store"], keys, [owner, data, _ms(keep)]))

    def lease_release(self, name: str, owner: str) -> None:
        self._eval(SCRIPTS["lease_release"], self._codec.lease_keys(name)[:1], [owner])

    def ping(self) -> None:
        """One PING within the configured timeout; `StateBackendUnavailableError` if none."""
        self._call("ping")

    def _server_time(self) -> float:
        reply = self._call("time")
        if isinstance(reply, dict):  # a cluster answers per node
            reply = next(iter(reply.values()))
        seconds, micros = reply
        return float(seconds) + float(micros) / 1_000_000

    def close(self) -> None:
        """Record the outcomes kept so far, stop the flush's thread, release connections."""
        with self._changed:
            flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.stop()
        with contextlib.suppress(StateBackendUnavailableError):  # flush logged the loss
            self.flush()
        self._idle.clear()  # in use, for the pool: closing it closes them
        if self._client is not None:
            self._client.close()

    def flush_at_exit(self) -> None:
        """The interpreter exits: record what is kept (a process ending normally loses no
        outcome, closed or not)."""
        with contextlib.suppress(Exception):  # exiting: flush logged what was lost
            self.flush()

    def forget_after_fork(self) -> None:
        """In a forked child: the outcomes kept are the parent's, which records them; the
        flush's thread and lock did not come along; the idle connections are the parent's
        sockets (redis-py's pool makes new ones for the child)."""
        self._idle = []
        self._pending = Pending()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._flusher = None

    def __repr__(self) -> str:
        kind = "cluster" if self.options.is_cluster else "server"
        return f"RedisStateBackend({kind} {self.options.safe_url})"


class AsyncRedisStateBackend:
    """The asynchronous Redis state backend (`AsyncStateBackend`)."""

    #: Every operation is a round trip: there is no non-blocking face to call directly.
    nonblocking: StateBackend | None = None

    def __init__(self, settings: BackendSettings) -> None:
        self.options = _options(settings)
        options = self.options
        common: dict[str, Any] = {
            **_auth(options),
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
        self._pool = None if options.is_cluster else self._client.connection_pool
        packer = self._pool.make_connection().pack_command if self._pool else None
        self._codec = _Codec(settings.prefix, packer)
        # redis-py's async cluster client learns the slots on first use; tasks that race
        # that first use lose connections to it, so the first caller does it for all.
        self._ready = not options.is_cluster
        self._starting: asyncio.Lock | None = None
        #: The scripts' connections, idle between calls: wires (`_wire`) on the sockets of
        #: redis-py connections the backend took from the pool.
        self._idle: list[Wire] = []
        #: Where hiredis is missing (or redis-py's connections are not as `wired` knows
        #: them), False, and the scripts go through redis-py's connections instead, kept idle
        #: between calls as the sync backend's.
        self._wired = True
        self._connections: list[Any] = []
        # Outcomes kept for the next admission of their breaker (see `_outcomes`).
        self._delay = options.record_delay
        self._pending = Pending()
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._landing: asyncio.Event | None = None  # set when a carrier lands, then replaced

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
        return _unavailable(self.options, exc)

    async def _send(
        self, packed: bytes, script: Script, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """One pre-encoded EVALSHA on a wire (`_wire`): a write and a future its protocol
        resolves, none of redis.asyncio's command layer, which costs more CPU than the round
        trip. EVAL when the server lost the script.

        A task cancelled while it waits leaves its reply to be dropped when it comes: its wire
        serves the next call at once. A wire that failed (reset, timed out) goes back to the
        pool, which reconnects it; one found dead while idle (a restarted server) is passed
        over."""
        idle = self._idle
        wire: Wire | None
        if idle and idle[-1].error is None:
            wire = idle.pop()
        else:
            wire = await self._wire() if self._wired else None
            if wire is None:
                return await self._send_pooled(packed, script, keys, args)
        try:
            try:
                reply = await wire.send(packed)
                if isinstance(reply, NoScriptError):
                    packed = self._codec.pack("EVAL", script.source, len(keys), *keys, *args)
                    reply = await wire.send(packed)
                if isinstance(reply, ResponseError):
                    raise reply
            except BaseException:
                if wire.error is None:
                    idle.append(wire)  # an error reply, or cancelled: the wire is in step
                else:
                    await asyncio.shield(self._discard(wire))
                raise
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        idle.append(wire)
        return reply

    async def _wire(self) -> Wire | None:
        """A wire that works: an idle one, or one on a connection from the pool; None when
        connections cannot be wired (`_wired` is then False)."""
        pool = self._pool
        assert pool is not None
        idle = self._idle
        while idle:
            wire = idle.pop()
            if wire.error is None:
                return wire
            await asyncio.shield(self._discard(wire))
        try:
            connection = await pool.get_connection()
            try:
                taken = wired(connection, self.options.timeout)
            except redis.exceptions.ConnectionError:
                await asyncio.shield(self._close(connection))
                raise
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        if taken is None:
            self._wired = False
            await asyncio.shield(pool.release(connection))
        return taken

    async def _discard(self, wire: Wire) -> None:
        """Give a failed wire's connection back to the pool, closed: it reconnects when next
        used."""
        await self._close(wire.connection)

    async def _close(self, connection: Any) -> None:
        """Give `connection` back to the pool, closed (its socket is closed already, or
        holds what nobody will read)."""
        assert self._pool is not None
        try:
            with contextlib.suppress(Exception):  # the socket is gone either way
                await connection.disconnect(nowait=True)
        finally:
            await self._pool.release(connection)

    async def _send_pooled(
        self, packed: bytes, script: Script, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """As `RedisStateBackend._send`, awaited (a task cancelled meanwhile gives its
        connection back to the pool); where connections cannot be wired."""
        pool = self._pool
        assert pool is not None
        idle = self._connections
        try:
            connection = idle.pop() if idle else await pool.get_connection()
            try:
                await connection.send_packed_command(packed, check_health=False)
                try:
                    reply = await connection.read_response()
                except NoScriptError:
                    await connection.send_command("EVAL", script.source, len(keys), *keys, *args)
                    reply = await connection.read_response()
            except BaseException:
                # Shielded: a task cancelled while the release waits (for the pool's lock, on
                # redis-py 8.1) would otherwise lose the connection for good.
                await asyncio.shield(pool.release(connection))
                raise
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        idle.append(connection)
        return reply

    async def _eval(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if self._pool is not None:
            packed = self._codec.pack("EVALSHA", script.sha, len(keys), *keys, *args)
            return await self._send(packed, script, keys, args)
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
        codec = self._codec
        pending = self._pending
        if (pending.outcomes or pending.in_flight) and plan.breaker is not None:
            # This task's outcomes for the breaker, once another carrier of earlier ones
            # (a flush, a breaker read) landed.
            key = (asyncio.current_task(), codec.slot(plan))
            while key in pending.in_flight:
                await self._landed()
            outcomes = pending.take(key, time.monotonic())
        else:
            outcomes = None
        if outcomes:  # recorded first, by the same script: still one round trip
            if max_wait or self._pool is None:
                call = codec.carrying(plan, retry, max_wait, outcomes)
                return codec.admission(await self._eval(*call))
            packed, script, keys = codec.packed_carrying(plan, retry, outcomes)
            args = codec.carrying_args(retry, outcomes)  # for EVAL only
        else:
            if max_wait or self._pool is None:
                return codec.admission(await self._eval(*codec.admit(plan, retry, max_wait)))
            script, keys, args = codec.admit(plan, retry, 0.0)
            packed = codec.packed_admit(plan, retry)
        # `_send` inlined for the common case, an idle wire (a coroutine less per call);
        # anything else (an error reply, NOSCRIPT, no idle wire) the general way.
        idle = self._idle
        if not idle or idle[-1].error is not None:
            return codec.admission(await self._send(packed, script, keys, args))
        wire = idle.pop()
        try:
            reply = await wire.send(packed)
        except BaseException as exc:
            if wire.error is None:
                idle.append(wire)  # cancelled: the wire is in step (its reply is dropped)
            else:
                await asyncio.shield(self._discard(wire))
            if isinstance(exc, _UNAVAILABLE):
                raise self._unavailable(exc) from exc
            raise
        idle.append(wire)
        if reply.__class__ is not bytes:  # an error reply
            if isinstance(reply, NoScriptError):  # the server lost the script: its source
                packed = codec.pack("EVAL", script.source, len(keys), *keys, *args)
                reply = await self._send(packed, script, keys, args)
            elif isinstance(reply, ResponseError):
                raise self._unavailable(reply) from reply
        return codec.admission(reply)

    async def _landed(self) -> None:
        """Wait until a carrier (a flush, a breaker read) lands."""
        if self._landing is None:
            self._landing = asyncio.Event()
        await self._landing.wait()

    def _land(self, keys: Sequence[Any]) -> None:
        self._pending.delivered(keys)
        landing, self._landing = self._landing, None
        if landing is not None:
            landing.set()

    async def record(
        self, plan: GuardPlan, admission: Admission, *, failed: bool | None, duration: float
    ) -> None:
        """Keep the outcome for the next admission of the breaker by this task (or the
        flush within ``record_delay``); with ``record_delay = 0``, record it now."""
        if plan.breaker is None:
            return
        code = outcome_code(plan.breaker, admission, failed, duration)
        if code is None:
            return
        slot = self._codec.slot(plan)
        if not self._delay:
            await self._eval(slot.record, [slot.key], [admission.generation, code, 0])
            return
        key = (asyncio.current_task(), slot)
        first = self._pending.add(key, admission.generation, code, time.monotonic())
        if first and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._due)

    def _due(self) -> None:
        """The timer: flush the outcomes that waited ``record_delay``, in a task."""
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush_due())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush_due(self) -> None:
        keys, _ = self._pending.due(time.monotonic(), self._delay)
        with contextlib.suppress(StateBackendUnavailableError):  # _carry logged the loss
            await self._carry(keys)
        now = time.monotonic()
        keys, soonest = self._pending.due(now, self._delay)
        if self._timer is None and (keys or soonest is not None):
            wait = 0.0 if keys or soonest is None else soonest - now
            self._timer = asyncio.get_running_loop().call_later(wait, self._due)

    async def _carry(self, keys: Sequence[Any]) -> None:
        batch, keys = self._pending.carry(keys, time.monotonic())
        if not batch:
            return
        try:
            await self._evals(self._codec.record(batch))
        except StateBackendUnavailableError as exc:
            lost(outcomes_in(batch), exc)
            raise
        finally:
            self._land(keys)

    async def flush(self) -> None:
        """Record every outcome kept so far, now, in one round trip (`aclose` does it too),
        and wait for those a flush is sending. `StateBackendUnavailableError` when Redis
        cannot take them: they are dropped."""
        while self._pending.in_flight:
            await self._landed()
        await self._carry(list(self._pending.outcomes))

    async def breaker(self, plan: GuardPlan) -> BreakerSnapshot:
        """As it stands once this process's outcomes kept for it are recorded (the same
        round trip)."""
        slot = self._codec.slot(plan)
        while self._pending.busy(slot):
            await self._landed()
        batch, keys = self._pending.carry(self._pending.of(slot), time.monotonic())
        try:
            reply = await self._eval(slot.breaker, [slot.key], batch[0][1] if batch else [])
        finally:
            if keys:
                self._land(keys)
        return self._codec.snapshot(reply)

    async def limiter(self, plan: GuardPlan) -> LimiterSnapshot:
        reply = await self._eval(*self._codec.limiter(plan))
        return self._codec.limiter_snapshot(plan, reply)

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

    async def idempotency_extend(self, key: str, owner: str, *, ttl: float) -> bool:
        keys = [self._codec.claim_key(key)]
        return bool(await self._eval(SCRIPTS["idem_extend"], keys, [owner, _ms(ttl)]))

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

    async def _evals(self, calls: Sequence[Call]) -> list[Any]:
        """As `RedisStateBackend._evals`, awaited."""
        if not calls:
            return []
        if not self._ready:
            await self._start()
        client = self._client
        try:
            try:
                return await _apipelined(client, calls)
            except NoScriptError:
                for script in {call[0].sha: call[0] for call in calls}.values():
                    await client.script_load(script.source)
                return await _apipelined(client, calls)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    async def slo_add(self, batch: str, counts: Sequence[SloCounts]) -> None:
        await self._evals(self._codec.slo_add(batch, counts))

    async def slo_read(self, queries: Sequence[SloQuery]) -> list[dict[str, int]]:
        replies = await self._evals(self._codec.slo_read(queries))
        return [self._codec.sums(reply) for reply in replies]

    async def lease_acquire(self, name: str, owner: str, *, ttl: float) -> Lease:
        keys = self._codec.lease_keys(name)
        reply = await self._eval(SCRIPTS["lease_acquire"], keys, [owner, _ms(ttl)])
        return self._codec.lease(reply)

    async def lease_read(self, name: str) -> Lease:
        keys = self._codec.lease_keys(name)
        return self._codec.lease(await self._eval(SCRIPTS["lease_read"], keys, []))

    async def lease_store(self, name: str, owner: str, data: bytes, *, keep: float) -> bool:
        keys = self._codec.lease_keys(name)
        return bool(await self._eval(SCRIPTS["lease_store"], keys, [owner, data, _ms(keep)]))

    async def lease_release(self, name: str, owner: str) -> None:
        await self._eval(SCRIPTS["lease_release"], self._codec.lease_keys(name)[:1], [owner])

    async def ping(self) -> None:
        """One PING within the configured timeout; `StateBackendUnavailableError` if none."""
        await self._call("ping")

    async def _server_time(self) -> float:
        reply = await self._call("time")
        if isinstance(reply, dict):
            reply = next(iter(reply.values()))
        seconds, micros = reply
        return float(seconds) + float(micros) / 1_000_000

    async def aclose(self) -> None:
        """Record the outcomes kept so far, release connections."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with contextlib.suppress(StateBackendUnavailableError):  # flush logged the loss
            await self.flush()
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        self._idle.clear()  # in use, for the pool: closing it closes them
        self._connections.clear()
        await self._client.aclose()

    def __repr__(self) -> str:
        kind = "cluster" if self.options.is_cluster else "server"
        return f"AsyncRedisStateBackend({kind} {self.options.safe_url})"
