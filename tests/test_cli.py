"""The nexus-connector command: output for humans and machines, and exit codes scripts rely on."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nexus_connector_core.cli import EXIT_CALL_FAILED, EXIT_CONFIG, EXIT_PLUGIN, EXIT_STATE, cli


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


# -- check: every problem, the state backend, health ---------------------------------------


def test_check_prints_every_problem_of_a_table_with_the_valid_choices(tmp_path: Path) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text(
        "[connectors.email]\nvendor = 'memory'\n"
        "[connectors.email.resilience.retry]\nbase = inf\nmax_delay = -1\nbackoff = 'expo'\n",
        encoding="utf-8",
    )
    code, out, _ = _run("check", "--config", str(path), "--json")
    assert code == EXIT_CONFIG
    errors = {e["path"]: e["message"] for e in json.loads(out)["errors"]}
    assert set(errors) == {
        "connectors.email.resilience.retry.base",
        "connectors.email.resilience.retry.max_delay",
        "connectors.email.resilience.retry.backoff",
    }
    assert (
        "expected one of: 'decorrelated', 'exponential', 'fibonacci'"
        in errors["connectors.email.resilience.retry.backoff"]
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_config(tmp_path: Path, url: str, fail_mode: str = "closed") -> Path:
    path = tmp_path / "connectors.toml"
    path.write_text(
        f'[state]\nbackend = "redis"\nurl = "{url}"\nfail_mode = "{fail_mode}"\n'
        '[connectors.email]\nvendor = "memory"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("fail_mode", ["open", "closed"])
def test_check_fails_with_exit_5_when_the_state_backend_is_unreachable(
    tmp_path: Path, fail_mode: str
) -> None:
    password = "hunter2-never-shown"  # the point: it must never be printed
    url = f"redis://:{password}@127.0.0.1:{_closed_port()}/0"
    config = _redis_config(tmp_path, url, fail_mode)

    code, out, _ = _run("check", "--config", str(config), "--json")
    assert code == EXIT_STATE
    data = json.loads(out)
    assert data["ok"] is False
    assert (data["state"]["backend"], data["state"]["status"]) == ("redis", "unreachable")
    assert f"fail_mode = '{fail_mode}'" in data["state"]["error"]
    assert password not in out

    code, out, _ = _run("check", "--config", str(config))
    assert code == EXIT_STATE
    assert "unreachable  state backend redis" in out
    assert password not in out


def test_check_passes_when_the_state_backend_answers(tmp_path: Path, redis_url: str) -> None:
    code, out, _ = _run("check", "--config", str(_redis_config(tmp_path, redis_url)), "--json")
    assert code == 0, out
    assert json.loads(out)["state"] == {
        "backend": "redis",
        "fail_mode": "closed",
        "status": "ok",
        "error": None,
    }


def test_check_health_runs_each_adapters_health_check(config: Path) -> None:
    code, out, _ = _run("check", "--config", str(config), "--json")
    assert code == 0  # without --health, only the adapters are built

    code, out, _ = _run("check", "--config", str(config), "--json", "--health")
    assert code == EXIT_CALL_FAILED
    rows = {row["name"]: row for row in json.loads(out)["connectors"]}
    assert (rows["email"]["status"], rows["files"]["status"]) == ("ok", "ok")
    assert rows["flaky"]["status"] == "unhealthy"
    assert "the next 5 call(s) fail with 'unavailable'" in rows["flaky"]["error"]


def test_a_health_check_that_raises_is_reported_by_class_only(
    tmp_path: Path, make_distribution: Any
) -> None:
    make_distribution(
        "nexus-connector-sick",
        entry_points={"sick": "sick_cli_plugin"},
        modules={
            "sick_cli_plugin": """
                from nexus_connector_core import hookimpl
                from nexus_connector_core.vendors.memory import MemorySmsAdapter

                class Sick(MemorySmsAdapter):
                    def health_check(self):
                        raise RuntimeError("token=tok-never-shown-42")

                @hookimpl
                def register_sms_vendors(register):
                    register("sick", "sick_cli_plugin:Sick")
            """
        },
    )
    path = tmp_path / "connectors.toml"
    path.write_text('[connectors.sms]\nvendor = "sick"\n', encoding="utf-8")
    from nexus_connector_core import _plugins

    saved = _plugins._PROCESS
    _plugins._PROCESS = _plugins._ProcessRegistry()
    try:
        code, out, _ = _run("check", "--config", str(path), "--json", "--health")
    finally:
        _plugins._PROCESS = saved
    assert code == EXIT_CALL_FAILED
    (row,) = json.loads(out)["connectors"]
    assert (row["status"], row["error"]) == ("unhealthy", "failed its health check: RuntimeError")
    assert "tok-never-shown" not in out


# -- call: what the request says, exactly --------------------------------------------------


def test_call_with_a_non_utf8_file_is_a_usage_error_not_a_traceback(
    config: Path, tmp_path: Path
) -> None:
    request = tmp_path / "req.json"
    request.write_bytes(b'{"to": "+14155550100", "body": "caf\xe9"}')
    code, _, err = _run("call", "flaky", "send", "--json", f"@{request}", "--config", str(config))
    assert code == 2
    assert f"{request} is not UTF-8 text (byte 35)" in err


def test_call_with_non_utf8_standard_input_is_a_usage_error(config: Path) -> None:
    result = CliRunner().invoke(
        cli, ["call", "flaky", "send", "--json", "-", "--config", str(config)], input=b"{\xff}"
    )
    assert result.exit_code == 2
    assert "standard input is not UTF-8 text" in result.stderr


def test_call_refuses_a_misspelt_field_with_did_you_mean(config: Path) -> None:
    request = json.dumps(
        {"sender": "shop@example.com", "to": ["ada@example.com"], "text": "hi", "metdata": {}}
    )
    code, out, err = _run("call", "email", "send", "--json", request, "--config", str(config))
    assert code == 2
    assert "EmailMessage has no field 'metdata' (did you mean 'metadata'?)" in err
    assert out == ""  # nothing was sent


def test_call_refuses_an_unknown_field_inside_a_nested_request(config: Path) -> None:
    attachment = {"filname": "a.txt", "content": "aGk=", "content_type": "text/plain"}
    request = json.dumps(
        {
            "sender": "shop@example.com",
            "to": ["ada@example.com"],
            "text": "hi",
            "attachments": [attachment],
        }
    )
    code, _, err = _run("call", "email", "send", "--json", request, "--config", str(config))
    assert code == 2
    assert "no field 'filname' at attachments[0] (did you mean 'filename'?)" in err
