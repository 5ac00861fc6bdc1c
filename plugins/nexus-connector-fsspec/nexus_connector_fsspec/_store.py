"""Objects in any fsspec filesystem: the operations, written once, synchronously.

Object ``a/b.pdf`` is the file ``<root>/a/b.pdf``; its content type, metadata and ETag live
in a sidecar, ``<root>/.nexus-meta/a/b.pdf.json``, since filesystems in general keep none.
A put writes a temporary file beside the object and moves it into place, so a reader never
sees half an object and a failed put leaves the old one (a rename on local disks; a copy on
object stores, whose own uploads are atomic: prefer the ``s3`` vendor for S3).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import posixpath
import secrets
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

import msgspec

from nexus_connector_core import (
    AdapterSettings,
    ConfigError,
    ConnectorError,
    InvalidRequestError,
    ListObjects,
    ObjectInfo,
    ObjectKey,
    ObjectPage,
    PutObject,
    SignedUrlRequest,
)

from ._errors import failure, not_found, unreadable
from ._options import FsspecOptions

__all__ = ["CHUNK_SIZE", "FsspecStore"]

#: Bytes per chunk read from the caller's data and streamed by `open`.
CHUNK_SIZE = 1 << 16
_META = ".nexus-meta"
_TMP = ".nexus-tmp-"
_RESERVED = ".nexus-"
_DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: The largest size an entry may have: what a signed 64-bit count holds (and every store).
_MAX_SIZE = 2**63 - 1


class _Sidecar(msgspec.Struct, frozen=True):
    content_type: str
    metadata: dict[str, str]
    etag: str
    size: int


def filesystem(settings: AdapterSettings) -> Any:
    """The fsspec filesystem the options name: unknown protocols, missing packages and
    refused storage options are a `ConfigError` at the key, with fsspec's install hint."""
    options: FsspecOptions = settings.options
    path = f"connectors.{settings.connector}"
    import fsspec  # type: ignore[import-untyped]

    try:
        cls = fsspec.get_filesystem_class(options.protocol)
    except ImportError as exc:
        # fsspec's registry says which package provides the protocol ("Install s3fs to
        # access S3"): that is the hint the user needs.
        raise ConfigError(
            f"the {options.protocol!r} filesystem is not installed: {exc}",
            path=f"{path}.options.protocol",
        ) from None
    except ValueError:
        known = ", ".join(sorted(fsspec.available_protocols())[:40])
        raise ConfigError(
            f"fsspec knows no protocol {options.protocol!r}; it knows: {known}",
            path=f"{path}.options.protocol",
        ) from None
    arguments = dict(options.storage_options)
    for name, secret in settings.credentials.items():
        if name in arguments:
            raise ConfigError(
                f"{name!r} is set both in options.storage_options and in credentials; keep "
                "the credential",
                path=f"{path}.credentials.{name}",
            )
        arguments[name] = secret.reveal()
    try:
        return cls(**arguments)
    except Exception as exc:  # noqa: BLE001 - any refusal of the arguments is the config's
        # By class only: the text of a refusal may quote an argument, a secret included.
        raise ConfigError(
            f"the {options.protocol!r} filesystem refused its storage options and "
            f"credentials ({type(exc).__name__}); check them against its documentation",
            path=f"{path}.options.storage_options",
        ) from None


