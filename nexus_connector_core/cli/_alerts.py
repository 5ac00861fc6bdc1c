"""``nexus-connector alerts``: the alert rules, their state and when each last fired.

The states are those the leader stored at its last evaluation (in the state backend, so any
worker's view); the command builds no manager and evaluates nothing. ``--check`` only
validates the rules (the language, the connectors, vendors and SLOs they name, the sinks they
notify), printing each problem with its key path and column.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from .._alerts import ALERTS_LEASE, AlertsReport, alerts_report
from .._config import load_config
from .._errors import ConfigError
from .._state import StateBackend
from ._app import EXIT_CALL_FAILED, config_option, echo_json, json_option, report_config_error
from ._slo import read_or_exit

__all__ = ["alerts"]

_COLOURS = {"inactive": "green", "pending": "yellow", "firing": "red"}


@click.command()
@config_option
@json_option
@click.option("--check", is_flag=True, help="Only validate the rules; exit 3 when one is wrong.")
def alerts(config_path: Path | None, as_json: bool, check: bool) -> None:
    """Show every alert rule: its state, since when, and when it last fired.

    Exits 1 when an alert is firing, 3 when the config (a rule) is invalid, 5 when the state
    backend cannot be reached.
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        report_config_error(exc, as_json)
        return
    rules = config.alerting.rules
    if check:
        if as_json:
            echo_json(
                {
                    "ok": True,
                    "source": config.source,
                    "rules": [
                        {"name": r.name, "when": r.when, "notify": list(r.notify)} for r in rules
                    ],
                }
            )
        else:
            click.echo(f"{config.source}: {len(rules)} alert rule(s), all valid")
            for rule in rules:
                click.echo(f"  {rule.name}: {rule.when}  -> {', '.join(rule.notify)}")
        return

    def read(backend: StateBackend) -> AlertsReport:
        lease = backend.lease_read(ALERTS_LEASE)
        return alerts_report(rules, lease.data, lease.holder)

    report: AlertsReport = read_or_exit(config, as_json, read)
    if as_json:
        echo_json(report)
    elif not rules:
        click.echo(f"{config.source}: no alert rule; add an [alerts.<name>] table")
    else:
        _print(report)
    if report.firing:
        sys.exit(EXIT_CALL_FAILED)


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def _print(report: AlertsReport) -> None:
    rows = [("RULE", "STATE", "SINCE", "LAST FIRED", "LAST RESOLVED", "FIRED", "WHEN")]
    for rule in report.rules:
        rows.append(
            (
                rule.name,
                rule.status,
                _when(rule.since),
                _when(rule.last_fired),
                _when(rule.last_resolved),
                str(rule.fired),
                rule.when,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        if number:
            cells[1] = click.style(cells[1], fg=_COLOURS[row[1]])
        click.echo("  ".join(cells).rstrip())
    evaluated = _when(report.evaluated_at)
    leader = report.leader or "none now"
    click.echo(f"  last evaluated {evaluated} UTC; leader: {leader}")
