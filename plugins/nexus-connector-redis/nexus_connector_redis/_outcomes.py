"""Outcomes on their way to Redis: one round trip per guarded call.

`record` does no I/O: it keeps the attempt's outcome in the worker, and the outcome rides on
the next admission of the same breaker by the same thread (sync) or task (async), whose
script records it before deciding, in the same round trip. An outcome no admission carried
within ``record_delay`` seconds is sent by a flush (a thread of the sync backend, a timer of
the async one's event loop), several breakers in one pipelined round trip; `close` and
`aclose` flush what is left, and a sync backend also flushes when the interpreter exits.

What it changes, and why it is safe: an outcome reaches the other workers when its thread or
task next asks that breaker (microseconds later in a busy worker) and at the latest
``record_delay`` seconds later (plus the flush's round trip) - exactly as if the attempt had
taken that much longer, which outcomes of concurrent calls may always do. The worker itself
decides on its own outcomes in order: a thread's (task's) admission carries what it recorded,
and when a flush or a `breaker` read is carrying it at that moment, waits for it to land
first. What a process holds when it dies without closing (SIGKILL, ``os._exit``, a crash, an
async backend never closed) is lost: the breakers count at most its last ``record_delay``
seconds of outcomes fewer. An outcome whose carrying round trip fails (Redis unreachable) is
dropped, never sent twice: a breaker may miss it, never count it twice.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from nexus_connector_core.state import Admission, BreakerPolicy

from ._scripts import Script

__all__ = ["Batch", "Flusher", "Pending", "Slot", "outcome_code"]

_log = logging.getLogger("nexus_connector.state")


def outcome_code(
    policy: BreakerPolicy, admission: Admission, failed: bool | None, duration: float
) -> int | None:
    """An outcome as the scripts read it (``apply`` in ``common.lua``): failed + 2 * slow,
    plus 4 for a half-open trial; -1 for an abandoned trial, which gives its permit back;
    None for an abandoned call that held no permit: there is nothing to record."""
    if failed is None:
        return -1 if admission.trial else None
    slow = 0 < policy.slow_call_duration <= duration
    return failed + 2 * slow + 4 * admission.trial


class Slot:
    """One breaker in Redis, as outcomes recorded against it are sent: its scope hash, and
    the scripts that record outcomes in it and read it. Plans sharing a breaker (the same
    hash, breaker key and policy: a connector's plans per caller key) share one slot."""

    __slots__ = ("breaker", "key", "record")

    def __init__(self, key: str, record: Script, breaker: Script) -> None:
        self.key = key
        self.record = record
        self.breaker = breaker


#: Whose outcomes they are (a thread id, a task), and which breaker they go to.
Key = tuple[Hashable, Slot]
#: Outcomes to send: one script call per breaker, its arguments the outcome triples.
Batch = list[tuple[Slot, list[Any]]]


class Pending:
    """The outcomes recorded and not sent yet, by owner and breaker, in the order recorded.

    No I/O and no lock: the sync backend holds its lock around every use, the async one
    uses it from its event loop only.
    """

    __slots__ = ("in_flight", "outcomes")

    def __init__(self) -> None:
        #: Outcome triples (generation, code, when recorded: ``time.monotonic``), by owner
        #: and breaker; taken, the third is their age in milliseconds as the scripts read it.
        self.outcomes: dict[Key, list[Any]] = {}
        #: Keys whose outcomes another carrier (a flush, a breaker read) is sending now, and
        #: how many such carriers: their owner waits before admitting.
        self.in_flight: dict[Key, int] = {}

    def add(self, key: Key, generation: int, code: int, now: float) -> bool:
        """Keep one outcome; True when it is the key's first (a flush is then due later)."""
        kept = self.outcomes.get(key)
        if kept is None:
            self.outcomes[key] = [generation, code, now]
            return True
        kept += (generation, code, now)
        return False

    def take(self, key: Key, now: float) -> list[Any] | None:
        """The owner's outcomes for one breaker, as script arguments, to carry on its own
        admission."""
        kept = self.outcomes.pop(key, None)
        if kept is not None:
            for i in range(2, len(kept), 3):
                kept[i] = max(int((now - kept[i]) * 1000), 0)
        return kept

    def due(self, now: float, delay: float) -> tuple[list[Key], float | None]:
        """The keys whose first outcome has waited `delay` seconds, and when the next of the
        others falls due (None when there are none)."""
        keys: list[Key] = []
        soonest: float | None = None
        for key, kept in self.outcomes.items():
            at = kept[2] + delay
            if at <= now:
                keys.append(key)
            elif soonest is None or at < soonest:
                soonest = at
        return keys, soonest

    def of(self, slot: Slot) -> list[Key]:
        """Every owner's key for one breaker."""
        return [key for key in self.outcomes if key[1] is slot]

    def carry(self, keys: Sequence[Key], now: float) -> tuple[Batch, list[Key]]:
        """Take the outcomes of `keys` for another carrier to send, one script call per
        breaker, and mark the keys taken in flight until `delivered`; the batch, and the
        keys taken."""
        by_slot: dict[Slot, list[Any]] = {}
        taken: list[Key] = []
        for key in keys:
            args = self.take(key, now)
            if args is None:
                continue
            taken.append(key)
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            by_slot.setdefault(key[1], []).extend(args)
        return list(by_slot.items()), taken

    def delivered(self, keys: Sequence[Key]) -> None:
        """The carrier of `keys` is done (sent, or failed: the outcomes are dropped)."""
        for key in keys:
            left = self.in_flight.get(key, 0) - 1
            if left > 0:
                self.in_flight[key] = left
            else:
                self.in_flight.pop(key, None)

    def busy(self, slot: Slot) -> bool:
        """Whether another carrier is sending outcomes for `slot` now."""
        return any(key[1] is slot for key in self.in_flight)


def lost(count: int, exc: BaseException) -> None:
    """Say that outcomes were dropped (their round trip failed); never their contents."""
    _log.warning("%d circuit-breaker outcome(s) not recorded: %s", count, exc)


def outcomes_in(batch: Batch) -> int:
    return sum(len(args) // 3 for _, args in batch)


class Flusher:
    """The sync backend's flush: a daemon thread that sends the outcomes no admission carried
    within `delay` seconds, then sleeps until the next falls due, or (none pending) until
    `hold`. It holds the backend (its `send`) only while outcomes are pending: a backend
    dropped without `close` still records what it kept, and is then collected."""

    def __init__(self, pending: Pending, changed: threading.Condition, delay: float) -> None:
        self.pending = pending
        self.changed = changed
        self.delay = delay
        self.stopped = False
        #: How to send a batch (the backend's), while outcomes are pending; else None.
        self.send: Callable[[Batch], None] | None = None
        self.thread = threading.Thread(target=self._run, name="nexus-redis-outcomes", daemon=True)
        self.thread.start()

    def hold(self, send: Callable[[Batch], None]) -> None:
        """A key's first outcome was kept (the caller holds `changed`): wake the thread if
        it slept with nothing pending."""
        if self.send is None:
            self.send = send
            self.changed.notify_all()

    def stop(self) -> None:
        with self.changed:
            self.stopped = True
            self.changed.notify_all()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=5.0)

    def _run(self) -> None:
        pending, changed = self.pending, self.changed
        lingered = False  # waited a delay with nothing pending
        with changed:
            while not self.stopped:
                keys, soonest = pending.due(time.monotonic(), self.delay)
                if keys and self.send is not None:
                    batch, keys = pending.carry(keys, time.monotonic())
                    send = self.send
                    changed.release()
                    try:
                        send(batch)
                    except BaseException as exc:  # noqa: BLE001 - the thread must go on
                        lost(outcomes_in(batch), exc)
                    finally:
                        changed.acquire()
                        pending.delivered(keys)
                        changed.notify_all()
                    continue
                if soonest is not None:
                    lingered = False
                    changed.wait(max(soonest - time.monotonic(), 0.0))
                elif not lingered:
                    # Admissions take what is kept within microseconds: were the thread to
                    # sleep as soon as nothing is pending, waking it would cost every call
                    # a switch of threads. It sleeps once nothing was pending for a delay.
                    lingered = True
                    changed.wait(self.delay)
                else:
                    lingered = False
                    self.send = None  # let the backend go
                    changed.wait()


#: Sync backends: flushed at exit; what they keep forgotten in a forked child.
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


def track(backend: Any) -> None:
    """Flush `backend` (``flush_at_exit()``) when the interpreter exits, and let it forget
    its parent's outcomes in a forked child (``forget_after_fork()``)."""
    _LIVE.add(backend)


def _flush_all_at_exit() -> None:
    for backend in list(_LIVE):
        backend.flush_at_exit()


def _forget_after_fork() -> None:
    for backend in list(_LIVE):
        backend.forget_after_fork()


atexit.register(_flush_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
