"""``nexus-connector webhook verify``: check one delivery, to debug a webhook endpoint."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

import click
import msgspec

from .._credentials import (
    CredentialProvider,
    EnvironmentProvider,
    FileProvider,
    Secret,
    resolve_reference,
)
from .._errors import ConfigError, CredentialNotFoundError, PluginError, WebhookVerificationError
from .._plugins import default_registry
from ..webhooks import DEFAULT_TOLERANCE, WebhookEvent, verify
from ._app import EXIT_CALL_FAILED, echo_json, json_option

__all__ = ["webhook"]


@click.group()
def webhook() -> None:
    """Webhook tools: check a delivery's signature, timestamp and payload."""


def _provider(prefix: str) -> CredentialProvider | None:
    # The built-in references only: a debugging command needs no config file to run.
    if prefix == "env":
        return EnvironmentProvider()
    if prefix == "file":
        return FileProvider()  # relative paths from the working directory
    return None


def _secrets(refs: Sequence[str]) -> list[Secret]:
    try:
        return [resolve_reference(ref, _provider) for ref in refs]
    except CredentialNotFoundError as exc:
        # The message names the reference, never a value.
        raise click.BadParameter(exc.message, param_hint="--secret-ref") from None


def _headers(values: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, colon, rest = value.partition(":")
        if not colon or not name.strip():
            raise click.BadParameter(
                f"{value!r} is not 'Name: value'", param_hint="--header"
            ) from None
        pairs.append((name.strip(), rest.strip()))
    return pairs


def _options(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        options = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--options") from None
    if not isinstance(options, dict):
        raise click.BadParameter("expected a JSON object", param_hint="--options")
    return options


def _describe(event: WebhookEvent) -> dict[str, Any]:
    return {
        "valid": True,
        "verifier": event.verifier,
        "id": event.id,
        "timestamp": event.timestamp.isoformat() if event.timestamp else None,
        "body_bytes": len(event.body),
        "data": event.data,
    }


@webhook.command("verify")
@click.argument("key")
@click.option(
    "--secret-ref",
    "secret_refs",
    multiple=True,
    required=True,
    help="The secret: env:NAME, file:PATH or the value itself. Repeat for rotated secrets.",
)
@click.option(
    "--header",
    "-H",
    "header_values",
    multiple=True,
    help="A header of the delivery, 'Name: value'. Repeat for each.",
)
@click.option(
    "--body-file",
    type=click.File("rb"),
    required=True,
    help="The raw body, byte for byte; - reads stdin.",
)
@click.option("--url", default=None, help="The URL the delivery was sent to (Twilio signs it).")
@click.option(
    "--now",
    type=float,
    default=None,
    help="Check the timestamp as of this time (seconds since the epoch), for old deliveries.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=DEFAULT_TOLERANCE,
    show_default=True,
    help="Seconds the signed timestamp may be off, either way.",
)
@click.option(
    "--options",
    "options_json",
    default=None,
    help='The verifier\'s options as JSON (hmac: \'{"header": "X-Signature"}\').',
)
@json_option
def verify_command(
    *,
    key: str,
    secret_refs: tuple[str, ...],
    header_values: tuple[str, ...],
    body_file: IO[bytes],
    url: str | None,
    now: float | None,
    tolerance: float,
    options_json: str | None,
    as_json: bool,
) -> None:
    """Verify one delivery with the verifier KEY (github, slack, shopify, standard-webhooks,
    hmac, or a plugin's); print the event, or why it is rejected.

    \b
    nexus-connector webhook verify github --secret-ref env:GITHUB_WEBHOOK_SECRET \\
        -H 'X-Hub-Signature-256: sha256=7571...' --body-file delivery.json

    Exit codes: 0 valid, 1 rejected, 2 bad usage (unknown KEY, unreadable secret). Prefer
    env: or file: references: a secret typed on the command line stays in shell history.
    """
    secrets = _secrets(secret_refs)
    headers = _headers(header_values)
    options = _options(options_json)
    body = body_file.read()
    try:
        event = verify(
            key,
            headers=headers,
            body=body,
            secret=secrets,
            url=url,
            now=now,
            tolerance=tolerance,
            options=options,
            registry=default_registry(),
        )
    except (PluginError, ConfigError) as exc:
        raise click.UsageError(exc.message) from None
    except WebhookVerificationError as exc:
        if as_json:
            echo_json({"valid": False, "verifier": key, "reason": exc.reason})
        else:
            click.secho(f"rejected ({key}): {exc.reason}", fg="red")
        sys.exit(EXIT_CALL_FAILED)
    described = _describe(event)
    if as_json:
        echo_json(described)
        return
    click.secho(f"valid ({event.verifier})", fg="green")
    for field in ("id", "timestamp", "body_bytes"):
        click.echo(f"  {field}: {described[field] if described[field] is not None else '-'}")
    data = msgspec.json.format(msgspec.json.encode(event.data), indent=2).decode()
    click.echo("  data: " + data.replace("\n", "\n  "))
