"""``nexus-connector secrets``: the encrypted secret store behind ``store:NAME`` references."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from .._config import CONFIG_ENV, DEFAULT_FILE
from .._credential_store import (
    KEY_ENV,
    EncryptedFileStore,
    MasterKeys,
    name_problem,
    new_key,
    require_cryptography,
    store_path,
)
from .._credentials import MAX_SECRET_BYTES, decode_text
from .._errors import ConfigError, ConnectorError
from ._app import EXIT_CALL_FAILED, EXIT_CONFIG, echo_json, json_option


def _store(config_path: Path | None, store: Path | None) -> EncryptedFileStore:
    with _reporting():
        require_cryptography()
        if store is None:
            config = config_path or Path(os.environ.get(CONFIG_ENV) or DEFAULT_FILE)
            store = store_path(os.environ, config.resolve().parent)
        return EncryptedFileStore(store, MasterKeys.from_environ(os.environ))


@contextmanager
def _reporting() -> Iterator[None]:
    """Our errors as one red line and an exit code: 3 for the store or its keys
    (`ConfigError`), 1 for one secret (`CredentialNotFoundError`). Never a traceback."""
    try:
        yield
    except ConnectorError as exc:
        click.secho(str(exc), fg="red", err=True)
        sys.exit(EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_CALL_FAILED)


def _valid_name(ctx: click.Context, param: click.Parameter, name: str) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return name


F = TypeVar("F", bound=Callable[..., Any])

_store_options = [
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file; the store is secrets.enc next to it.",
    ),
    click.option(
        "--store",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The store file (default: $NEXUS_CONNECTOR_SECRETS_FILE, else next to the config).",
    ),
]


def _with_store(func: F) -> F:
    """``--config`` and ``--store``: where the store file is."""
    for option in reversed(_store_options):
        func = option(func)
    return func


@click.group()
def secrets() -> None:
    """The encrypted secret store: values sealed with AES-256-GCM under master keys from
    $NEXUS_CONNECTOR_SECRETS_KEY (first key seals, any opens)."""


@secrets.command()
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write the new key to (mode 0600; never printed).",
)
def keygen(output: Path) -> None:
    """Make a new master key and write it to a file."""
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise click.UsageError(f"{output} exists; choose a new file") from None
    except OSError as exc:
        raise click.UsageError(f"cannot create {output}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(new_key() + "\n")
    click.echo(f"wrote a new master key to {output}; point NEXUS_CONNECTOR_SECRETS_KEY_FILE at it")


@secrets.command(name="set")
@click.argument("name", callback=_valid_name)
@click.option(
    "--value-file",
    type=click.File("rb"),
    default="-",
    help="Read the value from this file (default: standard input, so it never sits in argv).",
)
@_with_store
def set_(name: str, value_file: IO[bytes], config_path: Path | None, store: Path | None) -> None:
    """Seal a value as NAME, read from standard input or --value-file exactly as given (a
    trailing newline is kept: pipe it with `printf '%s' "$VALUE"`)."""
    data = value_file.read(MAX_SECRET_BYTES + 1)
    if len(data) > MAX_SECRET_BYTES:
        raise click.UsageError(f"the value is larger than {MAX_SECRET_BYTES} bytes")
    value = decode_text(data)
    if value is None:
        raise click.UsageError("the value is not UTF-8 text")
    if not value:
        raise click.UsageError("the value is empty")
    target = _store(config_path, store)
    with _reporting():
        target.set(name, value)
    click.echo(f"stored {name} in {target.path} under key {target.keys.current}")
    if value.endswith(("\n", "\r")):
        click.echo(
            "note: the value ends with a line break, which is part of it; to leave it out, "
            "pipe the value with printf '%s'",
            err=True,
        )


@secrets.command()
@click.argument("name", callback=_valid_name)
@click.option("--reveal", is_flag=True, help="Print the value itself (else only facts about it).")
@_with_store
@json_option
def get(
    name: str, reveal: bool, config_path: Path | None, store: Path | None, as_json: bool
) -> None:
    """Show facts about the secret NAME; with --reveal, its value."""
    target = _store(config_path, store)
    with _reporting():
        key_id, value = target.lookup(name)
    if reveal:
        click.echo(value)
        return
    facts = {"name": name, "key_id": key_id, "length": len(value)}
    if as_json:
        echo_json(facts)
    else:
        click.echo(f"{name}: {len(value)} characters, sealed under key {key_id}")


@secrets.command(name="list")
@_with_store
@json_option
def list_(config_path: Path | None, store: Path | None, as_json: bool) -> None:
    """The names in the store and the key each is sealed under."""
    target = _store(config_path, store)
    with _reporting():
        names = target.names()
    if as_json:
        echo_json({"store": str(target.path), "current_key": target.keys.current, "secrets": names})
        return
    for name, key_id in names.items():
        stale = "" if key_id == target.keys.current else "  (old key: run `secrets rotate`)"
        click.echo(f"{name}  key {key_id}{stale}")


@secrets.command()
@click.argument("name", callback=_valid_name)
@_with_store
def delete(name: str, config_path: Path | None, store: Path | None) -> None:
    """Remove the secret NAME."""
    target = _store(config_path, store)
    with _reporting():
        deleted = target.delete(name)
    if not deleted:
        click.secho(f"no secret named {name!r}", fg="red", err=True)
        sys.exit(EXIT_CALL_FAILED)
    click.echo(f"deleted {name}")


@secrets.command()
@_with_store
def rotate(config_path: Path | None, store: Path | None) -> None:
    """Seal every value again under the first key of $NEXUS_CONNECTOR_SECRETS_KEY."""
    target = _store(config_path, store)
    with _reporting():
        moved = target.rotate()
    click.echo(f"re-sealed {moved} secret(s) under key {target.keys.current} (from {KEY_ENV})")
