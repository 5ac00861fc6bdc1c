"""``nexus-connector log tail|query``: the integration log read back from the SQL sink."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, cast

import click
import msgspec

from .._config import load_config
from .._errors import ConfigError
from .._observe import IntegrationLogRecord
from .._sql_log_config import SqlLogConfig
from .._sql_log_reader import LogReader
from .._sql_log_store import LogFilter, LogUnavailableError
from ._app import EXIT_CONFIG, EXIT_LOG, config_option, echo_json, json_option, report_config_error

__all__ = ["log", "parse_time"]

_RELATIVE = re.compile(r"-(\d{1,9}(?:\.\d{1,6})?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: The longest text of a record a line quotes (the JSON output has all of it).
_MAX_SHOWN = 300
_STATUS = click.Choice(["ok", "error"])
_Status = Literal["ok", "error"] | None
_SINCE_HELP = "ISO 8601 time (UTC unless it has an offset) or relative: -30s, -15m, -1h, -2d, -1w"


def parse_time(text: str, now: datetime) -> datetime:
    """``-1h`` (before `now`; units s, m, h, d, w), ``now``, or an ISO 8601 date or time (UTC
    unless it carries an offset). Raises `click.BadParameter` saying what is accepted."""
    value = text.strip()
    if value == "now":
        return now
    relative = _RELATIVE.fullmatch(value)
    try:
        if relative:
            return now - timedelta(seconds=float(relative[1]) * _UNITS[relative[2]])
        if len(value) > 64:
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise click.BadParameter(
            f"expected an ISO 8601 time (2025-01-31, 2025-01-31T14:00:00Z, "
            f"2025-01-31T16:00:00+02:00) or a time before now (-30s, -15m, -1h, -2d, -1w); "
            f"got {value[:64]!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    return None if value is None else parse_time(value, datetime.now(UTC))


def _name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A connector, vendor or operation name to match: printable text, as config keys are
    (bytes the shell could not decode are surrogates, which are not printable)."""
    if value is not None and not (value.isprintable() and 0 < len(value) <= 256):
        raise click.BadParameter(
            "expected a name as the config writes it (1 to 256 printable characters)"
        )
    return value


def _sql_config(config_path: Path | None) -> SqlLogConfig:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        report_config_error(exc, as_json=False)
        sys.exit(EXIT_CONFIG)  # report_config_error exited already: for the type checker
    if config.observability.sql is None:
        click.secho(
            f"No SQL sink is configured in {config.source}: the integration log is read from "
            'the one [observability] loggers = ["logging", "sql"] writes to (see '
            "[observability.sql] in docs/configuration.md).",
            fg="red",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    return config.observability.sql


def _unavailable(error: LogUnavailableError) -> None:
    click.secho(f"Cannot read the integration log: {error}", fg="red", err=True)
    sys.exit(EXIT_LOG)


def _shown(text: str) -> str:
    """Text from the log fit for a terminal: no control characters (a vendor's message may
    hold escape sequences), one line, bounded."""
    cleaned = "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)
    return cleaned if len(cleaned) <= _MAX_SHOWN else cleaned[: _MAX_SHOWN - 1] + "…"


def format_record(record: IntegrationLogRecord) -> str:
    """One line for a person: when, outcome, where, attempts, time, and the error."""
    when = record.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    attempts = f"{record.attempts} attempt{'' if record.attempts == 1 else 's'}"
    parts = [
        when,
        click.style(f"{record.status:<5}", fg="green" if record.status == "ok" else "red"),
        _shown(f"{record.connector} ({record.vendor}) {record.operation}"),
        attempts,
        f"{record.duration_ms:.1f} ms",
    ]
    if record.fallback_from:
        parts.append(_shown("after " + ", ".join(record.fallback_from)))
    if record.replayed:
        parts.append("replayed")
    if record.cached:
        parts.append("cached")
    if record.vendor_status_code is not None:
        parts.append(f"status {record.vendor_status_code}")
    if record.error_class:
        parts.append(_shown(f"{record.error_class}: {record.error_message or ''}".rstrip(": ")))
    return "  ".join(parts)


def _print(records: Iterable[IntegrationLogRecord], as_json: bool) -> None:
    for record in records:
        if as_json:
            click.echo(_json_line(record))
        else:
            click.echo(format_record(record))


def _json_line(record: IntegrationLogRecord) -> str:
    return msgspec.json.encode(record).decode()


@click.group()
def log() -> None:
    """Read the integration log back from the SQL sink ([observability.sql]).

    Exit codes: 0 ok (also when nothing matches), 2 bad usage, 3 invalid configuration or
    no SQL sink configured, 6 the log database cannot be read.
    """


@log.command()
@click.option("--connector", callback=_name, help="Only this connector's calls.")
@click.option("--status", type=_STATUS, default=None, help="Only calls that ended so.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(1, 100_000),
    default=20,
    show_default=True,
    help="How many of the most recent records.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing records as they are written.")
@json_option
@config_option
def tail(
    *,
    connector: str | None,
    status: str | None,
    lines: int,
    follow: bool,
    as_json: bool,
    config_path: Path | None,
) -> None:
    """The most recent calls, oldest first; --follow keeps printing new ones (Ctrl-C ends).

    --json prints one JSON record per line (JSON Lines).
    """
    where = LogFilter(connector=connector, status=cast(_Status, status), limit=lines)
    with LogReader(_sql_config(config_path)) as reader:
        try:
            start = reader.last_seq() if follow else 0
            found = reader.records(where)
        except LogUnavailableError as exc:
            _unavailable(exc)
            return
        _print((record for _, record in found), as_json)
        if not follow:
            return
        start = max(start, *(seq for seq, _ in found)) if found else start
        try:
            for item in reader.follow(where, start):
                if isinstance(item, LogUnavailableError):
                    click.secho(f"Cannot read the integration log (retrying): {item}", err=True)
                else:
                    _print((item,), as_json)
        except KeyboardInterrupt:
            sys.exit(130)


@log.command()
@click.option("--connector", callback=_name, help="Only this connector's calls.")
@click.option("--vendor", callback=_name, help="Only calls this vendor answered last.")
@click.option("--operation", callback=_name, help="Only this operation (send, capture, ...).")
@click.option("--status", type=_STATUS, default=None, help="Only calls that ended so.")
@click.option("--since", callback=_since, default=None, help=f"From this time: {_SINCE_HELP}.")
@click.option("--until", callback=_since, default=None, help="Before this time (same forms).")
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=100,
    show_default=True,
    help="At most this many: the most recent matches.",
)
@json_option
@config_option
def query(
    *,
    connector: str | None,
    vendor: str | None,
    operation: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    as_json: bool,
    config_path: Path | None,
) -> None:
    """The calls matching every filter given, oldest first (the most recent --limit).

    \b
    nexus-connector log query --connector payment --status error --since -1h
    nexus-connector log query --since 2025-01-31 --until 2025-02-01 --json

    --json prints a JSON array of records.
    """
    where = LogFilter(
        connector=connector,
        vendor=vendor,
        operation=operation,
        status=cast(_Status, status),
        since=since,
        until=until,
        limit=limit,
    )
    with LogReader(_sql_config(config_path)) as reader:
        try:
            found = reader.records(where)
        except LogUnavailableError as exc:
            _unavailable(exc)
            return
    if as_json:
        echo_json([record for _, record in found])
    else:
        _print((record for _, record in found), as_json=False)
