"""The library's loggers: whichever logs first, an application that has not configured
logging gets no stray line on stderr (the top logger's NullHandler is in place)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import nexus_connector_core

PACKAGE = Path(nexus_connector_core.__file__).parent


@pytest.mark.parametrize(
    "build",
    [
        # No manager at all: only the config reader is imported.
        "from nexus_connector_core import load_config\nload_config({config!r})",
        # The config warns before the manager (and its call loggers) exist.
        "from nexus_connector_core import ConnectorManager as M\nM.from_config({config!r}).close()",
    ],
    ids=["load_config", "from_config"],
)
def test_a_config_warning_writes_nothing_to_stderr_whoever_logs_first(
    tmp_path: Path, build: str
) -> None:
    config = tmp_path / "connectors.toml"
    config.write_text(
        '[connectors.invoices]\ncategory = "cloud_storage"\nvendor = "filesystem"\n'
        f'options = {{ root = "{tmp_path}" }}\n'
    )
    code = (
        "import logging\n"
        "seen = []  # a filter sees the warning without being a handler\n"
        "logging.getLogger('nexus_connector.config').addFilter(lambda r: seen.append(r) or 1)\n"
        f"{build.format(config=str(config))}\n"
        "print(len(seen))\n"
    )
    env = {"NEXUS_CONNECTOR__CONNECTORS__INVOICES__VENDOR": "memory", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1"  # the warning was given
    assert out.stderr == ""  # and Python's last-resort handler did not print it


def test_every_library_logger_comes_from_library_logger() -> None:
    by_hand = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_logging.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"logging\.getLogger\(\s*[\"']nexus_connector", line)
    ]
    assert by_hand == []
