"""``nexus-connector log tail|query``: the integration log read back from the SQL sink, with
filters, for people and for scripts, and exit codes that say what went wrong."""

from __future__ import annotations

import contextlib
import json
import queue
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import msgspec
import pytest
from click.testing import CliRunner

from nexus_connector_core import (
    ConnectorManager,
    EmailMessage,
    SmsMessage,
    VendorUnavailableError,
)
from nexus_connector_core._observe import IntegrationLogRecord
from nexus_connector_core._sql_log import SqlCallLogger
from nexus_connector_core._sql_log_config import SqlLogConfig
from nexus_connector_core._sql_log_reader import LogReader
from nexus_connector_core._sql_log_store import (
    LogFilter,
    LogUnavailableError,
    open_database,
    to_row,
)
from nexus_connector_core.cli import EXIT_CONFIG, EXIT_LOG, cli
from nexus_connector_core.cli._log import parse_time

WAIT = 30.0
COMMAND = (sys.executable, "-c", "from nexus_connector_core.cli import main; main()")
EMAIL = EmailMessage(sender="shop@example.com", to=["ada@example.com"], subject="Hi", text="Hi")


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _config_file(folder: Path, sql: SqlLogConfig | None, loggers: str = '"memory", "sql"') -> Path:
    lines = [
        "[connectors.email]",
        'vendor = "memory"',
        "[connectors.flaky]",
        'category = "sms"',
        'vendor = "memory"',
        'options = { fail_first = 2, failure = "unavailable" }',
        "resilience = { retry = { max_attempts = 1 } }",
        "[observability]",
        f"loggers = [{loggers}]",
    ]
    if sql is not None:
        lines += ["[observability.sql]", f'url = "{sql.url}"', f'table = "{sql.table}"']
    path = folder / "connectors.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _builtins(records: list[IntegrationLogRecord]) -> list[Any]:
    return json.loads(msgspec.json.encode(records))


def _write(config: SqlLogConfig, records: list[IntegrationLogRecord]) -> None:
    sink = SqlCallLogger(config)
    for record in records:
        sink.emit(record)
    sink.close()
    assert sink.written == len(records)


# -- the must-show: PostgreSQL, written by a manager, read by the command -----------------


def test_on_postgresql_what_the_manager_logged_is_what_log_query_reads(
    postgres_config: SqlLogConfig, tmp_path: Path
) -> None:
    path = _config_file(tmp_path, postgres_config)
    with ConnectorManager.from_config(path) as manager:
        for _ in range(3):
            manager.email.send(EMAIL)
        for _ in range(3):
            with contextlib.suppress(VendorUnavailableError):  # the first two, on purpose
                manager.connector("flaky", "sms").send(SmsMessage(to="+14155550100", body="x"))
    logged = manager.call_log
    assert [r.status for r in logged] == ["ok"] * 3 + ["error", "error", "ok"]

    code, out, err = _run("log", "query", "--config", str(path), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == _builtins(logged)

    code, out, _ = _run(
        "log", "query", "--config", str(path), "--json", "--connector", "flaky", "--status", "error"
    )
    assert json.loads(out) == _builtins(logged[3:5])
    assert json.loads(out)[0]["error_class"] == "VendorUnavailableError"

    code, out, _ = _run("log", "tail", "--config", str(path), "--json", "-n", "2")
    assert [json.loads(line) for line in out.splitlines()] == _builtins(logged[-2:])


# -- filters and output ---------------------------------------------------------------------


@pytest.fixture
def logged(
    sqlite_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord]
) -> list[IntegrationLogRecord]:
    start = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
    records = [
        make_record(timestamp=start + timedelta(minutes=n), connector=connector, status=status)
        for n, (connector, status) in enumerate(
            [("email", "ok"), ("sms", "error"), ("email", "error"), ("sms", "ok"), ("email", "ok")]
        )
    ]
    _write(sqlite_config, records)
    return records


def test_query_filters_by_connector_status_and_time(
    sqlite_config: SqlLogConfig, logged: list[IntegrationLogRecord], tmp_path: Path
) -> None:
    path = _config_file(tmp_path, sqlite_config)

    def query(*args: str) -> list[Any]:
        code, out, _ = _run("log", "query", "--config", str(path), "--json", *args)
        assert code == 0
        return list(json.loads(out))

    assert query() == _builtins(logged)
    assert query("--connector", "email") == _builtins([logged[0], logged[2], logged[4]])
    assert query("--status", "error") == _builtins([logged[1], logged[2]])
    assert query("--since", "2025-01-31T12:01:00Z", "--until", "2025-01-31T14:03:00+02:00") == (
        _builtins(logged[1:3])
    )
    assert query("--limit", "2") == _builtins(logged[-2:])  # the most recent, oldest first
    assert query("--vendor", "nobody") == []


