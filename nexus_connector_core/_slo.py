"""Service-level objectives: what ``[connectors.<name>.slo]`` promises, and how well it is kept.

An SLO has up to two kinds of objective over a rolling `window` (30 days by default):

- ``availability = 0.999``: at least 99.9 % of calls succeed. A call that failed counts
  against it, unless the caller caused the failure (an invalid request, a declined payment,
  an unknown object, an idempotency conflict: `CALLER_ERRORS`); a call the caller abandoned
  (cancelled, interrupted) counts neither way.
- ``latency = { p95 = 0.8 }``: at least 95 % of successful calls take at most 0.8 s (and
  ``p99 = 2.0``, ... as many as wanted).

Every worker counts its calls in time buckets of the state backend (`_slo_counts`), so the
figures are the fleet's. For each objective the report gives, as the Google SRE workbook
defines them:

- *attainment*: good events / all events over the window;
- *error budget left*: ``1 - bad / ((1 - target) x events)``: 1 untouched, 0 spent,
  negative when overspent;
- *burn rate* over 1 h, 6 h and 3 d: ``(bad / events) / (1 - target)``: 1 spends the budget
  exactly over the window, 14.4 spends 2 % of a 30-day budget in an hour.

Windows are made of whole buckets: a window of up to 6 h of minutes (the current minute and
the ones before it), a longer one of hours. The arithmetic here is pure: `SloReader` says
which buckets to read and turns the sums into a `SloReport`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from ._config_problems import KeyPath, Problems
from ._config_ranges import DAY, Bounds, between, check_ranges, describe
from ._durations import format_duration, parse_duration
from ._state import SloQuery

__all__ = [
    "BURN_WINDOWS",
    "DEFAULT_LATENCY_BOUNDS",
    "FINE_LIMIT",
    "MAX_WINDOW",
    "Objective",
    "ObjectiveStatus",
    "SloConfig",
    "SloReader",
    "SloReport",
    "SloSpec",
    "SloStatus",
    "WindowCounts",
    "check_window",
    "field_name",
    "resolve_slo",
    "window_query",
]

#: The burn-rate windows every report gives (seconds, label).
BURN_WINDOWS: tuple[tuple[float, str], ...] = ((3600.0, "1h"), (21600.0, "6h"), (259200.0, "3d"))
#: Windows up to this many seconds are counted in minutes; longer ones in hours.
FINE_LIMIT = 6 * 3600.0
#: The longest window an SLO or an alert rule may use: 90 days.
MAX_WINDOW = 90 * DAY
#: Upper bounds (seconds) of the latency histogram every call is counted in; the thresholds
#: of SLOs and alert rules are added to them, so each is decided exactly.
DEFAULT_LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_LATENCY = Bounds("float", ge=0.001, le=DAY)
_PERCENTILE = re.compile(r"p([0-9]{1,2}(?:\.[0-9]{1,3})?)")


# -- the config ---------------------------------------------------------------------------


class SloObjectives(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An operation's table in ``[connectors.<name>.slo.operations.<operation>]``."""

    #: The share of calls that must succeed, e.g. 0.999.
    availability: Annotated[float, between(0.0, 0.999999, above=True)] | None = None
    #: Percentile -> seconds: ``{ p95 = 0.8 }`` (95 % of successful calls within 0.8 s);
    #: each from 0.001 to 86400 seconds.
    latency: dict[str, float] = {}
    #: The rolling window, as a duration (``30d``); the connector's when not given.
    window: str | None = None

    def __post_init__(self) -> None:
        check_ranges(self)


