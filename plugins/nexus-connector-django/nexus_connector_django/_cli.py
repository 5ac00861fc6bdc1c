"""The ``nexus-connector`` command run with the project's config (``manage.py
nexus_connector ...``).

The CLI reads a file: ``NEXUS_CONNECTOR["config"]``, a path, is handed over as
``$NEXUS_CONNECTOR_CONFIG``; a config given as a dict is written to a private temporary
file in the current folder (where the dict's relative paths resolve too), removed after.
An explicit ``--config PATH`` on the command line wins over both.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ._settings import SETTING, ConfigSource, read_settings
from ._toml import dumps

__all__ = ["run_cli"]

#: The environment variable the CLI reads its config's path from.
CONFIG_ENV = "NEXUS_CONNECTOR_CONFIG"


def run_cli(args: Sequence[str], prog_name: str) -> int:
    """Run ``nexus-connector`` with `args`; its exit code."""
    from nexus_connector_core.cli import cli

    with _config_file(read_settings().config) as path, _environ(CONFIG_ENV, path):
        try:
            cli.main(args=list(args), prog_name=prog_name, standalone_mode=True)
        except SystemExit as exit_:
            code = exit_.code
            return code if isinstance(code, int) else 0 if code is None else 1


@contextlib.contextmanager
def _config_file(source: ConfigSource | None) -> Iterator[str | None]:
    if source is None or not isinstance(source, Mapping):
        yield None if source is None else os.fspath(source)
        return
    text = dumps(source, f"{SETTING}['config']")
    handle, name = tempfile.mkstemp(prefix=".nexus-connector-", suffix=".toml", dir=Path.cwd())
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        yield name
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


@contextlib.contextmanager
def _environ(name: str, value: str | None) -> Iterator[None]:
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