def test_tail_prints_one_line_a_call_for_people(
    sqlite_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord], tmp_path: Path
) -> None:
    _write(
        sqlite_config,
        [
            make_record(timestamp=datetime(2025, 1, 31, 12, 0, tzinfo=UTC)),
            make_record(
                timestamp=datetime(2025, 1, 31, 12, 1, 2, 345000, tzinfo=UTC),
                connector="sms",
                vendor="twilio",
                status="error",
                attempts=3,
                duration_ms=1520.25,
                vendor_status_code=503,
                error_class="VendorUnavailableError",
                # A vendor's text may hold a terminal's escape sequences: never printed as such.
                error_message="busy \x1b[2J\x1b]0;owned\x07 try later",
                fallback_from=("vonage",),
            ),
        ],
    )
    code, out, _ = _run("log", "tail", "--config", str(_config_file(tmp_path, sqlite_config)))
    assert code == 0
    assert out.splitlines() == [
        "2025-01-31 12:00:00.000Z  ok     email (memory) send  1 attempt  1.2 ms",
        "2025-01-31 12:01:02.345Z  error  sms (twilio) send  3 attempts  1520.2 ms  after vonage"
        "  status 503  VendorUnavailableError: busy \ufffd[2J\ufffd]0;owned\ufffd try later",
    ]


# -- what goes wrong ----------------------------------------------------------------------


def test_without_a_sql_sink_the_command_says_how_to_configure_one(tmp_path: Path) -> None:
    code, out, err = _run(
        "log", "tail", "--config", str(_config_file(tmp_path, None, loggers='"logging"'))
    )
    assert code == EXIT_CONFIG
    assert out == ""
    assert "No SQL sink is configured in" in err
    assert 'loggers = ["logging", "sql"]' in err


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    config = SqlLogConfig(url=f"sqlite:///{tmp_path}/nothing-here.db")
    code, _, err = _run("log", "query", "--config", str(_config_file(tmp_path, config)))
    assert code == EXIT_LOG
    assert f"no log database at {tmp_path}/nothing-here.db" in err
    assert not (tmp_path / "nothing-here.db").exists()


def test_a_database_without_the_table_says_who_creates_it(
    sqlite_config: SqlLogConfig, tmp_path: Path
) -> None:
    sqlite_config.sqlite_path.write_bytes(b"")  # an empty file is an empty SQLite database
    code, _, err = _run("log", "tail", "--config", str(_config_file(tmp_path, sqlite_config)))
    assert code == EXIT_LOG
    assert f"no table {sqlite_config.table} in" in err
    assert "creates it at its first write" in err


def test_an_unreachable_postgresql_is_exit_6_and_no_password_is_shown(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    secret = "pa55-w0rd-xyz"
    config = SqlLogConfig(url=f"postgresql://logger:{secret}@127.0.0.1:1/test")
    code, out, err = _run("log", "query", "--config", str(_config_file(tmp_path, config)))
    assert code == EXIT_LOG
    assert "cannot connect to the log database postgresql://127.0.0.1:1/test" in err
    assert secret not in out + err


@pytest.mark.parametrize("value", ["yesterday", "-1y", "2025-13-01", "-9999999999w", "x" * 100])
def test_a_time_the_command_cannot_read_is_a_usage_error(value: str, tmp_path: Path) -> None:
    config = SqlLogConfig(url=f"sqlite:///{tmp_path}/log.db")
    code, _, err = _run(
        "log", "query", "--config", str(_config_file(tmp_path, config)), "--since", value
    )
    assert code == 2
    assert "expected an ISO 8601 time" in err


@pytest.mark.parametrize("name", ["", "a\udcff", "tab\there", "x" * 257])
def test_a_name_no_config_could_hold_is_a_usage_error(name: str, tmp_path: Path) -> None:
    config = SqlLogConfig(url=f"sqlite:///{tmp_path}/log.db")
    code, _, err = _run(
        "log", "query", "--config", str(_config_file(tmp_path, config)), "--vendor", name
    )
    assert code == 2
    assert "1 to 256 printable characters" in err


def test_times_are_iso_8601_or_relative_to_now() -> None:
    now = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
    assert parse_time("-90s", now) == now - timedelta(seconds=90)
    assert parse_time("-1.5h", now) == now - timedelta(minutes=90)
    assert parse_time("-2w", now) == now - timedelta(days=14)
    assert parse_time("now", now) == now
    assert parse_time("2025-01-30", now) == datetime(2025, 1, 30, tzinfo=UTC)
    assert parse_time("2025-01-30T16:00:00+02:00", now) == datetime(2025, 1, 30, 14, tzinfo=UTC)
    with pytest.raises(click.BadParameter):
        parse_time("-1.1234567h", now)


# -- following ----------------------------------------------------------------------------


def test_following_yields_new_records_in_the_order_they_were_written(
    sql_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord]
) -> None:
    first = [make_record(connector="email"), make_record(connector="sms")]
    _write(sql_config, first)
    later = [make_record(connector="email"), make_record(connector="sms")]
    batches = iter([later, []])

    def wait(interval: float) -> None:
        _write(sql_config, next(batches))  # written while the follower waits

    with LogReader(sql_config) as reader:
        followed = reader.follow(LogFilter(connector="email"), reader.last_seq(), wait=wait)
        assert next(followed) == later[0]


