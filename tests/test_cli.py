"""The nexus-connector command: output for humans and machines, and exit codes scripts rely on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nexus_connector_core.cli import EXIT_CALL_FAILED, EXIT_CONFIG, EXIT_PLUGIN, cli


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "connectors.toml"
    path.write_text(
        """
[connectors.email]
vendor = "memory"

[connectors.flaky]
category = "sms"
vendor = "memory"
options = { fail_first = 5, failure = "unavailable" }

[connectors.files]
category = "cloud_storage"
vendor = "memory"
""",
        encoding="utf-8",
    )
    return path


def test_plugins_json_lists_the_builtin_plugin_and_its_vendors() -> None:
    code, out, _ = _run("plugins", "--json")
    assert code == 0
    data = json.loads(out)
    builtin = next(p for p in data["plugins"] if p["name"] == "builtin")
    assert builtin["distribution"] == "nexus-connector-core"
    assert builtin["provides"]["email"] == ["memory"]
    assert builtin["provides"]["cloud_storage"] == ["memory", "filesystem"]
    assert data["failures"] == []


def test_plugins_text_shows_versions_and_what_each_provides() -> None:
    code, out, _ = _run("plugins")
    assert code == 0
    assert "builtin (nexus-connector-core" in out
    assert "acme (nexus-connector-acme 1.2.3)" in out
    assert "email: acme" in out


def test_plugins_exits_4_and_shows_a_broken_plugin(make_distribution: object) -> None:
    make_distribution(  # type: ignore[operator]
        "nexus-connector-broken",
        entry_points={"broken": "broken_cli_plugin"},
        modules={"broken_cli_plugin": "raise RuntimeError('bad build')\n"},
    )
    from nexus_connector_core import _plugins

    # A fresh process-wide registry that sees the temporary distribution.
    saved = _plugins._PROCESS
    _plugins._PROCESS = _plugins._ProcessRegistry()
    try:
        code, out, _ = _run("plugins", "--json")
    finally:
        _plugins._PROCESS = saved
    assert code == EXIT_PLUGIN
    failures = json.loads(out)["failures"]
    assert failures == [
        {
            "plugin": "broken",
            "distribution": "nexus-connector-broken",
            "error": "RuntimeError: bad build",
        }
    ]


def test_check_passes_on_a_valid_config(config: Path) -> None:
    code, out, _ = _run("check", "--config", str(config), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True
    assert [(c["name"], c["vendor"], c["status"]) for c in data["connectors"]] == [
        ("email", "memory", "ok"),
        ("flaky", "memory", "ok"),
        ("files", "memory", "ok"),
    ]


def test_check_on_an_unknown_vendor_names_the_key_path_and_installed_vendors(
    tmp_path: Path,
) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text('[connectors.email]\nvendor = "sendgird"\n', encoding="utf-8")
    code, _, err = _run("check", "--config", str(path))
    assert code == EXIT_CONFIG
    assert "connectors.email.vendor: unknown email vendor 'sendgird'" in err
    assert "Installed: acme, memory" in err

    code, out, _ = _run("check", "--config", str(path), "--json")
    assert code == EXIT_CONFIG
    (error,) = json.loads(out)["errors"]
    assert error["path"] == "connectors.email.vendor"
    assert "Installed: acme, memory" in error["message"]


def test_check_reports_an_adapter_that_cannot_start(tmp_path: Path) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text(
        '[connectors.files]\ncategory = "cloud_storage"\nvendor = "filesystem"\n'
        f'options = {{ root = "{tmp_path / "file-not-dir"}" }}\n',
        encoding="utf-8",
    )
    (tmp_path / "file-not-dir").write_text("", encoding="utf-8")
    code, out, _ = _run("check", "--config", str(path), "--json")
    assert code == EXIT_CONFIG
    (row,) = json.loads(out)["connectors"]
    assert row["status"] == "error"
    assert "connectors.files.options.root" in row["error"]
    assert "storage folder" in row["error"]


def test_call_prints_the_result_and_the_log_record(config: Path) -> None:
    request = json.dumps({"sender": "shop@example.com", "to": ["ada@example.com"], "text": "hi"})
    code, out, _ = _run("call", "email", "send", "--json", request, "--config", str(config))
    assert code == 0
    data = json.loads(out)
    assert data["result"]["vendor"] == "memory"
    assert data["result"]["recipients"]["ada@example.com"]["status"] == "sent"
    assert (data["log"]["operation"], data["log"]["status"], data["log"]["attempts"]) == (
        "send",
        "ok",
        1,
    )


def test_call_reads_the_request_from_stdin_and_files(config: Path, tmp_path: Path) -> None:
    code, out, _ = _run(
        "call",
        "files",
        "put",
        "--json",
        "-",
        "--config",
        str(config),
        stdin='{"key": "a.txt", "data": "hello"}',
    )
    assert code == 0
    assert json.loads(out)["result"]["size"] == 5
    request = tmp_path / "req.json"
    request.write_text('{"to": "+14155550100", "body": "hi"}', encoding="utf-8")
    code, out, _ = _run("call", "flaky", "send", "--json", f"@{request}", "--config", str(config))
    assert code == EXIT_CALL_FAILED


def test_a_failed_call_exits_1_with_the_error_and_its_log(config: Path) -> None:
    request = '{"to": "+14155550100", "body": "hi"}'
    code, out, _ = _run("call", "flaky", "send", "--json", request, "--config", str(config))
    assert code == EXIT_CALL_FAILED
    data = json.loads(out)
    assert data["error"]["class"] == "VendorUnavailableError"
    assert data["error"]["retryable"] is True
    assert data["log"]["status"] == "error"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["call", "email", "send", "--json", "{nope"], "not valid JSON"),
        (["call", "email", "send", "--json", '{"to": []}'], "not a valid EmailMessage"),
        (["call", "email", "fly"], "no operation 'fly'"),
        (["call", "nobody", "send"], "no connector named 'nobody'"),
        (["call", "files", "open", "--json", '{"key": "a"}'], "streams"),
    ],
)
def test_bad_call_usage_exits_2_with_a_reason(config: Path, args: list[str], fragment: str) -> None:
    code, _, err = _run(*args, "--config", str(config))
    assert code == 2
    assert fragment in err


def test_call_on_an_invalid_config_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text("[connectors.email]\n", encoding="utf-8")
    code, _, err = _run("call", "email", "send", "--config", str(path))
    assert code == EXIT_CONFIG
    assert "connectors.email.vendor: missing required key" in err


def test_demo_shows_a_call_a_switch_retries_a_breaker_a_fallback_and_the_log() -> None:
    code, out, _ = _run("demo")
    assert code == 0
    assert "sent: vendor='memory'" in out
    assert "memory: stored invoices/2026/0042.txt" in out
    assert "filesystem: stored invoices/2026/0042.txt" in out
    assert "email.send failed once: VendorUnavailableError, not retried" in out
    assert "payment.purchase failed twice: succeeded on attempt 3" in out
    assert "put #1: memory tried 3x, served by 'filesystem'; breaker closed" in out
    assert "put #6: memory tried 0x, served by 'filesystem'; breaker open" in out
    record = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert (record["connector"], record["vendor"], record["status"]) == (
        "cloud_storage",
        "filesystem",
        "ok",
    )
    assert record["fallback_from"] == ["memory"]


@pytest.mark.skipif(
    shutil.which("nexus-connector") is None
    and not Path(sys.executable).with_name("nexus-connector").exists(),
    reason="console script not installed",
)
def test_the_console_script_is_installed_and_runs() -> None:
    script = Path(sys.executable).with_name("nexus-connector")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert "nexus-connector, version" in out.stdout
