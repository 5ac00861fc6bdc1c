"""An encrypted file of secrets: ``store:NAME`` references, and ``nexus-connector secrets``.

Each value is sealed with AES-256-GCM (the ``cryptography`` package) under the current
master key, with its name as associated data, so a value cannot be moved to another name
and any change to the file is detected. Master keys come from ``NEXUS_CONNECTOR_SECRETS_KEY``
(or, when that is unset or empty, the file named by ``NEXUS_CONNECTOR_SECRETS_KEY_FILE``):
one or more base64url keys separated by commas, the first used to seal, all tried to open.
To rotate: put a new key first, keep the old one after it, run ``nexus-connector secrets
rotate`` (every value is sealed again under the new key), then drop the old key.

The store file is ``secrets.enc`` next to the config file, or ``NEXUS_CONNECTOR_SECRETS_FILE``.
It is written atomically (a temporary file, fsync, rename) with mode 0600. Every change
(`set`, `delete`, `rotate`) reads and replaces the file while holding an exclusive lock on
the sidecar file ``secrets.enc.lock`` (``flock``; a sidecar because the rename swaps the
store's inode), so concurrent writers in any number of processes lose nothing. Reads take
no lock: they see the file before or after a change, never half of one.

Like ssh with a private key, the store and the key file are refused when other users may
read or write them (any of the mode bits 0o077): run ``chmod 600`` on them.

No error of this module holds a secret value or a master key; a damaged file or entry is
a `ConfigError` (the store as a whole) or a `CredentialNotFoundError` (one secret) naming
the file or the ``store:NAME`` reference.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import msgspec

from ._credentials import (
    MAX_SECRET_BYTES,
    CredentialProviderSettings,
    UnreadableFileError,
    decode_text,
    read_small_file,
)
from ._errors import ConfigError, CredentialNotFoundError

__all__ = [
    "EncryptedFileStore",
    "MasterKeys",
    "encrypted_store_provider",
    "name_problem",
    "new_key",
]

KEY_ENV = "NEXUS_CONNECTOR_SECRETS_KEY"
KEY_FILE_ENV = "NEXUS_CONNECTOR_SECRETS_KEY_FILE"
STORE_ENV = "NEXUS_CONNECTOR_SECRETS_FILE"
DEFAULT_FILE = "secrets.enc"
_VERSION = 1
_NONCE = 12
_TAG = 16
_KEY_ID = re.compile(r"[0-9a-f]{12}")
#: The longest name a secret may have.
MAX_NAME = 200
#: The largest store file read: far more than any real set of secrets.
_MAX_STORE_BYTES = 64 * 1024 * 1024
_MAX_KEY_FILE_BYTES = 64 * 1024


def new_key() -> str:
    """A fresh 256-bit master key, base64url encoded."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def name_problem(name: str) -> str | None:
    """What is wrong with `name` as a secret's name, or None when it is a valid one.

    A name is 1 to `MAX_NAME` printable characters without whitespace (``stripe_api_key``,
    ``smtp/password``).
    """
    if not name:
        return "a secret's name must not be empty"
    if len(name) > MAX_NAME:
        return f"a secret's name must be at most {MAX_NAME} characters, got {len(name)}"
    if not name.isprintable() or any(c.isspace() for c in name):
        return "a secret's name must be printable characters without spaces or control characters"
    return None


