"""``nexus-connector call``: one operation through the full pipeline, result and log printed."""

from __future__ import annotations

import base64
import difflib
import sys
from collections.abc import Iterator
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


def _read_payload(payload: str) -> Any:
    if payload == "-":
        data, origin = sys.stdin.buffer.read(), "standard input"
    elif payload.startswith("@"):
        origin = payload[1:]
        try:
            data = Path(origin).read_bytes()
        except OSError as exc:
            raise click.BadParameter(
                f"cannot read {origin}: {exc.strerror or type(exc).__name__}", param_hint="--json"
            ) from None
    else:
        data, origin = payload.encode("utf-8", "surrogateescape"), "--json"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(
            f"{origin} is not UTF-8 text (byte {exc.start}); JSON must be UTF-8",
            param_hint="--json",
        ) from None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--json") from None


def _check_fields(value: Any, request_type: type[Any]) -> None:
    """Refuse a field the request type does not have, at any depth, with the closest name:
    msgspec would silently drop ``"metdata"``, and the call would go out without it."""
    for where, key, allowed in _unknown_fields(value, msgspec.inspect.type_info(request_type)):
        hint = difflib.get_close_matches(key, allowed, 1)
        raise click.BadParameter(
            f"{request_type.__name__} has no field {key!r}{f' at {where}' if where else ''}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + f"; its fields: {', '.join(allowed)}",
            param_hint="--json",
        )


def _unknown_fields(value: Any, info: Any, where: str = "") -> Iterator[tuple[str, str, list[str]]]:
    inspect = msgspec.inspect
    if isinstance(info, inspect.UnionType):
        kinds = (
            (inspect.StructType,)
            if isinstance(value, dict)
            else (inspect.ListType, inspect.VarTupleType, inspect.SetType, inspect.FrozenSetType)
        )
        members = [m for m in info.types if isinstance(m, kinds)]
        if len(members) != 1:
            return
        info = members[0]
    if isinstance(info, inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        for key, item in value.items():
            if key not in fields:
                yield where, str(key), sorted(fields)
            else:
                yield from _unknown_fields(item, fields[key], f"{where}.{key}".lstrip("."))
    elif isinstance(
        info, inspect.ListType | inspect.VarTupleType | inspect.SetType | inspect.FrozenSetType
    ) and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unknown_fields(item, info.item_type, f"{where}[{index}]")


def _put_data(args: dict[str, Any]) -> dict[str, Any]:
    """A put's bytes from JSON, which has none: ``"data"`` is text, sent as UTF-8;
    ``"data_base64"`` is any bytes in base64 (what a ``get`` prints), so a got object can be
    put back as it was."""
    if "data_base64" not in args:
        if isinstance(args.get("data"), str):
            return {**args, "data": args["data"].encode("utf-8", "surrogateescape")}
        return args
    rest = {k: v for k, v in args.items() if k != "data_base64"}
    if "data" in rest:
        raise click.BadParameter(
            'give "data" (text, sent as UTF-8) or "data_base64" (bytes), not both',
            param_hint="--json",
        )
    encoded = args["data_base64"]
    try:
        if not isinstance(encoded, str):
            raise ValueError
        rest["data"] = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise click.BadParameter(
            '"data_base64" must be a base64 string (A-Z, a-z, 0-9, +, / and = padding)',
            param_hint="--json",
        ) from None
    return rest


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
    PaymentRequest, CaptureRequest, PutObject...). For put, "data" is text sent as UTF-8,
    or "data_base64" any bytes in base64. Output is JSON: {"result": ..., "log": ...} or
    {"error": ..., "log": ...} (exit 1); bytes in a result (what get returns) are base64.
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
        if op.streams:
            raise click.UsageError(f"{op.category}.{op.name} streams; use 'get' to fetch whole")
        args = _read_payload(payload)
        if op.request_type is PutObject and isinstance(args, dict):
            args = _put_data(args)
        _check_fields(args, op.request_type)
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
