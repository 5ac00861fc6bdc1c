"""An encrypted file of secrets: ``store:NAME`` references, and ``nexus-connector secrets``.

Each value is sealed with AES-256-GCM (the ``cryptography`` package) under the current
master key, with its name as associated data, so a value cannot be moved to another name
and any change to the file is detected. Master keys come from ``NEXUS_CONNECTOR_SECRETS_KEY``
(or the file named by ``NEXUS_CONNECTOR_SECRETS_KEY_FILE``): one or more base64url keys
separated by commas, the first used to seal, all tried to open. To rotate: put a new key
first, keep the old one after it, run ``nexus-connector secrets rotate`` (every value is
sealed again under the new key), then drop the old key.

The store file is ``secrets.enc`` next to the config file, or ``NEXUS_CONNECTOR_SECRETS_FILE``.
It is written atomically (a temporary file, fsync, rename) with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import msgspec

from ._config import CredentialProviderSettings
from ._errors import ConfigError, CredentialNotFoundError

__all__ = ["EncryptedFileStore", "MasterKeys", "encrypted_store_provider", "new_key"]

KEY_ENV = "NEXUS_CONNECTOR_SECRETS_KEY"
KEY_FILE_ENV = "NEXUS_CONNECTOR_SECRETS_KEY_FILE"
STORE_ENV = "NEXUS_CONNECTOR_SECRETS_FILE"
DEFAULT_FILE = "secrets.enc"
_VERSION = 1
_NONCE = 12


def new_key() -> str:
    """A fresh 256-bit master key, base64url encoded."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


class MasterKeys:
    """The master keys: the first seals, any of them opens. Shows key ids, never keys."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigError(f"no master key: set {KEY_ENV} or {KEY_FILE_ENV}")
        self._keys = {_key_id(k): k for k in keys}
        self.current = _key_id(keys[0])

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> MasterKeys:
        """Keys from ``NEXUS_CONNECTOR_SECRETS_KEY``, else the file it names by ``..._FILE``."""
        text = environ.get(KEY_ENV)
        source = KEY_ENV
        if text is None and environ.get(KEY_FILE_ENV):
            path = Path(environ[KEY_FILE_ENV])
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the master key file named by {KEY_FILE_ENV}: {exc.strerror}"
                ) from None
            source = KEY_FILE_ENV
        if not text:
            raise ConfigError(
                f"the encrypted secret store needs a master key: set {KEY_ENV} (or "
                f"{KEY_FILE_ENV}); make one with `nexus-connector secrets keygen`"
            )
        keys = []
        for position, part in enumerate(p.strip() for p in text.replace("\n", ",").split(",")):
            if not part:
                continue
            try:
                key = base64.urlsafe_b64decode(part.encode())
            except ValueError:
                key = b""
            if len(key) != 32:
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
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._keys.get(key_id)
        if key is None:
            raise CredentialNotFoundError(
                f"secret {name!r} is sealed under master key {key_id}, which is not among the "
                f"keys given ({', '.join(self._keys)}); add it back to {KEY_ENV}",
                reference=f"store:{name}",
            )
        try:
            return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], name.encode()).decode()
        except InvalidTag:
            raise CredentialNotFoundError(
                f"secret {name!r} failed authentication: the store file was changed or "
                "damaged, or the value was moved from another name",
                reference=f"store:{name}",
            ) from None

    def __repr__(self) -> str:
        return f"MasterKeys(current={self.current}, ids={self.ids})"


class _Entry(msgspec.Struct, frozen=True):
    key_id: str
    sealed: bytes


class _File(msgspec.Struct, frozen=True):
    version: int
    entries: dict[str, _Entry]


class EncryptedFileStore:
    """A file of sealed secrets. Implements the `CredentialProvider` protocol (`get`)."""

    def __init__(self, path: Path, keys: MasterKeys) -> None:
        self.path = path
        self.keys = keys

    def _read(self) -> dict[str, _Entry]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the secret store {self.path}: {exc.strerror}") from None
        try:
            stored = msgspec.json.decode(data, type=_File)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"the secret store {self.path} is not valid: {exc}") from None
        if stored.version != _VERSION:
            raise ConfigError(f"the secret store {self.path} has unknown version {stored.version}")
        return dict(stored.entries)

    def _write(self, entries: dict[str, _Entry]) -> None:
        data = msgspec.json.encode(_File(version=_VERSION, entries=dict(sorted(entries.items()))))
        self.path.parent.mkdir(parents=True, exist_ok=True)
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

    def get(self, name: str) -> str:
        entry = self._read().get(name)
        if entry is None:
            raise CredentialNotFoundError(
                f"no secret named {name!r} in {self.path}; add it with "
                f"`nexus-connector secrets set {name}`",
                reference=f"store:{name}",
            )
        return self.keys.open(name, entry.key_id, entry.sealed)

    def set(self, name: str, value: str) -> None:
        """Seal `value` under the current key as `name`, replacing any earlier value."""
        if not name or any(c.isspace() for c in name):
            raise ValueError("a secret's name must be non-empty, without spaces")
        entries = self._read()
        key_id, sealed = self.keys.seal(name, value)
        entries[name] = _Entry(key_id, sealed)
        self._write(entries)

    def delete(self, name: str) -> bool:
        entries = self._read()
        if entries.pop(name, None) is None:
            return False
        self._write(entries)
        return True

    def names(self) -> dict[str, str]:
        """Every name with the id of the key it is sealed under."""
        return {name: entry.key_id for name, entry in self._read().items()}

    def rotate(self) -> int:
        """Seal every value again under the current key; returns how many changed key."""
        entries = self._read()
        moved = 0
        for name, entry in entries.items():
            if entry.key_id != self.keys.current:
                key_id, sealed = self.keys.seal(
                    name, self.keys.open(name, entry.key_id, entry.sealed)
                )
                entries[name] = _Entry(key_id, sealed)
                moved += 1
        if moved:
            self._write(entries)
        return moved

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self.path)!r}, {self.keys!r})"


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
