"""``manage.py nexus_connector ...``: the ``nexus-connector`` command with the project's
config (``check``, ``status``, ``call``, ``plugins``, ``webhook verify``, ``log``...).

    python manage.py nexus_connector check --health
    python manage.py nexus_connector status --json

Arguments and exit codes are the CLI's (``manage.py nexus_connector --help``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nexus_connector_django._cli import run_cli


class Command(BaseCommand):
    help = "Run the nexus-connector command with this project's NEXUS_CONNECTOR config."
    # The config is the CLI's to check (`check` reports every problem); a broken one must
    # not stop the command that would show it.
    requires_system_checks = ()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER, help="the CLI's arguments")

    def run_from_argv(self, argv: list[str]) -> None:
        # The CLI parses its own arguments (and --help); its exit code is the command's.
        prog = f"{os.path.basename(argv[0])} {argv[1]}"
        sys.exit(run_cli(argv[2:], prog))

    def handle(self, *args: Any, **options: Any) -> None:
        # call_command("nexus_connector", "check", "--json")
        code = run_cli(args, "nexus_connector")
        if code:
            raise CommandError(f"nexus-connector exited with code {code}", returncode=code)
