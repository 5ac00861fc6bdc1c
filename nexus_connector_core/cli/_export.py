"""``nexus-connector export postman|openapi [CONNECTOR...] -o FILE``: the declared APIs as a
Postman Collection v2.1 or an OpenAPI 3.1 description (no secret value in either)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import msgspec

from .._config import Config, load_config
from .._errors import ConfigError
from ._app import config_option, report_config_error

__all__ = ["export"]


@click.group()
def export() -> None:
    """Write the api connectors' declared endpoints for other tools (Postman, OpenAPI):
    those of http and graphql connectors, not vendor plugins' operations."""


def _write(
    config_path: Path | None,
    connectors: tuple[str, ...],
    output: str,
    build: Callable[[Config, tuple[str, ...]], dict[str, Any]],
) -> None:
    try:
        document = build(load_config(config_path), connectors)
    except ConfigError as exc:
        report_config_error(exc, as_json=False)
        return
    text = msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n"
    if output == "-":
        click.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


_output = click.option(
    "-o",
    "--output",
    default="-",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where to write it (default: standard output).",
)


@export.command()
@config_option
@_output
@click.argument("connectors", nargs=-1)
def postman(config_path: Path | None, output: str, connectors: tuple[str, ...]) -> None:
    """A Postman Collection v2.1 of the http and graphql connectors (all, or CONNECTOR...):
    a folder per connector, a request per endpoint, base URLs and credentials as variables
    (secrets are left empty: set them in a Postman environment)."""
    from .._api_export import postman_collection

    _write(config_path, connectors, output, postman_collection)


@export.command()
@config_option
@_output
@click.argument("connectors", nargs=-1)
def openapi(config_path: Path | None, output: str, connectors: tuple[str, ...]) -> None:
    """An OpenAPI 3.1 description of the http connectors' endpoints (all, or CONNECTOR...)."""
    from .._api_export import openapi_document

    _write(config_path, connectors, output, openapi_document)
