"""``nexus-connector status``: each connector's health, as every worker shares it.

Breaker states and their windows come from the state backend (on Redis, the whole fleet's
view); each connector's calls, error rate and p50/p95 over the last 5 minutes from the shared
call counts or the SQL log (`recent_traffic`); with ``--checks`` each adapter's own health
check runs too. ``--watch SECONDS`` redraws the table in place until interrupted.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import click
import msgspec

from .._config import load_config
from .._errors import ConfigError, ConnectorError, StateBackendUnavailableError
from .._health import HealthReport
from .._manager import ConnectorManager
from .._recent_traffic import RECENT_WINDOW, RecentTraffic, recent_traffic
from .._sql_log_store import LogUnavailableError
from .._state import LimiterSnapshot
from ._app import EXIT_CALL_FAILED, config_option, echo_json, json_option, report_config_error

_COLOURS = {"healthy": "green", "degraded": "yellow", "unhealthy": "red"}


@click.command()
@config_option
@json_option
@click.option("--checks", is_flag=True, help="Also run each adapter's own health check.")
@click.option(
    "--watch",
    type=click.FloatRange(min=0.5, max=3600),
    default=None,
    metavar="SECONDS",
    help="Redraw every SECONDS seconds until interrupted (Ctrl-C).",
)
def status(config_path: Path | None, as_json: bool, checks: bool, watch: float | None) -> None:
    """Show every connector's vendors, breaker states, health and recent traffic.

    Recent traffic is each connector's calls, error rate and p50/p95 over the last 5
    minutes, every worker's: from the call counts on Redis when calls are counted, else from
    the SQL log.

    Exits 1 when a connector is unhealthy (no vendor can be called), 3 when the config is
    invalid.
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        report_config_error(exc, as_json)
        return
    try:
        manager = ConnectorManager(config)
    except ConnectorError as exc:
        click.secho(f"could not build the manager: {exc}", fg="red", err=True)
        sys.exit(EXIT_CALL_FAILED)
    with manager:
        while True:
            report = manager.health(checks=checks)
            try:
                traffic = recent_traffic(config, manager.state, manager.clock.time())
                unread = None
            except (StateBackendUnavailableError, LogUnavailableError) as exc:
                traffic, unread = None, str(exc)
            if as_json:
                shown = msgspec.to_builtins(report)
                shown["traffic"] = traffic
                echo_json(shown)
            else:
                if watch is not None:
                    click.clear()
                _print(report, config.source, traffic, unread)
            if watch is None:
                break
            try:
                time.sleep(watch)
            except KeyboardInterrupt:
                break
    if not report.ok:
        sys.exit(EXIT_CALL_FAILED)


def _print(
    report: HealthReport,
    source: str,
    traffic: dict[str, RecentTraffic] | None,
    unread: str | None,
) -> None:
    click.echo(
        f"{source}: "
        + click.style(report.status, fg=_COLOURS[report.status], bold=True)
        + f" at {report.checked_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    calls = f"CALLS {RECENT_WINDOW / 60:.0f}M"
    header = ("CONNECTOR", "STATUS", "VENDOR", "BREAKER", "WINDOW", "HEADROOM", "CHECK")
    rows = [(*header, calls, "ERRORS", "P50", "P95")]
    for name, connector in report.connectors.items():
        recent = _recent(traffic.get(name) if traffic else None)
        for index, vendor in enumerate(connector.vendors):
            breaker = (vendor.breaker or "-").replace("_", "-")
            if vendor.breaker == "open":
                breaker += f" ({vendor.retry_after:.0f}s)"
            rows.append(
                (
                    name if index == 0 else "",
                    connector.status if index == 0 else "",
                    vendor.vendor,
                    breaker,
                    f"{vendor.window_failures}/{vendor.window_calls} failed",
                    _headroom(vendor.limiter),
                    vendor.check or "-",
                    *(recent if index == 0 else ("", "", "", "")),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        if number and row[1]:
            cells[1] = click.style(cells[1], fg=_COLOURS[row[1]])
        click.echo("  ".join(cells).rstrip())
    for name, connector in report.connectors.items():
        for reason in connector.reasons:
            click.echo(f"  {name}: {reason}")
    if report.dropped_log_records:
        click.echo(f"  integration log: {report.dropped_log_records} records dropped")
    if unread is not None:
        click.echo(f"  recent traffic unknown: {unread}")
    elif traffic is None:
        click.echo(
            "  recent traffic: shared by no worker; count calls on Redis ([alerting] count_calls"
            ' = true) or log them ([observability] loggers = ["sql"])'
        )
    elif any(t.source == "counts" for t in traffic.values()):
        click.echo("  p50/p95 of successful calls: upper bounds of latency buckets (<=)")


def _recent(traffic: RecentTraffic | None) -> tuple[str, str, str, str]:
    """Calls, error rate, p50 and p95 (``-`` when unknown)."""
    if traffic is None or not traffic.calls:
        return ("-" if traffic is None else "0", "-", "-", "-")
    bound = "<=" if traffic.source == "counts" else ""
    return (
        str(traffic.calls),
        f"{traffic.error_rate or 0.0:.1%}",
        _ms(traffic.p50_ms, bound),
        _ms(traffic.p95_ms, bound),
    )


def _ms(value: float | None, bound: str) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return ">last bound"
    return f"{bound}{value:.0f}ms" if value >= 10 else f"{bound}{value:.1f}ms"


def _headroom(limiter: LimiterSnapshot | None) -> str:
    """``12/20`` tokens free (``0/20 (1.5s)`` when none is, with the wait); ``-`` unlimited."""
    if limiter is None:
        return "-"
    free = f"{limiter.available}/{limiter.capacity}"
    return f"{free} ({limiter.retry_after:.1f}s)" if not limiter.available else free
