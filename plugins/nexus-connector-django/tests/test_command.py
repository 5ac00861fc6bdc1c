"""``manage.py nexus_connector ...``: the nexus-connector CLI with the project's config, its
arguments and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from nexus_connector_django._toml import dumps

Manage = Callable[..., subprocess.CompletedProcess[str]]


def test_manage_py_nexus_connector_runs_the_cli_on_the_projects_config(manage: Manage) -> None:
    done = manage("nexus_connector", "check", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["source"].endswith("demo_site/connectors.toml")


def test_the_clis_exit_code_and_messages_come_through(manage: Manage) -> None:
    done = manage("nexus_connector", "check", secrets=False)

    assert done.returncode == 3  # the CLI's "invalid configuration"
    assert "connectors.email.credentials.username" in done.stderr


def test_the_clis_own_help(manage: Manage) -> None:
    done = manage("nexus_connector", "--help")

    assert done.returncode == 0
    assert "manage.py nexus_connector" in done.stdout


def test_an_inline_config_is_handed_to_the_cli_in_a_file_removed_after(
    nexus_settings: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    nexus_settings({"connectors": {"email": {"vendor": "memory", "options": {"latency": 0.0}}}})

    call_command("nexus_connector", "check", "--json")

    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert Path(report["source"]).parent == tmp_path  # relative paths resolve where they would
    assert list(tmp_path.iterdir()) == []
    assert "NEXUS_CONNECTOR_CONFIG" not in os.environ


def test_call_command_raises_with_the_clis_exit_code(nexus_settings: Callable[..., None]) -> None:
    nexus_settings({"connectors": {"email": {"vendor": "no-such-vendor"}}})

    with pytest.raises(CommandError) as raised:
        call_command("nexus_connector", "check")

    assert raised.value.returncode == 3


def test_a_dict_config_is_written_as_toml_that_reads_back_the_same() -> None:
    config: dict[str, Any] = {
        "connectors": {
            "email": {
                "vendor": "smtp",
                "options": {"host": "mail.example.com", "port": 587, "path": Path("/srv/x")},
                "credentials": {"password": 'env:SMTP "PASS" \\ é \x7f \x01'},
                "fallback": ["memory", {"vendor": "postmark"}],
                "resilience": {"timeout": 2.5, "deadline": float("inf"), "retry": {}},
            }
        },
        "observability": {"loggers": ["memory"], "ring_size": 10},
    }

    read = tomllib.loads(dumps(config, "NEXUS_CONNECTOR['config']"))

    config["connectors"]["email"]["options"]["path"] = "/srv/x"
    assert read == config


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"connectors": {"email": {"options": {"x": None}}}}, "cfg.connectors.email.options.x"),
        ({"connectors": [{"a": object()}]}, "cfg.connectors[0].a"),
        ({"state": {"url": "\ud800"}}, "cfg.state.url"),
    ],
)
def test_what_toml_cannot_hold_is_refused_with_its_key_path(value: Any, where: str) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(where)}:"):
        dumps(value, "cfg")
