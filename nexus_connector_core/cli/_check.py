"""``nexus-connector check``: validate a config, reach the state backend, resolve every
connector and, with ``--health``, run each adapter's own health check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .._adapters import SupportsHealthCheck
from .._config import Config, load_config
from .._errors import ConfigError, ConnectorError, PluginError
from .._manager import ConnectorManager
from .._state import StateBackend
from ._app import (
    EXIT_CALL_FAILED,
    EXIT_CONFIG,
    EXIT_PLUGIN,
    EXIT_STATE,
    config_option,
    echo_json,
    json_option,
    report_config_error,
)

_CONSEQUENCE = {
    "open": "with fail_mode = 'open', calls go ahead without breaker, rate limit or "
    "idempotency (a retried payment may be charged twice)",
    "closed": "with fail_mode = 'closed', every call fails with StateBackendUnavailableError",
}


@click.command()
@config_option
@json_option
@click.option("--health", is_flag=True, help="Also run each adapter's own health check.")
def check(config_path: Path | None, as_json: bool, health: bool) -> None:
    """Validate the config, reach the state backend and build every connector's adapter.

    Exits 3 when the config is invalid, 4 when a vendor's plugin cannot be loaded, 5 when
    the state backend cannot be reached, 1 when --health finds an unhealthy adapter.
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        report_config_error(exc, as_json)
        return
    state: dict[str, Any] = {
        "backend": config.state.backend.key,
        "fail_mode": config.state.fail_mode,
        "status": "ok",
        "error": None,
    }
    rows: list[dict[str, Any]] = []
    try:
        manager = ConnectorManager(config)
    except Exception as exc:  # noqa: BLE001 - any failure to build the backend is reported
        state.update(status="error", error=_reason(exc, "could not be built"))
        worst = EXIT_PLUGIN if isinstance(exc, PluginError) else EXIT_STATE
    else:
        with manager:
            worst = _probe(manager.state, state)
            rows, found = _connectors(manager, config, health)
            worst = found if found in (EXIT_CONFIG, EXIT_PLUGIN) else worst or found
    if as_json:
        echo_json(
            {
                "ok": worst == 0,
                "source": config.source,
                "state": state,
                "connectors": rows,
                "errors": [],
            }
        )
    else:
        _print(config, state, rows)
    if worst:
        sys.exit(worst)


def _probe(backend: Any, state: dict[str, Any]) -> int:
    """Ping the state backend; the exit code it earns (0 when it answers)."""
    if not isinstance(backend, StateBackend):
        state.update(status="unchecked", error="the backend has no ping(); update its plugin")
        return 0
    try:
        backend.ping()
    except Exception as exc:  # noqa: BLE001 - whatever it raised, the backend is unusable
        reason = _reason(exc, "did not answer")
        state.update(status="unreachable", error=f"{reason}; {_CONSEQUENCE[state['fail_mode']]}")
        return EXIT_STATE
    return 0


def _connectors(
    manager: ConnectorManager, config: Config, health: bool
) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    worst = 0
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
        except ConnectorError as exc:
            row.update(status="error", error=str(exc))
            worst = EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_PLUGIN
        else:
            if health and isinstance(adapter, SupportsHealthCheck):
                problem = _health(adapter)
                if problem:
                    row.update(status="unhealthy", error=problem)
                    worst = worst or EXIT_CALL_FAILED
        rows.append(row)
    return rows, worst


def _health(adapter: SupportsHealthCheck) -> str | None:
    """The adapter's own health check: None when healthy, else what is wrong."""
    try:
        return adapter.health_check()
    except Exception as exc:  # noqa: BLE001 - a failing health check is an unhealthy adapter
        return _reason(exc, "failed its health check")


def _reason(exc: BaseException, what: str) -> str:
    """Our errors say what went wrong (and hold no secret); another library's message may
    quote a URL with its password, so only its class is shown."""
    if isinstance(exc, ConnectorError):
        return str(exc)
    return f"{what}: {type(exc).__name__}"


def _print(config: Config, state: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    click.echo(f"Config {config.source}: {len(rows)} connector(s)")
    line = f"state backend {state['backend']} (fail_mode {state['fail_mode']})"
    click.echo(f"  {_mark(state['status'])}  {line}")
    if state["error"]:
        click.echo(f"        {state['error']}")
    for row in rows:
        origin = f"{row['distribution'] or row['plugin']} {row['version'] or ''}".strip()
        click.echo(
            f"  {_mark(row['status'])}  {row['name']} ({row['category']}): "
            f"{row['vendor']} [{origin}]"
        )
        if row["error"]:
            click.echo(f"        {row['error']}")


def _mark(status: str) -> str:
    colour = "green" if status == "ok" else "yellow" if status == "unchecked" else "red"
    return f"{click.style(status, fg=colour):>4}"