class FsspecStore:
    """What both twins share: the filesystem, the root, and every operation, sync."""

    def __init__(self, settings: AdapterSettings) -> None:
        options: FsspecOptions = settings.options
        self.settings = settings
        self.vendor = settings.vendor
        self.protocol = options.protocol
        self.fs = filesystem(settings)
        self.root = str(self.fs._strip_protocol(options.root)).rstrip("/")

    # -- paths -----------------------------------------------------------------------------

    def path(self, key: str) -> str:
        if any(part.startswith(_RESERVED) for part in key.split("/")):
            raise InvalidRequestError(
                f"key {key!r} has a segment starting with {_RESERVED!r}, which the fsspec "
                "store keeps for its own files",
                retryable=False,
                maybe_processed=False,
            )
        return f"{self.root}/{key}"

    def _sidecar_path(self, key: str) -> str:
        return f"{self.root}/{_META}/{key}.json"

    @contextlib.contextmanager
    def _errors(self, key: str | None, writes: bool = False) -> Iterator[None]:
        try:
            yield
        except ConnectorError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure of the filesystem is mapped
            # Not chained: the library's text may quote a URL with a token, and a traceback
            # prints a cause in full.
            raise failure(exc, self.protocol, key, writes) from None

    # -- operations ------------------------------------------------------------------------

    def put(self, request: PutObject) -> ObjectInfo:
        """Write a temporary file beside the object, then move it into place."""
        path = self.path(request.key)
        folder = posixpath.dirname(path)
        temporary = f"{folder}/{_TMP}{secrets.token_hex(8)}"
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        with self._errors(request.key, writes=True):
            self.fs.makedirs(folder, exist_ok=True)
            file = self.fs.open(temporary, "wb")
        try:
            # The caller's data is read outside the error mapping: its own errors (a
            # generator that breaks) reach the caller as they are.
            for chunk in request.chunks(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
                with self._errors(request.key, writes=True):
                    file.write(chunk)
            sidecar = _Sidecar(
                content_type=request.content_type or _DEFAULT_CONTENT_TYPE,
                metadata=dict(request.metadata),
                etag=f'"{digest.hexdigest()}"',
                size=size,
            )
            with self._errors(request.key, writes=True):
                file.close()
                self._write_sidecar(request.key, sidecar)
                self.fs.mv(temporary, path)
        except BaseException:
            with contextlib.suppress(Exception):
                file.close()
            with contextlib.suppress(Exception):
                self.fs.rm_file(temporary)
            raise
        return ObjectInfo(
            vendor=self.vendor,
            vendor_id=sidecar.etag,
            key=request.key,
            size=size,
            etag=sidecar.etag,
            content_type=sidecar.content_type,
            metadata=sidecar.metadata,
            last_modified=None,
            raw={"path": path, "size": size, "ETag": sidecar.etag},
        )

    def _write_sidecar(self, key: str, sidecar: _Sidecar) -> None:
        path = self._sidecar_path(key)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        self.fs.pipe_file(path, msgspec.json.encode(sidecar))

    def get(self, request: ObjectKey) -> bytes:
        """The whole object."""
        path = self.path(request.key)
        with self._errors(request.key):
            content: bytes = self.fs.cat_file(path)
        return content

    def open(self, request: ObjectKey) -> IO[bytes]:
        """The object's file, open for reading (a missing key fails here)."""
        path = self.path(request.key)
        with self._errors(request.key):
            if not self.fs.isfile(path):
                raise not_found(request.key)
            file: IO[bytes] = self.fs.open(path, "rb")
        return file

    def read(self, file: IO[bytes], key: str) -> bytes:
        """The next chunk of an opened object (b"" at its end)."""
        with self._errors(key):
            return file.read(CHUNK_SIZE)

    def chunks(self, file: IO[bytes], key: str) -> Iterator[bytes]:
        return iter(functools.partial(self.read, file, key), b"")

    def delete(self, request: ObjectKey) -> None:
        """Remove the object and its sidecar; a missing key is not an error."""
        path = self.path(request.key)
        with self._errors(request.key, writes=True):
            for target in (path, self._sidecar_path(request.key)):
                with contextlib.suppress(FileNotFoundError):
                    if self.fs.isfile(target):
                        self.fs.rm_file(target)

    def exists(self, request: ObjectKey) -> bool:
        """Whether a file is stored under the key."""
        path = self.path(request.key)
        with self._errors(request.key):
            return bool(self.fs.isfile(path))

    def list(self, request: ListObjects) -> ObjectPage:
        """One page of the keys under the prefix, sorted; the cursor is the last key."""
        folder = posixpath.dirname(request.prefix)
        base = f"{self.root}/{folder}" if folder else self.root
        # What the filesystem describes is read within the mapping too: an entry no object
        # has (an infinite size, a time beyond the calendar) is its answer, unreadable.
        with self._errors(None):
            found: dict[str, Any] = self.fs.find(base, detail=True) if self._exists(base) else {}
            start = len(self.root) + 1
            entries: dict[str, Any] = {}
            for path, info in found.items():
                key = str(self.fs._strip_protocol(path))[start:]
                if any(part.startswith(_RESERVED) for part in key.split("/")):
                    continue
                if key.startswith(request.prefix) and (
                    request.cursor is None or key > request.cursor
                ):
                    entries[key] = info
            keys = sorted(entries)
            page = keys[: request.limit]
            next_cursor = page[-1] if len(keys) > request.limit else None
            sidecars = self._sidecars(page)
            items = [self._listed(key, entries[key], sidecars.get(key)) for key in page]
        return ObjectPage(
            vendor=self.vendor,
            items=items,
            next_cursor=next_cursor,
            raw={"root": self.root, "prefix": request.prefix, "count": len(items)},
        )

    def _exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def _sidecars(self, keys: Sequence[str]) -> dict[str, _Sidecar]:
        """The sidecars of `keys`, read in one call (concurrently on async filesystems)."""
        if not keys:
            return {}
        paths = {self._sidecar_path(key): key for key in keys}
        with self._errors(None):
            found = self.fs.cat(list(paths), on_error="omit")
        sidecars: dict[str, _Sidecar] = {}
        for path, content in found.items():
            key = paths.get(path) or paths.get(str(self.fs._strip_protocol(path)))
            with contextlib.suppress(msgspec.DecodeError, TypeError):
                if key is not None:
                    sidecars[key] = msgspec.json.decode(content, type=_Sidecar)
        return sidecars

    def _listed(self, key: str, info: Mapping[str, Any], sidecar: _Sidecar | None) -> ObjectInfo:
        size = _size(info)
        if size is None:
            raise unreadable(self.protocol, key, "a size that is no count of bytes")
        try:
            modified = _modified(info)
        except (OverflowError, ValueError, OSError):
            raise unreadable(self.protocol, key, "a modification time out of range") from None
        if sidecar is not None and sidecar.size != size:
            sidecar = None  # it describes another version of the file
        etag = sidecar.etag if sidecar else (info.get("ETag") or info.get("etag"))
        return ObjectInfo(
            vendor=self.vendor,
            vendor_id=str(etag) if etag else key,
            key=key,
            size=size,
            etag=str(etag) if etag else None,
            content_type=sidecar.content_type if sidecar else None,
            metadata=sidecar.metadata if sidecar else {},
            last_modified=modified,
            raw={k: v for k, v in info.items() if isinstance(v, str | int | float | bool)},
        )

    def signed_url(self, request: SignedUrlRequest) -> str:
        """The filesystem's own signed URL (``fs.sign``), for GET only."""
        if request.method != "GET":
            raise InvalidRequestError(
                f"the {self.protocol!r} filesystem signs GET URLs only (fsspec's sign)",
                retryable=False,
                maybe_processed=False,
            )
        path = self.path(request.key)
        with self._errors(request.key):
            url: str = self.fs.sign(path, expiration=request.expires_in)
        return url


def _size(info: Mapping[str, Any]) -> int | None:
    """The entry's size in bytes (0 when it has none), or None when it is no count of bytes:
    negative, fractional, infinite, NaN, beyond a 63-bit count, or not a number."""
    value = info.get("size") or 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or not 0 <= value <= _MAX_SIZE:
        return None
    return value


def _modified(info: Mapping[str, Any]) -> datetime | None:
    """The entry's modification time; OverflowError, ValueError or OSError for a time the
    calendar does not hold (infinite, NaN, beyond year 9999)."""
    for name in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
    return None
