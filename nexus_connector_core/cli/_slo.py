"""``nexus-connector slo``: every configured SLO as the fleet's counts stand.

It reads the counts every worker added to the state backend (no manager is built, so the
command counts no call and evaluates no rule): attainment and error budget left over each
SLO's window, burn rates over 1 h, 6 h and 3 d.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .._clock import SYSTEM_CLOCK
from .._config import Config, load_config
from .._errors import ConfigError, ConnectorError, StateBackendUnavailableError
from .._slo import SloReader, SloReport
from .._state import BackendSettings, StateBackend
from ._app import (
    EXIT_CALL_FAILED,
    EXIT_STATE,
    config_option,
    echo_json,
    json_option,
    report_config_error,
)

__all__ = ["open_state", "slo"]


def open_state(config: Config) -> StateBackend:
    """The configured state backend (synchronous), as a manager would build it."""
    settings = config.state
    factory = settings.backend.load()
    backend: StateBackend = factory(
        BackendSettings(options=settings.options, prefix=settings.prefix, clock=SYSTEM_CLOCK)
    )
    return backend


def read_or_exit(config: Config, as_json: bool, read: Any) -> Any:
    """`read(backend)`, or exit `EXIT_STATE` saying the backend cannot be reached."""
    try:
        backend = open_state(config)
    except ConnectorError as exc:
        click.secho(f"could not open the state backend: {exc}", fg="red", err=True)
        sys.exit(EXIT_STATE)
    try:
        return read(backend)
    except StateBackendUnavailableError as exc:
        if as_json:
            echo_json({"ok": False, "error": exc.message})
        else:
            click.secho(f"the state backend cannot be reached: {exc.message}", fg="red", err=True)
        sys.exit(EXIT_STATE)
    finally:
        backend.close()


@click.command()
@config_option
@json_option
def slo(config_path: Path | None, as_json: bool) -> None:
    """Show every SLO: attainment, error budget left, burn rates (1h, 6h, 3d).

    Exits 1 when an error budget is spent, 3 when the config is invalid, 5 when the state
    backend cannot be reached.
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        report_config_error(exc, as_json)
        return
    reader = SloReader(config.alerting.slos)

    def read(backend: StateBackend) -> SloReport:
        now = SYSTEM_CLOCK.time()
        queries = reader.queries(now)
        return reader.report(now, backend.slo_read(queries) if queries else [])

    report: SloReport = read_or_exit(config, as_json, read)
    if as_json:
        echo_json(report)
    elif not report.slos:
        click.echo(f"{config.source}: no SLO configured; add a [connectors.<name>.slo] table")
    else:
        _print(report)
    spent = any(o.budget_left <= 0 for s in report.slos for o in s.objectives if o.events)
    if spent:
        sys.exit(EXIT_CALL_FAILED)


def _percent(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _print(report: SloReport) -> None:
    rows: list[tuple[str, ...]] = [
        (
            "SLO",
            "OBJECTIVE",
            "TARGET",
            "WINDOW",
            "EVENTS",
            "ATTAINED",
            "BUDGET LEFT",
            "BURN 1h",
            "6h",
            "3d",
        )
    ]
    for status in report.slos:
        for index, objective in enumerate(status.objectives):
            rows.append(
                (
                    status.name if index == 0 else "",
                    objective.objective,
                    _percent(objective.target),
                    objective.window,
                    str(objective.events),
                    _percent(objective.attainment),
                    _percent(objective.budget_left, 1),
                    *(f"{objective.burn_rates[w]:.2f}" for w in ("1h", "6h", "3d")),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        if number and row[6] != "-" and row[4] != "0" and float(row[6].rstrip("%")) <= 0:
            cells[6] = click.style(cells[6], fg="red", bold=True)
        click.echo("  ".join(cells).rstrip())
    click.echo(f"  as of {report.checked_at:%Y-%m-%d %H:%M:%S} UTC")
