"""``nexus-connector check``: validate a config and resolve every connector."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .._adapters import SupportsHealthCheck
from .._config import load_config
from .._errors import ConfigError, ConnectorError
from .._manager import ConnectorManager
from ._app import (
    EXIT_CALL_FAILED,
    EXIT_CONFIG,
    EXIT_PLUGIN,
    config_option,
    echo_json,
    json_option,
    report_config_error,
)


@click.command()
@config_option
@json_option
@click.option("--health", is_flag=True, help="Also run each adapter's own health check.")
def check(config_path: Path | None, as_json: bool, health: bool) -> None:
    """Validate the config and build every connector's adapter.

    Exits 3 when the config is invalid, 4 when a vendor's plugin cannot be loaded, 1 when
    --health finds an unhealthy adapter.
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        report_config_error(exc, as_json)
        return
    rows: list[dict[str, Any]] = []
    worst = 0
    with ConnectorManager(config) as manager:
        for name, settings in config.connectors.items():
            reg = settings.vendor
            row: dict[str, Any] = {
                "name": name,
                "category": settings.category,
                "vendor": reg.key,
                "plugin": reg.plugin,
                "distribution": reg.distribution,
                "version": reg.version,
                "status": "ok",
                "error": None,
            }
            try:
                adapter = manager.connector(name).adapter
                if health and isinstance(adapter, SupportsHealthCheck):
                    problem = adapter.health_check()
                    if problem:
                        row.update(status="unhealthy", error=problem)
                        worst = worst or EXIT_CALL_FAILED
            except ConnectorError as exc:
                row.update(status="error", error=str(exc))
                worst = EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_PLUGIN
            rows.append(row)
    if as_json:
        echo_json({"ok": worst == 0, "source": config.source, "connectors": rows, "errors": []})
    else:
        click.echo(f"Config {config.source}: {len(rows)} connector(s)")
        for row in rows:
            mark = (
                click.style("ok", fg="green")
                if row["status"] == "ok"
                else click.style(row["status"], fg="red")
            )
            origin = f"{row['distribution'] or row['plugin']} {row['version'] or ''}".strip()
            click.echo(
                f"  {mark:>4}  {row['name']} ({row['category']}): {row['vendor']} [{origin}]"
            )
            if row["error"]:
                click.echo(f"        {row['error']}")
    if worst:
        sys.exit(worst)
