"""Secrets and where they come from: ``env:NAME``, ``file:PATH`` and plugin providers.

A failure to read a secret is a `CredentialNotFoundError` naming the reference, never the
value: no byte of a secret reaches an exception's message, its ``args``, or an exception it
was raised from (errors whose ``args`` would hold the value, like `UnicodeDecodeError`, are
replaced outside their ``except`` block, so not even ``__context__`` keeps them).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

import msgspec

from ._errors import ConnectorError, CredentialNotFoundError

__all__ = [
    "MAX_SECRET_BYTES",
    "CredentialProvider",
    "CredentialProviderSettings",
    "EnvironmentProvider",
    "FileProvider",
    "Secret",
    "UnreadableFileError",
    "decode_text",
    "parse_reference",
    "read_small_file",
    "resolve_reference",
]

_MASK = "**********"


class CredentialProviderSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What a credential provider factory receives: the environment to read, and the
    config file's folder (relative ``file:`` paths start there)."""

    environ: Mapping[str, str]
    config_dir: Path | None = None


_REFERENCE = re.compile(r"([a-z][a-z0-9_-]*):(.*)", re.DOTALL)

#: The largest secret read from a file or standard input (a PEM key or a service-account
#: JSON is a few KiB); a bigger file is a wrong path, not a secret.
MAX_SECRET_BYTES = 64 * 1024


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
        if not _encodable(value):
            # Raised here, not at first use: encoding it later would raise an error whose
            # args hold the whole value.
            raise ValueError(
                "a Secret's value must be Unicode text; this one holds a lone surrogate "
                "(bytes that were not UTF-8)"
            )
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


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class UnreadableFileError(Exception):
    """Why a small private file could not be read; the reason holds no byte of its content.

    `missing` is true when there is no file at the path.
    """

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing


def read_small_file(path: Path, *, limit: int, owner_only: bool = False) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    Raises `UnreadableFileError` with a reason for a path with a NUL byte, a missing or
    unreadable file, a directory, a device or FIFO (never waited on), a file larger than
    `limit`, and, with `owner_only`, a file that other users may read or write (as ssh
    refuses such a private key).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except ValueError:
        raise UnreadableFileError("the path contains a NUL byte") from None
    except OSError as exc:
        raise UnreadableFileError(
            exc.strerror or type(exc).__name__, missing=isinstance(exc, FileNotFoundError)
        ) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFileError("it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError("it is not a regular file")
        if owner_only and info.st_mode & 0o077:
            raise UnreadableFileError(
                f"other users may read or write it (mode {info.st_mode & 0o777:04o}); "
                f"run `chmod 600 {path}`"
            )
        with open(fd, "rb", closefd=False) as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise UnreadableFileError(exc.strerror or type(exc).__name__) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnreadableFileError(f"it is larger than {limit} bytes")
    return data


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
        if not name:
            raise CredentialNotFoundError(
                "env: needs the name of an environment variable (env:NAME)", reference="env:"
            )
        try:
            return self._environ[name]
        except KeyError:
            raise CredentialNotFoundError(
                f"environment variable {name} is not set; export it or change the reference",
                reference=f"env:{name}",
            ) from None


class FileProvider:
    """``file:PATH``: a file's text without its trailing newline (Docker/Kubernetes secrets).

    A relative path is read relative to `base` (the config file's folder). The file must be
    a regular file of UTF-8 text of at most `MAX_SECRET_BYTES`.
    """

    def __init__(self, base: Path | None = None) -> None:
        self._base = base

    def get(self, name: str) -> str:
        reference = f"file:{name}"
        if not name:
            raise CredentialNotFoundError(
                "file: needs the path of a file (file:PATH)", reference=reference
            )
        try:
            path = Path(name).expanduser()
        except RuntimeError:  # ~user whose home is unknown
            path = Path(name)
        if not path.is_absolute() and self._base is not None:
            path = self._base / path
        try:
            data = read_small_file(path, limit=MAX_SECRET_BYTES)
        except UnreadableFileError as exc:
            raise CredentialNotFoundError(
                f"cannot read secret file {str(path)!r}: {exc}", reference=reference
            ) from None
        text = decode_text(data)
        if text is None:
            raise CredentialNotFoundError(
                f"secret file {str(path)!r} is not UTF-8 text", reference=reference
            )
        return text.rstrip("\r\n")


def decode_text(data: bytes) -> str | None:
    """`data` decoded from UTF-8, or None when it is not UTF-8.

    Use it rather than ``except UnicodeDecodeError: raise ...``: that error's args hold every
    byte of `data`, and it would stay attached to the new error as ``__context__``.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


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

    `providers(key)` returns the provider for a reference prefix, or None when unknown. Any
    failure is a `CredentialNotFoundError` (or the `ConnectorError` a provider raised); an
    error of another kind from a plugin's provider is reported by its type alone, since its
    text or args may hold the value.
    """
    parsed = parse_reference(value)
    if parsed is None or parsed[0] == "literal":
        literal = value if parsed is None else parsed[1]
        if not _encodable(literal):
            raise CredentialNotFoundError(
                "the literal value is not Unicode text (it holds bytes that were not UTF-8)",
                reference="",
                path=path,
            )
        return Secret(literal)
    prefix, name = parsed
    provider, failure = _guarded(lambda: providers(prefix))
    if failure is not None:
        raise CredentialNotFoundError(
            f"the credential provider {prefix!r} could not be set up ({failure})",
            reference=value,
            path=path,
        )
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
        text, failure = _guarded(lambda: provider.get(name))
    except CredentialNotFoundError as exc:
        raise CredentialNotFoundError(exc.message, reference=exc.reference, path=path) from None
    if failure is None and not isinstance(text, str):
        failure = f"it gave a {type(text).__name__}, not a str"
    elif isinstance(text, str) and not _encodable(text):
        failure = "it gave text holding bytes that were not UTF-8"
    if failure is not None or text is None:
        raise CredentialNotFoundError(
            f"the credential provider {prefix!r} failed ({failure})", reference=value, path=path
        )
    return Secret(text, reference=value)


_T = TypeVar("_T")


def _guarded(action: Callable[[], _T]) -> tuple[_T | None, str | None]:
    """``(action(), None)``, or ``(None, type name)`` for an error that is not ours.

    The error itself is dropped here, before anything is raised, so that no later exception
    keeps it as ``__context__``.
    """
    try:
        return action(), None
    except ConnectorError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's code: anything may escape it
        return None, type(exc).__name__
