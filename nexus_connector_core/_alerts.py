"""Alert rules at work: one leader among the workers evaluates them, and each alert fires
once, not once per worker.

Every worker's background thread asks for the lease ``alerts`` in the state backend
(`StateBackend.lease_acquire`); the one that holds it (renewing it at each evaluation)
evaluates the rules and the others do nothing. The alerts' states live with the lease
(`lease_store`, which only the holder can write), so a new leader carries on where the old
one stopped: a firing alert is neither announced again nor forgotten.

Each rule moves through inactive -> pending (its condition holds, for less than its ``for``)
-> firing (a ``firing`` notification; again every ``repeat``) -> inactive (a ``resolved``
notification) by the pure `step`. The states are stored *before* the notifications go out:
a leader that loses the lease meanwhile sends nothing, and a leader that dies between the
two loses those notifications (a firing alert is announced again at its next repeat)
rather than sending them twice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from ._alert_rules import Needs, ParsedRule
from ._alert_sinks import AlertNotification, AlertSink
from ._clock import Clock
from ._errors import ConnectorError
from ._logging import library_logger
from ._slo import SloSpec, WindowCounts, window_query
from ._state import GuardPlan, StateBackend

__all__ = [
    "ALERTS_LEASE",
    "AlertBook",
    "AlertEvaluator",
    "AlertRule",
    "AlertState",
    "AlertStatus",
    "AlertsReport",
    "Evaluation",
    "alerts_report",
    "step",
]

_log = library_logger("nexus_connector.alerts")

#: The lease the leader holds, and under which the alerts' states are stored.
ALERTS_LEASE = "alerts"
#: How long the alerts' states are kept after the last evaluation.
BOOK_KEEP = 30 * 86400.0

Status = Literal["inactive", "pending", "firing"]


class AlertRule(msgspec.Struct, frozen=True, kw_only=True):
    """A checked ``[alerts.<name>]`` rule."""

    name: str
    when: str
    #: The parsed condition (`ParsedRule`).
    rule: Any
    notify: tuple[str, ...] = ("log",)
    #: Seconds between reminders while it fires.
    repeat: float = 4 * 3600.0
    summary: str = ""

    @property
    def hold(self) -> float:
        """Seconds the condition must hold before the alert fires (``for``)."""
        return float(self.rule.hold)


class AlertState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One rule's state, kept with the lease (times are epoch seconds)."""

    status: Status = "inactive"
    #: When the condition started holding (pending) or the alert fired (firing).
    since: float | None = None
    #: When the last firing notification was made, and how many reminders followed it.
    notified: float | None = None
    reminders: int = 0
    last_fired: float | None = None
    last_resolved: float | None = None
    #: How many times it fired.
    fired: int = 0


class AlertBook(msgspec.Struct, frozen=True, kw_only=True):
    """Every rule's state and the last evaluation, as stored with the lease."""

    states: dict[str, AlertState] = {}
    evaluated_at: float | None = None
    leader: str | None = None


_book_decoder = msgspec.json.Decoder(AlertBook)
_book_encoder = msgspec.json.Encoder()


def step(
    state: AlertState, holds: bool, now: float, *, hold: float, repeat: float
) -> tuple[AlertState, Literal["firing", "resolved"] | None]:
    """A rule's next state at `now`, given whether its condition holds, and the notification
    to send, if any (pure)."""
    replace = msgspec.structs.replace
    if not holds:
        if state.status == "firing":
            resolved = AlertState(last_fired=state.last_fired, last_resolved=now, fired=state.fired)
            return resolved, "resolved"
        if state.status == "pending":
            return replace(state, status="inactive", since=None), None
        return state, None
    if state.status == "inactive":
        state = replace(state, status="pending", since=now)
    if state.status == "pending":
        if state.since is not None and now - state.since >= hold:
            fired = AlertState(
                status="firing",
                since=now,
                notified=now,
                last_fired=now,
                last_resolved=state.last_resolved,
                fired=state.fired + 1,
            )
            return fired, "firing"
        return state, None
    if state.notified is not None and now - state.notified >= repeat:
        return replace(state, notified=now, reminders=state.reminders + 1), "firing"
    return state, None


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """What one evaluation by the leader did."""

    at: datetime
    states: dict[str, Status]
    notifications: tuple[AlertNotification, ...] = ()
    #: Deliveries that failed, as "sink: reason".
    failures: tuple[str, ...] = ()