class SloConfig(SloObjectives, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[connectors.<name>.slo]`` table."""

    #: SLOs of single operations, by operation name (each counts only that operation).
    operations: dict[str, SloObjectives] = {}


class Objective(msgspec.Struct, frozen=True, kw_only=True):
    """One objective: ``availability``, or ``latency`` with its `threshold` in seconds."""

    kind: Literal["availability", "latency"]
    target: float
    threshold: float | None = None

    @property
    def name(self) -> str:
        """``availability`` or ``latency p95 <= 800ms``."""
        if self.threshold is None:
            return self.kind
        return f"latency p{_percent(self.target)} <= {format_duration(self.threshold)}"

    def bad_and_total(self, counts: WindowCounts) -> tuple[int, int]:
        """The bad events and all events of this objective in `counts`."""
        if self.threshold is None:
            return counts.failed, counts.ok + counts.failed
        return counts.slower_than(self.threshold), counts.ok

    def burn_rate(self, counts: WindowCounts) -> float:
        """How fast the budget burns in `counts`: 1 spends it exactly over the window."""
        bad, total = self.bad_and_total(counts)
        return (bad / total) / (1.0 - self.target) if total else 0.0


class SloSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A resolved SLO: the connector (and operation) it covers, its window and objectives."""

    connector: str
    operation: str | None = None
    window: float
    objectives: tuple[Objective, ...]

    @property
    def name(self) -> str:
        """``payment`` or ``payment.capture``: how alert rules and reports name it."""
        return self.connector if self.operation is None else f"{self.connector}.{self.operation}"


def _percent(target: float) -> str:
    return f"{target * 100:.3f}".rstrip("0").rstrip(".")


def check_window(text: Any) -> float:
    """A window's seconds: whole minutes up to 6 h, whole hours beyond, from 1 min to 90 d;
    `ValueError` saying which rule it breaks."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as 30d, got a {type(text).__name__}")
    seconds = parse_duration(text)
    if not 60.0 <= seconds <= MAX_WINDOW:
        raise ValueError(f"a window must be from 1m to 90d, got {text!r}")
    unit = 60.0 if seconds <= FINE_LIMIT else 3600.0
    if seconds % unit:
        what = "whole minutes" if unit == 60.0 else "whole hours (beyond 6h)"
        raise ValueError(f"a window must be {what}, got {text!r}")
    return seconds


def resolve_slo(
    connector: str, table: Any, operations: Iterable[str], path: KeyPath, problems: Problems
) -> tuple[SloSpec, ...] | None:
    """The SLOs of one ``[connectors.<name>.slo]`` table (the connector's, then each
    operation's); None, with problems recorded at their key paths, when it is invalid."""
    found = len(problems.items)
    config: SloConfig | None = problems.convert(table, SloConfig, path)
    if config is None:
        return None
    known = tuple(operations)
    window = _window(config.window or "30d", (*path, "window"), problems)
    specs = []
    own = _objectives(config, (*path,), problems)
    if own:
        specs.append(SloSpec(connector=connector, window=window or 0.0, objectives=own))
    elif not config.operations:
        problems.add(path, "an SLO needs availability = 0.999 or latency = { p95 = 0.8 }")
    for name, objectives in config.operations.items():
        where = (*path, "operations", name)
        if name not in known:
            problems.add(where, f"no operation {name!r}; this connector has: {', '.join(known)}")
            continue
        op_window = window
        if objectives.window is not None:
            op_window = _window(objectives.window, (*where, "window"), problems)
        listed = _objectives(objectives, where, problems)
        if not listed:
            problems.add(where, "an SLO needs availability = 0.999 or latency = { p95 = 0.8 }")
            continue
        specs.append(
            SloSpec(connector=connector, operation=name, window=op_window or 0.0, objectives=listed)
        )
    if len(problems.items) > found:
        return None
    return tuple(specs)


def _window(text: str, path: KeyPath, problems: Problems) -> float | None:
    try:
        return check_window(text)
    except ValueError as exc:
        problems.add(path, str(exc))
        return None


def _objectives(config: SloObjectives, path: KeyPath, problems: Problems) -> tuple[Objective, ...]:
    objectives = []
    if config.availability is not None:
        objectives.append(Objective(kind="availability", target=config.availability))
    for key, seconds in config.latency.items():
        match = _PERCENTILE.fullmatch(key)
        percent = float(match.group(1)) if match else 0.0
        if not 0.0 < percent < 100.0:
            problems.add(
                (*path, "latency", key),
                "expected a percentile such as p50, p95, p99 or p99.9 (a share of successful "
                "calls, below 100) set to seconds",
            )
            continue
        if isinstance(seconds, bool) or not _LATENCY.admits(seconds):
            shown = repr(seconds) if len(repr(seconds)) <= 24 else "a huge number"
            problems.add(
                (*path, "latency", key),
                f"must be a number of seconds {describe(_LATENCY)}, got {shown}",
            )
            continue
        objectives.append(Objective(kind="latency", target=percent / 100.0, threshold=seconds))
    return tuple(objectives)


# -- counts in a window ---------------------------------------------------------------------


def field_name(operation: str, what: str | float) -> str:
    """A counter's field: ``send|s`` (successes), ``send|f`` (failures that count),
    ``send|x`` (failures the caller caused), ``send|0.5`` (successes within 0.5 s and above
    the next lower bound)."""
    return f"{operation}|{what if isinstance(what, str) else repr(what)}"


class WindowCounts(msgspec.Struct, frozen=True, kw_only=True):
    """A connector's (or one operation's) calls in a window, every worker's."""

    ok: int = 0
    #: Failures that count against availability.
    failed: int = 0
    #: Failures the caller caused (they count nowhere).
    excluded: int = 0
    #: (upper bound in seconds, successful calls above the bound before it), by bound.
    latency: tuple[tuple[float, int], ...] = ()

    @property
    def calls(self) -> int:
        """Calls that count: successes and failures that count."""
        return self.ok + self.failed

    @property
    def error_rate(self) -> float:
        """Failures that count / calls that count (0 without calls)."""
        return self.failed / self.calls if self.calls else 0.0

    def slower_than(self, threshold: float) -> int:
        """Successful calls that took longer than `threshold` seconds (exact when the
        threshold is one of the histogram's bounds, as configured thresholds are)."""
        return sum(count for bound, count in self.latency if bound > threshold)

    def percentile(self, share: float) -> float | None:
        """The upper bound of the histogram bucket holding the `share` percentile of the
        successful calls' durations (so ``p95 > 2s`` is exact when 2 s is a bound); inf
        beyond the last bound; None without successful calls."""
        total = sum(count for _, count in self.latency)
        if not total:
            return None
        rank = max(math.ceil(share * total), 1)
        seen = 0
        for bound, count in self.latency:
            seen += count
            if seen >= rank:
                return bound
        return math.inf

    @classmethod
    def from_sums(cls, sums: Mapping[str, int], operation: str | None = None) -> WindowCounts:
        """The counts of `operation` (every operation when None) in a `slo_read` answer."""
        ok = failed = excluded = 0
        latency: dict[float, int] = {}
        for field, count in sums.items():
            op, _, what = field.rpartition("|")
            if operation is not None and op != operation:
                continue
            if what == "s":
                ok += count
            elif what == "f":
                failed += count
            elif what == "x":
                excluded += count
            else:
                try:
                    bound = float(what)
                except ValueError:
                    continue  # a field of a later version: not ours to read
                latency[bound] = latency.get(bound, 0) + count
        return cls(ok=ok, failed=failed, excluded=excluded, latency=tuple(sorted(latency.items())))


def window_query(series: str, window: float, now: float) -> SloQuery:
    """The buckets of a `window` (seconds) ending now (epoch seconds): the current minute or
    hour and the ones before it."""
    resolution = 60 if window <= FINE_LIMIT else 3600
    last = int(now // resolution)
    return SloQuery(
        series=series, resolution=resolution, first=last - int(window // resolution) + 1, last=last
    )


# -- the report -----------------------------------------------------------------------------


class ObjectiveStatus(msgspec.Struct, frozen=True, kw_only=True):
    """How one objective stands over its window.

    Attributes:
        objective: ``availability`` or ``latency p95 <= 800ms``.
        target: the share of events that must be good.
        window: the SLO's window (``30d``).
        events / bad: the events the objective counts over the window, and the bad ones.
        attainment: good / events (None without events).
        budget_left: the share of the error budget left (negative: overspent).
        burn_rates: the burn rate over 1 h, 6 h and 3 d.
    """

    objective: str
    target: float
    window: str
    events: int
    bad: int
    attainment: float | None
    budget_left: float
    burn_rates: dict[str, float]


class SloStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One SLO: a connector's (``operation`` None) or one operation's."""

    name: str
    connector: str
    operation: str | None = None
    objectives: tuple[ObjectiveStatus, ...] = ()


class SloReport(msgspec.Struct, frozen=True, kw_only=True):
    """Every configured SLO as the fleet's counts stand (`manager.slo()`)."""

    checked_at: datetime
    slos: tuple[SloStatus, ...] = ()


class SloReader:
    """What to read for a report and how to read it (pure: the I/O is the caller's).

    >>> reader = SloReader(specs)                                     # doctest: +SKIP
    >>> sums = state.slo_read(reader.queries(now))                    # doctest: +SKIP
    >>> report = reader.report(now, sums)                             # doctest: +SKIP
    """

    def __init__(self, specs: Sequence[SloSpec]) -> None:
        self.specs = tuple(specs)
        windows: dict[tuple[str, float], None] = {}
        for spec in self.specs:
            windows[(spec.connector, spec.window)] = None
            for seconds, _ in BURN_WINDOWS:
                windows[(spec.connector, seconds)] = None
        self._windows = tuple(windows)

    def queries(self, now: float) -> list[SloQuery]:
        """The bucket ranges a report at `now` (epoch seconds) needs, one per window."""
        return [window_query(series, window, now) for series, window in self._windows]

    def report(self, now: float, sums: Sequence[Mapping[str, int]]) -> SloReport:
        """The report from the answers to `queries(now)`, in their order."""
        found = dict(zip(self._windows, sums, strict=True))
        slos = []
        for spec in self.specs:

            def counts(window: float, spec: SloSpec = spec) -> WindowCounts:
                return WindowCounts.from_sums(found[(spec.connector, window)], spec.operation)

            whole = counts(spec.window)
            objectives = []
            for objective in spec.objectives:
                bad, total = objective.bad_and_total(whole)
                allowed = (1.0 - objective.target) * total
                objectives.append(
                    ObjectiveStatus(
                        objective=objective.name,
                        target=objective.target,
                        window=format_duration(spec.window),
                        events=total,
                        bad=bad,
                        attainment=(total - bad) / total if total else None,
                        budget_left=1.0 - bad / allowed if allowed else 1.0,
                        burn_rates={
                            label: objective.burn_rate(counts(seconds))
                            for seconds, label in BURN_WINDOWS
                        },
                    )
                )
            slos.append(
                SloStatus(
                    name=spec.name,
                    connector=spec.connector,
                    operation=spec.operation,
                    objectives=tuple(objectives),
                )
            )
        return SloReport(checked_at=datetime.fromtimestamp(now, UTC), slos=tuple(slos))
