"""Secrets and where they come from: ``env:NAME``, ``file:PATH`` and plugin providers."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from ._errors import CredentialNotFoundError

__all__ = [
    "CredentialProvider",
    "EnvironmentProvider",
    "FileProvider",
    "Secret",
    "parse_reference",
    "resolve_reference",
]

_MASK = "**********"
_REFERENCE = re.compile(r"([a-z][a-z0-9_-]*):(.*)", re.DOTALL)


class Secret:
    """A secret value that never shows itself: repr, str and JSON give ``**********``.

    >>> token = Secret("sk_live_123")
    >>> token
    Secret('**********')
    >>> token.reveal()
    'sk_live_123'

    Call `reveal()` only at the point of use (building a request header), never to log.
    """

    __slots__ = ("_reference", "_value")

    def __init__(self, value: str, *, reference: str | None = None) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds a str, got {type(value).__name__}")
        self._value = value
        self._reference = reference

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    @property
    def reference(self) -> str | None:
        """Where it came from (``env:STRIPE_KEY``), when it came from a reference."""
        return self._reference

    def __repr__(self) -> str:
        if self._reference:
            return f"Secret({_MASK!r}, reference={self._reference!r})"
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac  # here, not at import: it loads OpenSSL's hashlib

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling keeps the value (workers need it); only display paths mask it.
        return (_unpickle_secret, (self._value, self._reference))


def _unpickle_secret(value: str, reference: str | None) -> Secret:
    return Secret(value, reference=reference)


@runtime_checkable
class CredentialProvider(Protocol):
    """Looks up secrets by name for references ``<provider-key>:<name>``.

    Raise `CredentialNotFoundError` (naming the reference, never a value) when absent.
    """

    def get(self, name: str) -> str: ...


class EnvironmentProvider:
    """``env:NAME``: the value of an environment variable."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> str:
        try:
            return self._environ[name]
        except KeyError:
            raise CredentialNotFoundError(
                f"environment variable {name} is not set; export it or change the reference",
                reference=f"env:{name}",
            ) from None


class FileProvider:
    """``file:PATH``: a file's text without its trailing newline (Docker/Kubernetes secrets).

    A relative path is read relative to `base` (the config file's folder).
    """

    def __init__(self, base: Path | None = None) -> None:
        self._base = base

    def get(self, name: str) -> str:
        path = Path(name).expanduser()
        if not path.is_absolute() and self._base is not None:
            path = self._base / path
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise CredentialNotFoundError(
                f"cannot read secret file {str(path)!r}: {exc.strerror or exc}",
                reference=f"file:{name}",
            ) from None


def parse_reference(value: str) -> tuple[str, str] | None:
    """Split ``provider:name``; None when `value` is not a reference (a literal value).

    ``literal:...`` marks a literal that itself looks like a reference.
    """
    match = _REFERENCE.fullmatch(value)
    if match is None:
        return None
    return match.group(1), match.group(2)


def resolve_reference(
    value: str, providers: Callable[[str], CredentialProvider | None], *, path: str | None = None
) -> Secret:
    """Turn a config value into a `Secret`: look references up, keep literals as they are.

    `providers(key)` returns the provider for a reference prefix, or None when unknown.
    """
    parsed = parse_reference(value)
    if parsed is None:
        return Secret(value)
    prefix, name = parsed
    if prefix == "literal":
        return Secret(name)
    provider = providers(prefix)
    if provider is None:
        # The prefix is not echoed: in a literal value it would be part of the secret.
        raise CredentialNotFoundError(
            "the value has the form PROVIDER:NAME but names no installed credential provider; "
            "use env:NAME, file:PATH or an installed provider's key, or write literal:... for "
            "a literal value that contains ':'",
            reference="",
            path=path,
        )
    try:
        return Secret(provider.get(name), reference=value)
    except CredentialNotFoundError as exc:
        raise CredentialNotFoundError(exc.message, reference=exc.reference, path=path) from None
