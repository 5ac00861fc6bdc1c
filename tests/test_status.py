"""``nexus-connector status``: each connector's calls, error rate and p50/p95 over the last 5
minutes as every worker made them (the shared call counts on Redis, else the SQL log), and
``--watch`` redrawing until interrupted."""

from __future__ import annotations

import doctest
import os
import time
import types
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from nexus_connector_core import (
    ConnectorManager,
    EmailMessage,
    VendorUnavailableError,
    _recent_traffic as recent_traffic_module,
)
from nexus_connector_core.cli import _status as status_command, cli
from nexus_connector_core.testing import FakeClock

MAIL = EmailMessage(sender="shop@example.com", to=["ada@example.com"], subject="Hi", text="x")
EMAIL = (
    '[connectors.email]\nvendor = "memory"\noptions = { fail_first = 1, latency = 0.3 }\n'
    "[connectors.email.resilience]\nretry = { enabled = false }\ntimeout = 10.0\n"
)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connectors.toml"
    path.write_text(text + EMAIL, encoding="utf-8")
    return path


def _worker_sends(path: Path, sends: int) -> None:
    """Another worker: `sends` emails (the first fails), each taking 0.3 s on its clock,
    which reads the wall clock's now, so the calls fall in status's last 5 minutes."""
    clock = FakeClock(wall=time.time() - 60.0)
    with ConnectorManager.from_config(path, clock=clock) as worker:
        with pytest.raises(VendorUnavailableError):
            worker.email.send(MAIL)
        for _ in range(sends - 1):
            worker.email.send(MAIL)


def _status(path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["status", "--config", str(path), *args])


def test_status_shows_every_workers_calls_error_rate_and_percentiles_from_redis_counts(
    tmp_path: Path, redis_url: str
) -> None:
    prefix = f"status-{os.urandom(4).hex()}"
    path = _toml(
        tmp_path,
        f'[state]\nbackend = "redis"\nurl = "{redis_url}"\nprefix = "{prefix}"\n'
        "[alerting]\ncount_calls = true\nevaluate_every = 0\n",
    )
    _worker_sends(path, 4)

    table = _status(path)
    shown = _status(path, "--json")

    assert table.exit_code == 0, table.output
    header, row = table.output.splitlines()[1:3]
    assert header.split()[-4:] == ["5M", "ERRORS", "P50", "P95"]
    assert row.split()[-4:] == ["4", "25.0%", "<=500ms", "<=500ms"]  # 0.3 s: the 0.5 s bucket
    assert "upper bounds of latency buckets" in table.output
    traffic = msgspec.json.decode(shown.output)["traffic"]["email"]
    assert traffic == {
        "source": "counts",
        "window": 300.0,
        "calls": 4,
        "error_rate": 0.25,
        "p50_ms": 500.0,
        "p95_ms": 500.0,
    }


def test_status_reads_recent_traffic_from_the_sql_log_without_counts(tmp_path: Path) -> None:
    path = _toml(
        tmp_path, '[observability]\nloggers = ["sql"]\nsql = { url = "sqlite:///log.db" }\n'
    )
    _worker_sends(path, 5)

    shown = _status(path, "--json")
    table = _status(path)

    assert shown.exit_code == 0, shown.output
    traffic = msgspec.json.decode(shown.output)["traffic"]["email"]
    assert traffic["source"] == "log"
    assert (traffic["calls"], traffic["error_rate"]) == (5, 0.2)
    assert traffic["p50_ms"] == traffic["p95_ms"] == pytest.approx(300.0)
    row = table.output.splitlines()[2]
    assert row.split()[-4:] == ["5", "20.0%", "300ms", "300ms"]


def test_status_says_how_to_share_recent_traffic_when_no_worker_does(tmp_path: Path) -> None:
    path = _toml(tmp_path, "")

    done = _status(path)

    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[2].split()[-4:] == ["-", "-", "-", "-"]
    assert "count_calls = true" in done.output
    assert 'loggers = ["sql"]' in done.output
    assert msgspec.json.decode(_status(path, "--json").output)["traffic"] is None


def test_watch_redraws_the_table_until_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _toml(tmp_path, "")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second wait

    monkeypatch.setattr(status_command, "time", types.SimpleNamespace(sleep=sleep))

    done = _status(path, "--watch", "2.5")

    assert done.exit_code == 0, done.output
    assert waits == [2.5, 2.5]
    assert done.output.count("CONNECTOR  STATUS") == 2  # drawn, redrawn, then interrupted


def test_the_recent_traffic_examples_run() -> None:
    assert doctest.testmod(recent_traffic_module).failed == 0