class _Data:
    """The values rules are evaluated on, read once per evaluation (`RuleData`)."""

    def __init__(
        self,
        sums: Mapping[tuple[str, float], Mapping[str, int]],
        slos: Mapping[str, SloSpec],
        breakers: Mapping[tuple[str, str | None], bool],
    ) -> None:
        self._sums, self._slos, self._breakers = sums, slos, breakers

    def counts(self, connector: str, operation: str | None, window: float) -> WindowCounts:
        return WindowCounts.from_sums(self._sums[(connector, window)], operation)

    def slo(self, target: str) -> SloSpec:
        return self._slos[target]

    def breaker_open(self, connector: str, vendor: str | None) -> bool:
        return self._breakers[(connector, vendor)]


#: The breakers of a connector's vendor (all its vendors with None): the plans to read.
BreakerPlans = Callable[[str, str | None], Sequence[GuardPlan]]


class AlertEvaluator:
    """Evaluates `rules` when this worker leads, and sends their notifications to `sinks`
    (by the names rules use: ``log``, ``webhook:ops``)."""

    def __init__(
        self,
        rules: Sequence[AlertRule],
        sinks: Mapping[str, AlertSink],
        *,
        clock: Clock,
        slos: Iterable[SloSpec],
        breaker_plans: BreakerPlans,
        lease: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.sinks = dict(sinks)
        self.clock = clock
        self.lease = lease
        #: This worker's id in the lease.
        self.owner = owner or f"{os.getpid()}-{os.urandom(6).hex()}"
        self._slos = {spec.name: spec for spec in slos}
        self._breaker_plans = breaker_plans
        needs = Needs()
        for rule in self.rules:
            parsed: ParsedRule = rule.rule
            needs.windows |= parsed.needs.windows
            needs.breakers |= parsed.needs.breakers
        self._windows = sorted(needs.windows)
        self._breakers = sorted(needs.breakers, key=lambda b: (b[0], b[1] or ""))

    def evaluate(self, state: StateBackend) -> Evaluation | None:
        """One evaluation if this worker leads (None if another does). Raises
        `StateBackendUnavailableError` when the backend cannot be reached: nothing changes."""
        lease = state.lease_acquire(ALERTS_LEASE, self.owner, ttl=self.lease)
        if lease.holder != self.owner:
            return None
        book = _decode(lease.data)
        now = self.clock.time()
        data = self._read(state, now)
        states: dict[str, AlertState] = {}
        notifications = []
        for rule in self.rules:
            previous = book.states.get(rule.name, AlertState())
            try:
                holds = bool(rule.rule.holds(data))
            except (ArithmeticError, KeyError, ValueError):
                _log.exception("alert rule %r could not be evaluated", rule.name)
                holds = previous.status == "firing"  # keep what was, rather than flap
            current, notice = step(previous, holds, now, hold=rule.hold, repeat=rule.repeat)
            states[rule.name] = current
            if notice is not None:
                notifications.append(_notification(rule, current, previous, notice, now))
        stored = AlertBook(states=states, evaluated_at=now, leader=self.owner)
        if not state.lease_store(
            ALERTS_LEASE, self.owner, _book_encoder.encode(stored), keep=BOOK_KEEP
        ):
            return None  # deposed meanwhile: the new leader decides and notifies
        failures = self._deliver(notifications)
        return Evaluation(
            at=datetime.fromtimestamp(now, UTC),
            states={name: s.status for name, s in states.items()},
            notifications=tuple(notifications),
            failures=tuple(failures),
        )

    def _read(self, state: StateBackend, now: float) -> _Data:
        queries = [window_query(series, window, now) for series, window in self._windows]
        sums = dict(zip(self._windows, state.slo_read(queries) if queries else [], strict=True))
        breakers = {}
        for connector, vendor in self._breakers:
            plans = self._breaker_plans(connector, vendor)
            breakers[(connector, vendor)] = any(state.breaker(p).state == "open" for p in plans)
        return _Data(sums, self._slos, breakers)

    def _deliver(self, notifications: Sequence[AlertNotification]) -> list[str]:
        failures = []
        rules = {rule.name: rule for rule in self.rules}
        for notification in notifications:
            for name in rules[notification.rule].notify:
                try:
                    self.sinks[name].notify(notification)
                except Exception as exc:  # noqa: BLE001 - one sink's failure stops no other
                    # Our own errors' messages hold no secret; another library's text may.
                    why = exc.message if isinstance(exc, ConnectorError) else type(exc).__name__
                    failures.append(f"{name}: {why}")
                    _log.error(
                        "alert %r (%s) not delivered to %s: %s",
                        notification.rule,
                        notification.status,
                        name,
                        why,
                    )
        return failures

    def release(self, state: StateBackend) -> None:
        """Give the lease up (a closing manager), so another worker takes over at once."""
        state.lease_release(ALERTS_LEASE, self.owner)


def _notification(
    rule: AlertRule,
    current: AlertState,
    previous: AlertState,
    notice: Literal["firing", "resolved"],
    now: float,
) -> AlertNotification:
    since = current.since if notice == "firing" else previous.since
    return AlertNotification(
        id=f"msg_{os.urandom(12).hex()}",
        rule=rule.name,
        status=notice,
        when=rule.when,
        summary=rule.summary,
        since=datetime.fromtimestamp(since if since is not None else now, UTC),
        at=datetime.fromtimestamp(now, UTC),
        reminder=current.reminders if notice == "firing" else 0,
    )


def _decode(data: bytes | None) -> AlertBook:
    if not data:
        return AlertBook()
    try:
        return _book_decoder.decode(data)
    except msgspec.DecodeError:
        _log.warning("the stored alert states could not be read; starting afresh")
        return AlertBook()


# -- what the CLI and the dashboard show -------------------------------------------------------


class AlertStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One rule as it stands."""

    name: str
    when: str
    notify: tuple[str, ...]
    status: Status
    since: datetime | None = None
    last_fired: datetime | None = None
    last_resolved: datetime | None = None
    fired: int = 0


class AlertsReport(msgspec.Struct, frozen=True, kw_only=True):
    """Every rule's state, from the last evaluation by the leader."""

    evaluated_at: datetime | None
    leader: str | None
    rules: tuple[AlertStatus, ...] = ()

    @property
    def firing(self) -> tuple[AlertStatus, ...]:
        return tuple(rule for rule in self.rules if rule.status == "firing")


def alerts_report(
    rules: Sequence[AlertRule], data: bytes | None, holder: str | None
) -> AlertsReport:
    """The report from the stored states (`lease_read`)."""
    book = _decode(data)
    statuses = []
    for rule in rules:
        state = book.states.get(rule.name, AlertState())
        statuses.append(
            AlertStatus(
                name=rule.name,
                when=rule.when,
                notify=rule.notify,
                status=state.status,
                since=_when(state.since),
                last_fired=_when(state.last_fired),
                last_resolved=_when(state.last_resolved),
                fired=state.fired,
            )
        )
    return AlertsReport(evaluated_at=_when(book.evaluated_at), leader=holder, rules=tuple(statuses))


def _when(seconds: float | None) -> datetime | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return datetime.fromtimestamp(seconds, UTC)
