"""The ``[alerting]`` and ``[alerts.<name>]`` tables, checked against the connectors and the
installed alert sinks.

```toml
[alerting]
evaluate_every = 15.0        # seconds between two evaluations by the leader (0: only on demand)
flush_every = 1.0            # seconds between two flushes of a worker's call counts
lease = 30.0                 # seconds the leader's lease lasts unless renewed
repeat = "4h"                # a firing alert is announced again this often (per rule: repeat)
count_calls = false          # count calls with no SLO or rule (for the dashboard)

[alerting.sinks.webhook.ops]
url = "https://ops.example.com/hooks/nexus"
secret = "env:OPS_WEBHOOK_SECRET"

[alerts.payment-burning]
when = "burn_rate(payment, 1h) > 14.4 and burn_rate(payment, 5m) > 14.4"
notify = ["log", "webhook:ops"]
summary = "payment is spending its error budget 14x too fast"
```
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import msgspec

from ._alert_rules import AlertRuleError, parse_rule
from ._alerts import AlertRule
from ._categories import CATEGORIES
from ._config_problems import KeyPath, Problems
from ._config_ranges import between, check_ranges
from ._durations import parse_duration
from ._errors import ConnectorError
from ._plugins import PluginRegistry
from ._registration import Registration
from ._slo import BURN_WINDOWS, SloSpec

__all__ = ["AlertingConfig", "AlertingSettings", "SinkTarget", "resolve_alerting"]

_RULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_TARGET = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class AlertingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[alerting]`` table."""

    #: Seconds between two evaluations of the rules by the leader; 0 evaluates only when
    #: the application asks (``manager.monitor.evaluate()``).
    evaluate_every: Annotated[float, between(0.0, 3600.0)] = 15.0
    #: Seconds between two flushes of a worker's call counts to the state backend.
    flush_every: Annotated[float, between(0.05, 60.0)] = 1.0
    #: Seconds the leader's lease lasts unless renewed (it renews it at each evaluation).
    lease: Annotated[float, between(1.0, 3600.0)] = 30.0
    #: How often a firing alert is announced again (a rule's own ``repeat`` wins).
    repeat: str = "4h"
    #: Count calls even with no SLO or rule (the dashboard's rates and latencies).
    count_calls: bool = False
    #: Options of each sink's targets: ``[alerting.sinks.webhook.ops]``.
    sinks: dict[str, dict[str, dict[str, Any]]] = {}

    def __post_init__(self) -> None:
        check_ranges(self)


class AlertRuleConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One ``[alerts.<name>]`` table."""

    #: The condition, in the rule language (docs/observability.md, "Alert rules").
    when: str
    #: Sinks to notify: ``log``, ``webhook:<target>``, or a plugin's.
    notify: list[str] = msgspec.field(default_factory=lambda: ["log"])
    #: How often a firing alert is announced again (default: ``[alerting] repeat``).
    repeat: str | None = None
    #: One line for people, sent with every notification.
    summary: str = ""


class SinkTarget(msgspec.Struct, frozen=True, kw_only=True):
    """A sink as a rule names it (``webhook:ops``): its registration and target options."""

    name: str
    registration: Registration
    target: str | None = None
    options: Any = None


class AlertingSettings(msgspec.Struct, frozen=True, kw_only=True):
    """``[alerting]`` and ``[alerts]``, resolved, with every connector's SLOs."""

    evaluate_every: float = 15.0
    flush_every: float = 1.0
    lease: float = 30.0
    count_calls: bool = False
    rules: tuple[AlertRule, ...] = ()
    sinks: Mapping[str, SinkTarget] = {}
    slos: tuple[SloSpec, ...] = ()
    #: Latency thresholds the rules compare percentiles with (histogram bounds).
    thresholds: tuple[float, ...] = ()

    @property
    def counting(self) -> bool:
        """Whether calls are counted: an SLO, a rule or ``count_calls`` asks for it."""
        return bool(self.slos or self.rules or self.count_calls)

    @property
    def longest_window(self) -> float:
        """The longest window any SLO, rule or burn rate reads, in seconds."""
        windows = [seconds for seconds, _ in BURN_WINDOWS]
        windows += [spec.window for spec in self.slos]
        for rule in self.rules:
            windows += [window for _, window in rule.rule.needs.windows]
        return max(windows)


class _Scope:
    """What rules may name (`RuleScope`), from the resolved connectors."""

    def __init__(self, connectors: Mapping[str, Any], slos: tuple[SloSpec, ...]) -> None:
        self._connectors = connectors
        self._slos = {spec.name: spec for spec in slos}

    def operations(self, connector: str) -> tuple[str, ...] | None:
        settings = self._connectors.get(connector)
        if settings is None:
            return None
        declared = getattr(settings, "declared", None)  # category api: its endpoints
        category = declared if declared is not None else CATEGORIES[settings.category]
        return tuple(category.operations)

    def vendors(self, connector: str) -> tuple[str, ...]:
        return tuple(v.key for v in self._connectors[connector].vendors)

    def slo(self, target: str) -> SloSpec | None:
        return self._slos.get(target)

    def connectors(self) -> tuple[str, ...]:
        return tuple(self._connectors)


