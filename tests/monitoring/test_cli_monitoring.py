"""``nexus-connector slo`` and ``nexus-connector alerts``: what the fleet's counts and the
leader's last evaluation say, read from the state backend by a process that builds no
manager; ``alerts --check`` validates the rules with their key paths and columns."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nexus_connector_core import ConnectorError, ConnectorManager, SmsMessage
from nexus_connector_core.cli import cli

pytest.importorskip("nexus_connector_redis")


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "connectors.toml"
    path.write_text(body, encoding="utf-8")
    return path


def redis_config(tmp_path: Path, redis_url: str, *, fail_first: int = 0) -> Path:
    prefix = f"cli-{os.urandom(4).hex()}"
    return write_config(
        tmp_path,
        f"""
[state]
backend = "redis"
url = "{redis_url}"
prefix = "{prefix}"

[observability]
loggers = []

[alerting]
evaluate_every = 0

[connectors.sms]
vendor = "memory"
options = {{ fail_first = {fail_first} }}
resilience = {{ retry = {{ max_attempts = 1 }}, circuit_breaker = {{ enabled = false }} }}
slo = {{ availability = 0.9, latency = {{ p95 = 0.5 }}, window = "1d" }}

[alerts.sms-failing]
when = "error_rate(sms) > 20%"
notify = ["log"]
""",
    )


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def traffic(path: Path, ok: int, failed: int) -> None:
    """`failed` failing calls, then `ok` successful ones, counted and flushed; the rules
    evaluated once."""
    with ConnectorManager.from_config(path) as manager:
        for _ in range(failed + ok):
            with contextlib.suppress(ConnectorError):
                manager.sms.send(SmsMessage("+14155550100", "hi"))
        assert manager.monitor is not None
        manager.monitor.evaluate()


@pytest.mark.redis
def test_slo_shows_every_workers_counts_and_exits_1_once_a_budget_is_spent(
    tmp_path: Path, redis_url: str
) -> None:
    path = redis_config(tmp_path, redis_url, fail_first=3)
    traffic(path, ok=7, failed=3)

    result = invoke("slo", "--config", str(path), "--json")
    assert result.exit_code == 1, result.output  # 3 of 10 failed: 30 % against 10 % allowed
    (status,) = json.loads(result.output)["slos"]
    availability, latency = status["objectives"]
    assert (availability["events"], availability["bad"]) == (10, 3)
    assert availability["budget_left"] == pytest.approx(1 - 3 / (0.1 * 10))
    assert availability["burn_rates"]["1h"] == pytest.approx(0.3 / 0.1)
    assert (latency["events"], latency["bad"]) == (7, 0)

    text = invoke("slo", "--config", str(path))
    assert text.exit_code == 1
    lines = text.output.splitlines()
    assert lines[0].split() == [
        "SLO", "OBJECTIVE", "TARGET", "WINDOW", "EVENTS", "ATTAINED", "BUDGET", "LEFT",
        "BURN", "1h", "6h", "3d",
    ]  # fmt: skip
    assert lines[1].split()[:6] == ["sms", "availability", "90.000%", "1d", "10", "70.000%"]


@pytest.mark.redis
def test_alerts_shows_the_leaders_last_evaluation_and_exits_1_while_one_fires(
    tmp_path: Path, redis_url: str
) -> None:
    path = redis_config(tmp_path, redis_url, fail_first=5)
    traffic(path, ok=5, failed=5)

    result = invoke("alerts", "--config", str(path), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    (rule,) = report["rules"]
    assert (rule["name"], rule["status"], rule["fired"]) == ("sms-failing", "firing", 1)
    assert report["leader"] is None  # the worker gave the lease up when it closed

    text = invoke("alerts", "--config", str(path))
    assert text.exit_code == 1
    assert text.output.splitlines()[1].split()[:2] == ["sms-failing", "firing"]


def test_alerts_check_names_the_rule_key_and_column_of_a_mistake(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
[connectors.email]
vendor = "memory"

[alerts.slow-mail]
when = "p95(email.sned) > 2s for 10m"
""",
    )
    result = invoke("alerts", "--check", "--config", str(path))
    assert result.exit_code == 3
    assert (
        "alerts.slow-mail.when: column 11: connector 'email' has no operation 'sned'; "
        "it has: send, send_batch"
    ) in result.output


def test_alerts_check_lists_valid_rules(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
[connectors.email]
vendor = "memory"

[alerts.slow-mail]
when = "p95(email.send) > 2s for 10m"
""",
    )
    result = invoke("alerts", "--check", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert "slow-mail: p95(email.send) > 2s for 10m  -> log" in result.output


def test_slo_without_any_slo_says_how_to_add_one(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[connectors.email]\nvendor = "memory"\n')
    result = invoke("slo", "--config", str(path))
    assert result.exit_code == 0
    assert "no SLO configured; add a [connectors.<name>.slo] table" in result.output


def test_slo_exits_5_when_the_state_backend_cannot_be_reached(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    path = redis_config(tmp_path, f"redis://127.0.0.1:{port}/0")
    result = invoke("slo", "--config", str(path))
    assert result.exit_code == 5
    assert "the state backend cannot be reached" in result.output
