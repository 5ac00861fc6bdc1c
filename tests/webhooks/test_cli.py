"""nexus-connector webhook verify: the event or the reason, exit codes, and no secret shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from nexus_connector_core import PluginRegistry
from nexus_connector_core.cli import _webhook

SECRET = "It's a Secret to Everybody"
BODY = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, webhook_registry: PluginRegistry) -> click.Group:
    """The webhook group, finding verifiers in a registry with the built-in ones."""
    monkeypatch.setattr(_webhook, "default_registry", lambda: webhook_registry)
    return _webhook.webhook


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "delivery.json"
    path.write_bytes(BODY)
    return path


def _run(cli: click.Group, *args: str, stdin: bytes | None = None) -> Result:
    result = CliRunner().invoke(cli, ["verify", *args], input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _github_headers(signer: Any, body: bytes = BODY) -> list[str]:
    headers = signer.github(body, SECRET, delivery="d7a5c3e0")
    return [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]


def test_a_valid_delivery_exits_0_and_prints_the_event_as_json(
    cli: click.Group, signer: Any, body_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    result = _run(
        cli,
        "github",
        "--secret-ref",
        "env:GITHUB_WEBHOOK_SECRET",
        *_github_headers(signer),
        "--body-file",
        str(body_file),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "valid": True,
        "verifier": "github",
        "id": "d7a5c3e0",
        "timestamp": None,
        "body_bytes": len(BODY),
        "data": {"zen": "Keep it logically awesome.", "hook_id": 1},
    }
    assert SECRET not in result.output


def test_a_tampered_delivery_exits_1_with_the_reason(
    cli: click.Group, signer: Any, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    result = _run(
        cli,
        "github",
        "--secret-ref",
        f"file:{secret_file}",
        *_github_headers(signer),
        "--body-file",
        "-",
        stdin=BODY + b" ",
    )
    assert result.exit_code == 1
    assert result.stdout == "rejected (github): signature mismatch\n"
    assert SECRET not in result.output


def test_a_rejection_as_json_names_the_reason(cli: click.Group, body_file: Path) -> None:
    result = _run(
        cli,
        "slack",
        "--secret-ref",
        SECRET,
        "-H",
        "X-Slack-Request-Timestamp: 1531420618",
        "--body-file",
        str(body_file),
        "--json",
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "valid": False,
        "verifier": "slack",
        "reason": "missing header X-Slack-Signature",
    }
    assert SECRET not in result.output


def test_now_pins_the_clock_for_an_old_delivery(
    cli: click.Group, signer: Any, body_file: Path
) -> None:
    headers = signer.slack(BODY, SECRET, timestamp=1531420618)
    args = [arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")]
    common = ["slack", "--secret-ref", SECRET, *args, "--body-file", str(body_file)]
    assert _run(cli, *common).exit_code == 1
    result = _run(cli, *common, "--now", "1531420700")
    assert result.exit_code == 0, result.output
    assert "valid (slack)" in result.stdout
    assert "timestamp: 2018-07-12T18:36:58+00:00" in result.stdout
    assert '"hook_id": 1' in result.stdout


def test_rotated_secrets_are_given_by_repeating_the_option(
    cli: click.Group, signer: Any, body_file: Path
) -> None:
    result = _run(
        cli,
        "github",
        "--secret-ref",
        "the-new-one",
        "--secret-ref",
        SECRET,
        *_github_headers(signer),
        "--body-file",
        str(body_file),
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["githb", "--secret-ref", "s"], "unknown webhook verifier 'githb'"),
        (["github", "--secret-ref", "env:NOT_SET_ANYWHERE"], "NOT_SET_ANYWHERE is not set"),
        (["github", "--secret-ref", "s", "-H", "no colon"], "is not 'Name: value'"),
        (["hmac", "--secret-ref", "s", "--options", "[1]"], "expected a JSON object"),
        (["hmac", "--secret-ref", "s", "--options", '{"algorithm": "md5"}'], "'hmac'"),
    ],
)
def test_bad_usage_exits_2_and_says_why(
    cli: click.Group, body_file: Path, args: list[str], message: str
) -> None:
    result = _run(cli, *args, "--body-file", str(body_file))
    assert result.exit_code == 2
    assert message in result.stderr
