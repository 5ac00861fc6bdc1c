"""``nexus-connector new-adapter``: a new vendor plugin, rendered from cookiecutter-adapter.

cookiecutter is needed by this command only: the ``authoring`` extra brings it
(``pip install "nexus-connector-core[authoring]"``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from ._app import EXIT_CALL_FAILED

__all__ = ["new_adapter", "template_path"]

_CATEGORIES = ("sms", "email", "payment", "cloud_storage", "shipping")
_AUTH_METHODS = ("bearer", "api_key_header", "basic", "oauth2_client_credentials", "none")
_INSTALL_HINT = (
    "new-adapter needs cookiecutter, which the authoring extra brings: "
    'pip install "nexus-connector-core[authoring]" (in a checkout: pip install -e ".[authoring]")'
)


_SILENT = logging.NullHandler()


def template_path() -> Path:
    """The cookiecutter-adapter template: the checkout's (an editable install), else the
    copy the wheel ships inside the package."""
    checkout = Path(__file__).resolve().parents[2] / "cookiecutter-adapter"
    if (checkout / "cookiecutter.json").is_file():
        return checkout
    return Path(str(resources.files("nexus_connector_core") / "_cookiecutter_adapter"))


@click.command("new-adapter")
@click.option("--category", type=click.Choice(_CATEGORIES), help="The vendor's category.")
@click.option("--vendor-key", help='The key a config names it by (vendor = "acme").')
@click.option("--vendor-name", help="The vendor's name as people write it (default: from the key).")
@click.option("--distribution-name", help="The distribution's name (nexus-connector-<key>).")
@click.option("--package-name", help="The Python package's name (nexus_connector_<key>).")
@click.option("--author", help="The author, for pyproject.toml.")
@click.option("--auth-method", type=click.Choice(_AUTH_METHODS), help="How requests authenticate.")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the plugin's folder is made.",
)
@click.option("--no-input", is_flag=True, help="Ask nothing: the options, else the defaults.")
@click.option(
    "--install",
    is_flag=True,
    help="Then pip install the plugin (editable, with its test extra) into this environment.",
)
@click.option(
    "--template",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Another copy of cookiecutter-adapter (default: the one of this installation).",
)
def new_adapter(
    output_dir: Path, no_input: bool, install: bool, template: Path | None, **answers: str | None
) -> None:
    """Render a new vendor plugin from cookiecutter-adapter: the canonical layout, adapters
    on the HTTP toolkit, a local double of the vendor and the category's conformance suite,
    whose tests pass before anyone edits them. Asks for what the options leave out, unless
    --no-input; then prints the next three commands.

    Exits 2 when an answer is refused (it says which and why), 1 when cookiecutter is
    missing, the folder exists or the install fails.
    """
    try:
        from cookiecutter.exceptions import (  # type: ignore[import-untyped]
            CookiecutterException,
            FailedHookException,
            OutputDirExistsException,
        )
        from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]
    except ImportError:
        click.secho(_INSTALL_HINT, fg="red", err=True)
        sys.exit(EXIT_CALL_FAILED)
    given: dict[str, Any] = {k: v for k, v in answers.items() if v is not None}
    # cookiecutter logs a traceback for a refused answer, which says nothing more than the
    # hook did; with a handler of its own, Python's last-resort handler stays out.
    logging.getLogger("cookiecutter").addHandler(_SILENT)
    try:
        rendered = Path(
            cookiecutter(
                str(template or template_path()),
                no_input=no_input,
                extra_context=given,
                output_dir=str(output_dir),
            )
        )
    except FailedHookException:
        # The hook said what it refused, on stderr.
        click.secho("new-adapter: nothing was rendered", fg="red", err=True)
        sys.exit(2)
    except OutputDirExistsException as exc:
        click.secho(
            f"new-adapter: {exc}; choose another --output-dir or --vendor-key (nothing was "
            "changed)",
            fg="red",
            err=True,
        )
        sys.exit(EXIT_CALL_FAILED)
    except CookiecutterException as exc:
        click.secho(f"new-adapter: {exc}", fg="red", err=True)
        sys.exit(EXIT_CALL_FAILED)
    shown = _shown(rendered)
    click.secho(f"Rendered {rendered.name} in {shown}", bold=True)
    if install:
        _install(shown)
        steps = [
            f"python -m pytest {shown}",
            "nexus-connector plugins",
            f'grep -rn "TODO(vendor)" {shown}',
        ]
    else:
        steps = [
            f'pip install -e "{shown}[test]"',
            f"python -m pytest {shown}",
            "nexus-connector plugins",
        ]
    click.echo("Next:")
    for step in steps:
        click.echo(f"  {step}")


def _shown(path: Path) -> str:
    """`path` as the user would type it: relative to the current folder."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
    return relative if relative.startswith("..") else f"./{relative}"


def _install(shown: str) -> None:
    """``pip install -e`` the rendered project, by the path the user is shown (relative to
    the current folder, which pip resolves alike), printing the command as it runs."""
    command = [sys.executable, "-m", "pip", "install", "-q", "-e", f"{shown}[test]"]
    click.echo("Installing: " + " ".join(command[2:]))
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        click.secho(f"new-adapter: pip exited with {done.returncode}", fg="red", err=True)
        sys.exit(EXIT_CALL_FAILED)
