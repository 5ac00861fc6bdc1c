"""The ``nexus-connector`` command.

Exit codes: 0 success; 1 a call or health check failed (``slo``: an error budget is spent;
``alerts``: an alert is firing); 2 bad usage; 3 invalid configuration; 4 a plugin failed to
load or conflicts with another; 5 the state backend cannot be reached (``check``, ``slo``,
``alerts``); 6 the integration log's database cannot be read (``log``).
"""

from __future__ import annotations

from ._alerts import alerts
from ._app import EXIT_CALL_FAILED, EXIT_CONFIG, EXIT_LOG, EXIT_PLUGIN, EXIT_STATE, cli
from ._call import call
from ._check import check
from ._demo import demo
from ._export import export
from ._log import log
from ._new_adapter import new_adapter
from ._plugins import plugins
from ._secrets import secrets
from ._slo import slo
from ._status import status
from ._webhook import webhook

__all__ = [
    "EXIT_CALL_FAILED",
    "EXIT_CONFIG",
    "EXIT_LOG",
    "EXIT_PLUGIN",
    "EXIT_STATE",
    "cli",
    "main",
]

_COMMANDS = (plugins, check, status, call, demo, secrets, webhook, log, export, slo, alerts)
for command in (*_COMMANDS, new_adapter):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``nexus-connector`` console script."""
    cli(prog_name="nexus-connector")