class MasterKeys:
    """The master keys: the first seals, any of them opens. Shows key ids, never keys."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigError(f"no master key: set {KEY_ENV} or {KEY_FILE_ENV}")
        self._keys = {_key_id(k): k for k in keys}
        self.current = _key_id(keys[0])

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> MasterKeys:
        """Keys from ``NEXUS_CONNECTOR_SECRETS_KEY``; when it is unset or empty, from the
        file named by ``NEXUS_CONNECTOR_SECRETS_KEY_FILE`` (which only its owner may read)."""
        text: str | None = environ.get(KEY_ENV, "")
        source = KEY_ENV
        if not (text or "").strip() and environ.get(KEY_FILE_ENV):
            path = environ[KEY_FILE_ENV]
            source = f"the master key file {path!r} (named by {KEY_FILE_ENV})"
            try:
                data = read_small_file(Path(path), limit=_MAX_KEY_FILE_BYTES, owner_only=True)
            except UnreadableFileError as exc:
                raise ConfigError(f"cannot read {source}: {exc}") from None
            text = decode_text(data)
        if text is None:
            raise ConfigError(f"{source} is not text: it must hold base64url master keys")
        if not text.strip():
            raise ConfigError(
                f"the encrypted secret store needs a master key: set {KEY_ENV} (or "
                f"{KEY_FILE_ENV}); make one with `nexus-connector secrets keygen`"
            )
        keys = []
        for position, part in enumerate(p.strip() for p in text.replace("\n", ",").split(",")):
            if not part:
                continue
            key = _decode_key(part)
            if key is None:
                raise ConfigError(
                    f"master key {position + 1} in {source} is not 32 bytes of base64url; "
                    "make one with `nexus-connector secrets keygen`"
                )
            keys.append(key)
        return cls(keys)

    @property
    def ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, name: str, value: str) -> tuple[str, bytes]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._keys[self.current]).encrypt(nonce, value.encode(), name.encode())
        return self.current, nonce + sealed

    def open(self, name: str, key_id: str, sealed: bytes) -> str:
        """The value sealed as `name`; `CredentialNotFoundError` when it cannot be had."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        reference = f"store:{name}"
        key = self._keys.get(key_id)
        if key is None:
            raise CredentialNotFoundError(
                f"secret {name!r} is sealed under master key {key_id}, which is not among the "
                f"keys given ({', '.join(self._keys)}); add it back to {KEY_ENV}",
                reference=reference,
            )
        plain: bytes | None = None
        if len(sealed) >= _NONCE + _TAG:
            try:
                plain = AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], name.encode())
            except (InvalidTag, ValueError, OverflowError):
                plain = None
        text = None if plain is None else decode_text(plain)
        if text is None:
            raise CredentialNotFoundError(
                f"secret {name!r} failed authentication: the store file was changed, truncated "
                "or damaged, or the value was moved from another name; set it again with "
                f"`nexus-connector secrets set {name}`",
                reference=reference,
            )
        return text

    def __repr__(self) -> str:
        return f"MasterKeys(current={self.current}, ids={self.ids})"


def _decode_key(text: str) -> bytes | None:
    try:
        key = base64.urlsafe_b64decode(text.encode("ascii"))
    except ValueError:  # binascii.Error, UnicodeEncodeError: their args would hold the key
        return None
    return key if len(key) == 32 else None


class _Entry(msgspec.Struct, frozen=True):
    key_id: str
    sealed: bytes


class _File(msgspec.Struct, frozen=True):
    version: int
    entries: dict[str, _Entry]