def test_following_finds_a_row_another_writer_committed_late(
    postgres_config: SqlLogConfig,
    admin: Callable[[SqlLogConfig], Any],
    make_record: Callable[..., IntegrationLogRecord],
) -> None:
    database = open_database(postgres_config)
    slow, fast = database.connect(), database.connect()
    database.ensure_schema(slow)
    early, late = make_record(connector="slow"), make_record(connector="fast")
    steps = iter(["fast", "slow", "done"])

    def wait(interval: float) -> None:
        step = next(steps)
        if step == "fast":
            database.insert(fast, [to_row(late)])  # a higher seq, committed first
        elif step == "slow":
            slow.commit()  # the lower seq becomes visible only now

    try:
        with LogReader(postgres_config) as reader:
            after = reader.last_seq()
            slow.autocommit = False
            slow.execute(database._insert, to_row(early))  # takes the next seq, uncommitted
            followed = reader.follow(LogFilter(), after, wait=wait)
            assert next(followed) == late
            assert next(followed) == early
    finally:
        slow.close()
        fast.close()


def test_following_reports_an_outage_once_and_goes_on(
    sqlite_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord]
) -> None:
    record = make_record()
    _write(sqlite_config, [make_record()])
    moved = sqlite_config.sqlite_path.with_suffix(".away")
    steps = iter(["away", "still away", "back"])

    def wait(interval: float) -> None:
        step = next(steps)
        if step == "away":
            sqlite_config.sqlite_path.rename(moved)
            reader.close()  # an open SQLite connection would read on from the moved file
        elif step == "back":
            moved.rename(sqlite_config.sqlite_path)
            _write(sqlite_config, [record])

    with LogReader(sqlite_config) as reader:
        followed = reader.follow(LogFilter(), reader.last_seq(), wait=wait)
        outage = next(followed)
        assert isinstance(outage, LogUnavailableError)
        assert next(followed) == record  # the second failed look said nothing


def test_tail_follow_prints_records_as_they_are_written(
    sqlite_config: SqlLogConfig, make_record: Callable[..., IntegrationLogRecord], tmp_path: Path
) -> None:
    _write(sqlite_config, [make_record()])
    path = _config_file(tmp_path, sqlite_config)
    process = subprocess.Popen(
        [*COMMAND, "log", "tail", "-f", "--json", "--config", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        assert json.loads(lines.get(timeout=WAIT))["connector"] == "email"  # the last one
        record = make_record(connector="sms")
        _write(sqlite_config, [record])
        assert json.loads(lines.get(timeout=WAIT)) == _builtins([record])[0]
    finally:
        process.terminate()
        process.wait(WAIT)


def test_the_examples_of_the_cli_guide_run(
    sqlite_config: SqlLogConfig, logged: list[IntegrationLogRecord], tmp_path: Path
) -> None:
    text = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("## Reading the integration log")[1].split("```")[1]
    examples = [line for line in section.splitlines() if line.startswith("nexus-connector log")]
    assert len(examples) == 4
    path = str(_config_file(tmp_path, sqlite_config))
    for example in examples:
        args = shlex.split(example.split(" | ")[0])[1:]
        if "--follow" in args:
            continue  # runs until interrupted: test_tail_follow_prints_... runs it
        code, _, err = _run(*args, "--config", path)
        assert (code, err) == (0, ""), example
