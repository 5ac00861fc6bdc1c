"""Counting calls for SLOs and alert rules, off the hot path.

The observe step hands each finished call to `CallStats` (``_health``), which, once counting
is on, appends one small tuple to `CallCounter.events` (a deque: appending is atomic and
costs no lock). A background thread (`_monitor`) calls `CallCounter.flush` every second or
so: it drains the events into per-bucket counts (a minute bucket and an hour bucket per
connector) and adds them to the state backend in one batch (`slo_add`: one round trip on
Redis). A batch that could not be sent is kept, with its id, and sent again first next time;
the backend adds a batch id once, so a batch whose answer was lost is never counted twice.

What a call counts as (`failure_event`): a success; a failure that counts against
availability; a failure the caller caused (`CALLER_ERRORS`), counted apart; or nothing, for
a call the caller abandoned (cancelled, interrupted).
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import os
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from ._clock import Clock
from ._errors import (
    ConnectorError,
    IdempotencyConflictError,
    InvalidIdempotencyKeyError,
    InvalidRequestError,
    ObjectNotFoundError,
    PaymentDeclinedError,
    StateBackendUnavailableError,
)
from ._slo import DEFAULT_LATENCY_BOUNDS, FINE_LIMIT, field_name
from ._state import SloCounts, StateBackend

__all__ = [
    "CALLER_ERRORS",
    "CallCounter",
    "RecentError",
    "failure_event",
    "redact",
]

_log = logging.getLogger("nexus_connector.slo")

#: Failures the caller caused: they say nothing about the vendor, so no SLO counts them.
CALLER_ERRORS: tuple[type[BaseException], ...] = (
    InvalidRequestError,
    PaymentDeclinedError,
    ObjectNotFoundError,
    IdempotencyConflictError,
    InvalidIdempotencyKeyError,
)
#: A call ended by one of these was abandoned by its caller: it counts neither way.
_ABANDONED = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)
#: Minute buckets are kept this long: every window counted in minutes fits.
MINUTE_KEEP = FINE_LIMIT + 180.0
#: Batches kept for sending again while the backend is unreachable (then the oldest go).
MAX_UNSENT = 120
#: Recent errors kept per connector, for the dashboard.
RECENT_ERRORS = 10

# An event: (connector, operation, seconds, ended) for a success; a failure adds
# (counts, error class, vendor, message).
Event = tuple[Any, ...]


class RecentError(msgspec.Struct, frozen=True, kw_only=True):
    """A failed call, for the dashboard: where, when and what (its message redacted)."""

    at: datetime
    connector: str
    operation: str
    vendor: str | None
    error: str
    message: str | None = None


def failure_event(
    connector: str, operation: str, error: BaseException, seconds: float, ended: float
) -> Event | None:
    """The event of a failed call, or None for an abandoned one."""
    if isinstance(error, _ABANDONED):
        return None
    counts = not isinstance(error, CALLER_ERRORS)
    if isinstance(error, ConnectorError):
        # Our own message (never a secret); another library's text is not read at all.
        return (connector, operation, seconds, ended, counts, type(error).__name__,
                error.vendor, error.message)  # fmt: skip
    return (connector, operation, seconds, ended, counts, type(error).__name__, None, None)


_EMAIL = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+")
_PHONE = re.compile(r"\+?[0-9][0-9 ().-]{6,}[0-9]")
_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=]{24,}")


def redact(message: str, limit: int = 200) -> str:
    """`message` for a screen: e-mail addresses, phone numbers and long tokens masked,
    control characters dropped, at most `limit` characters.

    >>> redact("no such recipient bob@example.com (+1 415 555 0100)")
    'no such recipient [email] ([phone])'
    """
    text = "".join(ch if ch.isprintable() else " " for ch in message[: limit * 4])
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    text = _TOKEN.sub("[redacted]", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CallCounter:
    """Turns call events into bucket counts and adds them to the state backend in batches.

    `bounds` are the latency histogram's upper bounds (seconds); `hour_keep` is how long
    hour buckets are kept (the longest window in use, and at least the 3-day burn rate's).
    """

    def __init__(self, clock: Clock, bounds: Sequence[float] = (), *, hour_keep: float) -> None:
        self.clock = clock
        #: Where the observe step appends events (`CallStats` holds it too).
        self.events: collections.deque[Event] = collections.deque()
        self.bounds = tuple(sorted({*DEFAULT_LATENCY_BOUNDS, *bounds}))
        self._labels = (*(repr(b) for b in self.bounds), "inf")
        self.hour_keep = hour_keep
        self._unsent: collections.deque[tuple[str, list[SloCounts]]] = collections.deque()
        self._lock = threading.Lock()
        #: Events dropped because the backend stayed unreachable for too long.
        self.dropped = 0
        #: Calls counted so far, by this process (successes, failures that count).
        self.totals: dict[str, list[int]] = {}
        self.recent_errors: dict[str, collections.deque[RecentError]] = {}

    def collect(self) -> list[SloCounts]:
        """Drain the events into the counts of their buckets (empty when there were none)."""
        events = self.events
        if not events:
            return []
        now_wall, now_mono = self.clock.time(), self.clock.monotonic()
        buckets: dict[tuple[str, int, int], dict[str, int]] = {}
        bounds, labels = self.bounds, self._labels
        totals = self.totals
        while True:
            try:
                event = events.popleft()
            except IndexError:
                break
            connector, operation, seconds, ended = event[:4]
            wall = now_wall - (now_mono - ended)
            total = totals.get(connector)
            if total is None:
                total = totals[connector] = [0, 0]
            if len(event) == 4:
                what: tuple[str, ...] = ("s", labels[bisect.bisect_left(bounds, seconds)])
                total[0] += 1
            else:
                counts, error, vendor, message = event[4:]
                what = ("f",) if counts else ("x",)
                if counts:
                    total[1] += 1
                self._remember(
                    wall,
                    connector=connector,
                    operation=operation,
                    error=error,
                    vendor=vendor,
                    message=message,
                )
            for resolution in (60, 3600):
                fields = buckets.setdefault((connector, resolution, int(wall // resolution)), {})
                for name in what:
                    key = field_name(operation, name)
                    fields[key] = fields.get(key, 0) + 1
        return [
            SloCounts(
                series=series,
                resolution=resolution,
                bucket=bucket,
                counts=fields,
                keep=MINUTE_KEEP if resolution == 60 else self.hour_keep,
            )
            for (series, resolution, bucket), fields in buckets.items()
        ]

    def _remember(
        self,
        wall: float,
        *,
        connector: str,
        operation: str,
        error: str,
        vendor: str | None,
        message: str | None,
    ) -> None:
        recent = self.recent_errors.get(connector)
        if recent is None:
            recent = self.recent_errors[connector] = collections.deque(maxlen=RECENT_ERRORS)
        recent.append(
            RecentError(
                at=datetime.fromtimestamp(wall, UTC),
                connector=connector,
                operation=operation,
                vendor=vendor,
                error=error,
                message=redact(message) if message else None,
            )
        )

    def flush(self, state: StateBackend) -> bool:
        """Send the batches not sent yet, then what was counted since; True when everything
        went. Never raises for an unreachable backend: what could not go is kept (up to
        `MAX_UNSENT` batches) and sent again, with the same batch id, next time."""
        with self._lock:  # one flush at a time: batches go in order, each once
            counts = self.collect()
            if counts:
                self._unsent.append((os.urandom(12).hex(), counts))
                while len(self._unsent) > MAX_UNSENT:
                    _, lost = self._unsent.popleft()
                    self.dropped += sum(
                        count
                        for c in lost
                        if c.resolution == 60
                        for field, count in c.counts.items()
                        if field[-2:] in ("|s", "|f", "|x")
                    )
            while self._unsent:
                batch, pending = self._unsent[0]
                try:
                    state.slo_add(batch, pending)
                except StateBackendUnavailableError as exc:
                    _log.warning("SLO counts not sent, kept for the next flush: %s", exc)
                    return False
                self._unsent.popleft()
            return True

    @property
    def unsent(self) -> int:
        """Batches waiting to be sent."""
        return len(self._unsent)