class EncryptedFileStore:
    """A file of sealed secrets. Implements the `CredentialProvider` protocol (`get`).

    `lock_timeout` bounds the wait (seconds) for another process's change to finish.
    """

    def __init__(self, path: Path, keys: MasterKeys, *, lock_timeout: float = 30.0) -> None:
        self.path = path
        self.keys = keys
        self.lock_timeout = lock_timeout

    @property
    def lock_path(self) -> Path:
        """The sidecar file whose ``flock`` serializes every change to the store."""
        return self.path.with_name(self.path.name + ".lock")

    def _read(self) -> dict[str, _Entry]:
        try:
            data = read_small_file(self.path, limit=_MAX_STORE_BYTES, owner_only=True)
        except UnreadableFileError as exc:
            if exc.missing:
                return {}
            raise ConfigError(f"cannot use the secret store {self.path}: {exc}") from None
        try:
            stored = msgspec.json.decode(data, type=_File)
        except msgspec.DecodeError as exc:
            raise ConfigError(
                f"the secret store {self.path} is damaged ({exc}); restore it from a backup, "
                "or move it away and set the secrets again"
            ) from None
        if stored.version != _VERSION:
            raise ConfigError(f"the secret store {self.path} has unknown version {stored.version}")
        for name, entry in stored.entries.items():
            if name_problem(name) is not None or not _KEY_ID.fullmatch(entry.key_id):
                raise ConfigError(
                    f"the secret store {self.path} is damaged (an entry has an invalid name or "
                    "key id); restore it from a backup"
                )
        return dict(stored.entries)

    def _write(self, entries: dict[str, _Entry]) -> None:
        data = msgspec.json.encode(_File(version=_VERSION, entries=dict(sorted(entries.items()))))
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets-")
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(self.path.parent)

    @contextmanager
    def _changing(self) -> Iterator[dict[str, _Entry]]:
        """The entries, read under the store's exclusive lock; written back on success.

        The caller changes the dict in place; a failure inside writes nothing.
        """
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"cannot lock the secret store: {self.lock_path}: {exc.strerror}"
            ) from None
        try:  # closing the descriptor releases the lock
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ConfigError(
                            f"the secret store {self.path} is being changed by another process "
                            f"(it holds {self.lock_path}); try again"
                        ) from None
                    time.sleep(0.01)
            entries = self._read()
            before = dict(entries)
            yield entries
            if entries != before:
                try:
                    self._write(entries)
                except OSError as exc:
                    raise ConfigError(
                        f"cannot write the secret store {self.path}: {exc.strerror}"
                    ) from None
        finally:
            os.close(fd)

    def lookup(self, name: str) -> tuple[str, str]:
        """The id of the key `name` is sealed under, and its value (one read of the file)."""
        problem = name_problem(name)
        if problem is not None:
            raise CredentialNotFoundError(problem, reference=f"store:{name}")
        entry = self._read().get(name)
        if entry is None:
            raise CredentialNotFoundError(
                f"no secret named {name!r} in {self.path}; add it with "
                f"`nexus-connector secrets set {name}`",
                reference=f"store:{name}",
            )
        return entry.key_id, self.keys.open(name, entry.key_id, entry.sealed)

    def get(self, name: str) -> str:
        """The value of the secret `name`."""
        return self.lookup(name)[1]

    def set(self, name: str, value: str) -> None:
        """Seal `value` under the current key as `name`, replacing any earlier value.

        `ValueError` for an invalid name (see `name_problem`) or a value that is empty, not
        Unicode text, or larger than 64 KiB in UTF-8.
        """
        problem = name_problem(name) or _value_problem(value)
        if problem is not None:
            raise ValueError(problem)
        with self._changing() as entries:
            entries[name] = _Entry(*self.keys.seal(name, value))

    def delete(self, name: str) -> bool:
        """Remove the secret `name`; False when there was none."""
        with self._changing() as entries:
            return entries.pop(name, None) is not None

    def names(self) -> dict[str, str]:
        """Every name with the id of the key it is sealed under."""
        return {name: entry.key_id for name, entry in self._read().items()}

    def rotate(self) -> int:
        """Seal every value again under the current key; returns how many changed key.

        Every value is opened first: one that cannot be opened stops the rotation with
        nothing changed.
        """
        with self._changing() as entries:
            stale = {n: e for n, e in entries.items() if e.key_id != self.keys.current}
            for name, entry in stale.items():
                value = self.keys.open(name, entry.key_id, entry.sealed)
                entries[name] = _Entry(*self.keys.seal(name, value))
            return len(stale)

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self.path)!r}, {self.keys!r})"


def _value_problem(value: str) -> str | None:
    if not value:
        return "a secret's value must not be empty"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        size = -1
    if size < 0:
        return "a secret's value must be Unicode text (it holds bytes that were not UTF-8)"
    if size > MAX_SECRET_BYTES:
        return f"a secret's value must be at most {MAX_SECRET_BYTES} bytes, got {size}"
    return None


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable: without this a crash may bring back the old file."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def require_cryptography() -> None:
    """The store needs the ``cryptography`` package: say how to get it if it is missing."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the encrypted secret store needs the cryptography package: "
            "pip install 'nexus-connector-core[secrets]'"
        ) from None


def store_path(environ: Mapping[str, str], config_dir: Path | None) -> Path:
    """Where the store is: ``$NEXUS_CONNECTOR_SECRETS_FILE``, else next to the config."""
    if environ.get(STORE_ENV):
        return Path(environ[STORE_ENV])
    return (config_dir or Path.cwd()) / DEFAULT_FILE


def encrypted_store_provider(settings: CredentialProviderSettings) -> EncryptedFileStore:
    """``store:NAME`` references, as the built-in plugin registers them."""
    require_cryptography()
    return EncryptedFileStore(
        store_path(settings.environ, settings.config_dir), MasterKeys.from_environ(settings.environ)
    )