#: Resolves a table's secret options in place (`_config._resolve_secret_options`).
SecretResolver = Callable[[dict[str, Any], Any, tuple[str, ...]], bool]


def resolve_alerting(
    alerting: Any,
    alerts: Any,
    connectors: Mapping[str, Any],
    *,
    registry: PluginRegistry,
    problems: Problems,
    resolve_secrets: SecretResolver,
) -> AlertingSettings | None:
    """Check ``[alerting]`` and ``[alerts]``; None, with problems at their key paths, when
    either is invalid."""
    found = len(problems.items)
    config: AlertingConfig | None = problems.convert(alerting, AlertingConfig, ("alerting",))
    if config is None:
        return None
    default_repeat = _duration(config.repeat, ("alerting", "repeat"), problems) or 4 * 3600.0
    if config.evaluate_every >= config.lease:
        problems.add(
            ("alerting", "lease"),
            f"must be longer than evaluate_every ({config.evaluate_every:g} s): the leader "
            "renews its lease at each evaluation, and would lose it in between",
        )
    slos = tuple(spec for settings in connectors.values() for spec in settings.slos)
    scope = _Scope(connectors, slos)
    if not isinstance(alerts, dict):
        problems.add(("alerts",), "expected a table of rules ([alerts.<name>])")
        return None
    sinks: dict[str, SinkTarget] = {}
    rules = []
    thresholds: set[float] = set()
    for name, table in alerts.items():
        path: KeyPath = ("alerts", name)
        if not _RULE_NAME.fullmatch(name):
            problems.add(path, "a rule name is 1 to 64 lowercase letters, digits, '-' or '_'")
            continue
        raw: AlertRuleConfig | None = problems.convert(table, AlertRuleConfig, path)
        if raw is None:
            continue
        try:
            parsed = parse_rule(raw.when, scope)
        except AlertRuleError as exc:
            problems.add((*path, "when"), str(exc))
            continue
        thresholds |= parsed.needs.thresholds
        for index, entry in enumerate(raw.notify):
            where = (*path, "notify", index)
            if entry not in sinks:
                target = _sink(
                    entry,
                    config,
                    registry=registry,
                    where=where,
                    problems=problems,
                    resolve_secrets=resolve_secrets,
                )
                if target is not None:
                    sinks[entry] = target
        repeat = default_repeat
        if raw.repeat is not None:
            repeat = _duration(raw.repeat, (*path, "repeat"), problems) or repeat
        rules.append(
            AlertRule(
                name=name,
                when=raw.when,
                rule=parsed,
                notify=tuple(dict.fromkeys(raw.notify)),
                repeat=repeat,
                summary=raw.summary,
            )
        )
    for sink, targets in config.sinks.items():
        for name in targets:
            if f"{sink}:{name}" not in sinks:
                problems.add(
                    ("alerting", "sinks", sink, name),
                    f"no rule notifies {sink}:{name}; add it to a rule's notify, or remove it",
                )
    if len(problems.items) > found:
        return None
    for spec in slos:
        thresholds |= {o.threshold for o in spec.objectives if o.threshold is not None}
    return AlertingSettings(
        evaluate_every=config.evaluate_every,
        flush_every=config.flush_every,
        lease=config.lease,
        count_calls=config.count_calls,
        rules=tuple(rules),
        sinks=sinks,
        slos=slos,
        thresholds=tuple(sorted(thresholds)),
    )


def _duration(text: str, path: KeyPath, problems: Problems) -> float | None:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        problems.add(path, str(exc))
        return None
    if not 1.0 <= seconds <= 90 * 86400.0:
        problems.add(path, f"must be from 1s to 90d, got {text!r}")
        return None
    return seconds


def _sink(
    entry: str,
    config: AlertingConfig,
    *,
    registry: PluginRegistry,
    where: KeyPath,
    problems: Problems,
    resolve_secrets: SecretResolver,
) -> SinkTarget | None:
    key, colon, target = entry.partition(":")
    if colon and not _TARGET.fullmatch(target):
        problems.add(
            where, f"expected 'sink' or 'sink:target' (a target is a short name), got {entry!r}"
        )
        return None
    try:
        registration = registry.find("alert_sink", key)
        options_type = registration.options_type()
    except ConnectorError as exc:
        problems.add(where, exc.message)
        return None
    table = config.sinks.get(key, {}).get(target) if colon else None
    if options_type is None:
        if table:
            problems.add(("alerting", "sinks", key, target), f"alert sink {key!r} takes no options")
            return None
        return SinkTarget(name=entry, registration=registration, target=target or None)
    if table is None:
        problems.add(
            where,
            f"alert sink {key!r} needs a target with options: write {key}:<name> and add an "
            f"[alerting.sinks.{key}.<name>] table"
            if not colon
            else f"no [alerting.sinks.{key}.{target}] table for {entry!r}",
        )
        return None
    path = ("alerting", "sinks", key, target)
    table = dict(table)
    if not resolve_secrets(table, options_type, path):
        return None
    options = problems.convert(table, options_type, path)
    if options is None:
        return None
    return SinkTarget(name=entry, registration=registration, target=target, options=options)
