"""``nexus-connector plugins``: what is installed, what it provides, what failed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .._plugins import default_registry
from ._app import EXIT_PLUGIN, config_option, echo_json, json_option


@click.command()
@config_option
@json_option
def plugins(config_path: Path | None, as_json: bool) -> None:
    """List installed plugins, their versions and what each provides; show load failures.

    Exits 4 when a plugin failed to load or two plugins offer the same key.
    """
    del config_path  # accepted for uniformity; plugins do not depend on the config
    registry = default_registry()
    infos = registry.plugins()
    failures = registry.failures
    if as_json:
        echo_json({"plugins": infos, "failures": failures})
    else:
        for info in infos:
            version = f" {info.version}" if info.version else ""
            dist = f" ({info.distribution}{version})" if info.distribution else ""
            click.secho(f"{info.name}{dist}", bold=True)
            for kind, keys in info.provides.items():
                described = info.descriptions.get(kind, {})
                if not described:
                    click.echo(f"  {kind}: {', '.join(keys)}")
                    continue
                for key in keys:  # one a line: each with what its plugin said it is
                    about = described.get(key)
                    click.echo(f"  {kind}: {key}" + (f" - {about}" if about else ""))
        for failure in failures:
            dist = f" ({failure.distribution})" if failure.distribution else ""
            click.secho(f"FAILED {failure.plugin}{dist}: {failure.error}", fg="red", err=True)
    if failures:
        sys.exit(EXIT_PLUGIN)
