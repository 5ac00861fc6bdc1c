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

import bisect
import collections
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
from ._logging import library_logger
from ._slo import DEFAULT_LATENCY_BOUNDS, FINE_LIMIT, field_name
from ._state import SloCounts, StateBackend

__all__ = [
    "CALLER_ERRORS",
    "CallCounter",
    "RecentError",
    "failure_event",
    "redact",
]

_log = library_logger("nexus_connector.slo")

#: Failures the caller caused: they say nothing about the vendor, so no SLO counts them.
CALLER_ERRORS: tuple[type[BaseException], ...] = (
    InvalidRequestError,
    PaymentDeclinedError,
    ObjectNotFoundError,
    IdempotencyConflictError,
    InvalidIdempotencyKeyError,
)
#: Minute buckets are kept this long: every window counted in minutes fits.
MINUTE_KEEP = FINE_LIMIT + 180.0
#: Batches kept for sending again while the backend is unreachable (then the oldest go).
MAX_UNSENT = 120
#: Recent errors kept per connector, for the dashboard.
RECENT_ERRORS = 10

# An event: (connector, operation, seconds, ended) for a success; a failure adds
# (counts, error class, vendor, message).
Event = tuple[Any, ...]
# Tallied outcomes of failures (successes are tallied by their latency bucket, from 0).
_FAILED, _EXCLUDED = -1, -2


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
    if not isinstance(error, Exception):
        # A call ended by a BaseException that is no Exception (a cancellation, asyncio's
        # or another library's, KeyboardInterrupt, SystemExit, GeneratorExit) was abandoned
        # by its caller: it counts neither way.
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
        #: This process's last errors per connector (read them with `last_errors`).
        self.recent_errors: dict[str, collections.deque[RecentError]] = {}

    def collect(self) -> list[SloCounts]:
        """Drain the events into the counts of their buckets (empty when there were none).

        Events are first tallied by (connector, operation, minute, outcome or latency
        bucket), then each distinct tally is spread over its minute and hour buckets: the
        per-event work is a few additions."""
        events = self.events
        if not events:
            return []
        offset = self.clock.time() - self.clock.monotonic()  # monotonic -> epoch seconds
        bounds, bisect_left = self.bounds, bisect.bisect_left
        tally: dict[tuple[str, str, int, int], int] = {}
        get, popleft = tally.get, events.popleft
        for _ in range(len(events)):  # what is there now; later events wait for next time
            event = popleft()
            if len(event) == 4:
                connector, operation, seconds, ended = event
                key = (
                    connector,
                    operation,
                    int((ended + offset) // 60),
                    bisect_left(bounds, seconds),
                )
            else:
                connector, operation, _, ended, counts, error, vendor, message = event
                wall = ended + offset
                key = (connector, operation, int(wall // 60), _FAILED if counts else _EXCLUDED)
                self._remember(
                    wall,
                    connector=connector,
                    operation=operation,
                    error=error,
                    vendor=vendor,
                    message=message,
                )
            tally[key] = get(key, 0) + 1
        buckets: dict[tuple[str, int, int], dict[str, int]] = {}
        for (connector, operation, minute, what), count in tally.items():
            if what >= 0:
                names: tuple[str, ...] = ("s", self._labels[what])
            else:
                names = ("f",) if what == _FAILED else ("x",)
            for resolution, bucket in ((60, minute), (3600, minute // 60)):
                fields = buckets.setdefault((connector, resolution, bucket), {})
                for name in names:
                    field = field_name(operation, name)
                    fields[field] = fields.get(field, 0) + count
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

    def last_errors(self) -> dict[str, list[RecentError]]:
        """A copy of this process's last errors per connector, safe to read while calls
        end (copying a dict or a deque is one step under the GIL; iterating one is not)."""
        return {name: list(errors) for name, errors in dict(self.recent_errors).items()}

    @property
    def unsent(self) -> int:
        """Batches waiting to be sent."""
        return len(self._unsent)
