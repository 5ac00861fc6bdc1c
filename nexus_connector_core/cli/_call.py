"""``nexus-connector call``: one operation through the full pipeline, result and log printed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from .._cloud_storage import PutObject
from .._config import load_config
from .._errors import ConfigError, ConnectorError
from .._manager import ConnectorManager
from .._observe import MemoryCallLogger
from ._app import EXIT_CALL_FAILED, config_option, echo_json, report_config_error

#: Operations that hand back a live stream, which a one-shot command cannot print.
_STREAMING = {("cloud_storage", "open")}


def _read_payload(payload: str) -> Any:
    if payload == "-":
        text = sys.stdin.read()
    elif payload.startswith("@"):
        try:
            text = Path(payload[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot read {payload[1:]}: {exc.strerror}") from None
    else:
        text = payload
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--json") from None


@click.command()
@click.argument("connector")
@click.argument("operation")
@click.option(
    "--json",
    "payload",
    default="{}",
    show_default=True,
    help="The request as JSON: inline, @FILE, or - for stdin.",
)
@click.option("--idempotency-key", default=None, help="Idempotency key for the call.")
@config_option
def call(
    connector: str,
    operation: str,
    payload: str,
    idempotency_key: str | None,
    config_path: Path | None,
) -> None:
    """Run OPERATION on CONNECTOR through the full pipeline; print result and log record.

    \b
    nexus-connector call email send --json '{"sender": "shop@example.com",
        "to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}'

    Fields are those of the operation's request type (EmailMessage, SmsMessage,
    PaymentRequest, CaptureRequest, PutObject...). For put, a string "data" is sent as UTF-8.
    Output is JSON: {"result": ..., "log": ...} or {"error": ..., "log": ...} (exit 1).
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        report_config_error(exc, as_json=False)
        return
    log = MemoryCallLogger(size=1)
    with ConnectorManager(config, loggers=[log]) as manager:
        try:
            target = manager.connector(connector)
            op = target.operation(operation)
        except ConnectorError as exc:
            raise click.UsageError(exc.message) from None
        if (op.category, op.name) in _STREAMING:
            raise click.UsageError(f"{op.category}.{op.name} streams; use 'get' to fetch whole")
        args = _read_payload(payload)
        if (
            op.request_type is PutObject
            and isinstance(args, dict)
            and isinstance(args.get("data"), str)
        ):
            args["data"] = args["data"].encode()
        try:
            request = msgspec.convert(args, op.request_type)
        except msgspec.ValidationError as exc:
            raise click.BadParameter(
                f"not a valid {op.request_type.__name__}: {exc}", param_hint="--json"
            ) from None
        try:
            result = target.invoke(operation, request, idempotency_key=idempotency_key)
        except ConnectorError as exc:
            records = log.records()
            echo_json(
                {
                    "error": {
                        "class": type(exc).__name__,
                        "message": str(exc),
                        "retryable": exc.retryable,
                    },
                    "log": records[-1] if records else None,
                }
            )
            sys.exit(EXIT_CALL_FAILED)
        records = log.records()
        echo_json({"result": result, "log": records[-1] if records else None})
