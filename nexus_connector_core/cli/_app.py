"""The command group, shared options and output helpers of the CLI."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from .._errors import ConfigError
from .._version import __version__

__all__ = [
    "EXIT_CALL_FAILED",
    "EXIT_CONFIG",
    "EXIT_LOG",
    "EXIT_PLUGIN",
    "EXIT_STATE",
    "cli",
    "config_option",
    "echo_json",
    "json_option",
    "report_config_error",
]

EXIT_CALL_FAILED = 1
EXIT_CONFIG = 3
EXIT_PLUGIN = 4
EXIT_STATE = 5
#: The integration log's database cannot be read (``log``).
EXIT_LOG = 6

F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nexus-connector")
def cli() -> None:
    """Nexus Connector: call email, SMS, payment, storage and shipping vendors through one
    resilient pipeline. Exit codes: 0 ok, 1 call failed, 2 usage, 3 config, 4 plugins,
    5 state backend unreachable, 6 integration log unreadable."""


def config_option(func: F) -> F:
    """``--config PATH``: the config file (default: $NEXUS_CONNECTOR_CONFIG, ./connectors.toml)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file (default: $NEXUS_CONNECTOR_CONFIG, else ./connectors.toml).",
    )(func)


def json_option(func: F) -> F:
    """``--json``: machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def _default(value: Any) -> Any:
    # Secrets and other opaque objects print as their (masked) str, never their value.
    return str(value)


_encoder = msgspec.json.Encoder(enc_hook=_default, order="deterministic")


def echo_json(value: Any) -> None:
    """Print `value` as indented JSON on stdout."""
    click.echo(msgspec.json.format(_encoder.encode(value), indent=2).decode())


def report_config_error(error: ConfigError, as_json: bool) -> None:
    """Print a config error, one line per problem, and exit with `EXIT_CONFIG`."""
    if as_json:
        echo_json(
            {
                "ok": False,
                "source": error.source,
                "errors": [{"path": p.path, "message": p.detail} for p in error.problems],
            }
        )
    else:
        where = f" in {error.source}" if error.source else ""
        click.secho(f"Invalid configuration{where}:", fg="red", err=True)
        for problem in error.problems:
            prefix = f"{problem.path}: " if problem.path else ""
            click.echo(f"  {prefix}{problem.detail}", err=True)
    sys.exit(EXIT_CONFIG)
