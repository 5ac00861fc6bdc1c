"""The ``filesystem`` cloud_storage vendor: objects as files under a local folder.

Object ``invoices/2026/0042.pdf`` is the file ``<root>/invoices/2026/0042.pdf``; its content
type and metadata live in a sidecar at the same path under ``<root>/.nexus-meta/``. Writes
are atomic (a temporary file in the same folder, fsynced, then renamed over the object), so a
crashed put leaves the old object or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import mimetypes
import os
import secrets
import tempfile
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, ParamSpec, TypeVar

import msgspec

from .._adapters import AdapterSettings
from .._cloud_storage import (
    ListObjects,
    ObjectInfo,
    ObjectKey,
    ObjectPage,
    PutObject,
    SignedUrlRequest,
)
from .._context import CallContext
from .._errors import ConfigError, ConnectorError, InvalidRequestError, VendorError
from ._object_store import CHUNK_SIZE, not_found, select_page, url_signature

__all__ = ["AsyncFilesystemStorageAdapter", "FilesystemOptions", "FilesystemStorageAdapter"]

# Key segments starting with this are ours: the sidecar folder and temporary files.
_RESERVED = ".nexus-"
_META_DIR = ".nexus-meta"
_TMP_PREFIX = ".nexus-tmp-"
_DEFAULT_CONTENT_TYPE = "application/octet-stream"

_P = ParamSpec("_P")
_T = TypeVar("_T")


class FilesystemOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Options of the ``filesystem`` vendor.

    ``options = { root = "/var/lib/myapp/objects" }`` stores objects under that folder,
    creating it if missing.
    """

    #: The folder objects are stored under: a folder of its own (not the current
    #: directory, the home directory, a system folder or the filesystem's root).
    root: str
    #: The HMAC key that signs `signed_url` URLs, for a file server that checks them to
    #: share; None: a random key per adapter, which nothing outside it can check.
    signing_key: str | None = None

    def __post_init__(self) -> None:
        problem = _root_problem(self.root)
        if problem:
            raise ValueError(f"root {problem}")
        if self.signing_key is not None and not self.signing_key.strip():
            raise ValueError(
                "signing_key is empty: leave it out for a random key per adapter, or set a "
                "secret shared with the file server that checks the URLs"
            )


# Folders that hold the system or other people's files. A storage root there would mix
# objects with them, and `list` walks and `delete` prunes emptied folders under the root.
_SYSTEM_FOLDERS = frozenset(
    Path(p)
    for p in (
        "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/opt", "/proc",
        "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/tmp",
        "/Applications", "/Library", "/System", "/Users", "/private", "/private/tmp",
    )
)  # fmt: skip


def _root_problem(root: str) -> str | None:
    """Why `root` must not be a storage folder, or None when it may."""
    if not root.strip():
        return (
            "is empty, which would store objects in the current directory (wherever the "
            "process happens to start), among its other files; name a folder of its own"
        )
    if root != root.strip():
        return "has leading or trailing spaces; write the folder's path exactly"
    if "\0" in root:
        return "contains a NUL byte, which no path can hold"
    try:
        folder = Path(root).expanduser()
        resolved = folder.resolve()
        home = Path.home().resolve()
    except (OSError, RuntimeError, ValueError):
        return None  # unusual but not dangerous; making the folder will say what is wrong
    if resolved == Path(resolved.anchor):
        return (
            f"{root!r} is the filesystem's root: list would walk the whole machine and "
            "delete prunes emptied folders under it; name a folder of its own"
        )
    if resolved == home:
        return (
            f"{root!r} is the home directory: objects would mix with its files and delete "
            "prunes emptied folders under it; name a folder of its own, such as "
            "'~/nexus-objects'"
        )
    if resolved in _SYSTEM_FOLDERS or folder in _SYSTEM_FOLDERS:
        return (
            f"{root!r} is a system folder, shared with other programs: objects would mix "
            "with their files; name a folder of its own inside it"
        )
    if not folder.is_absolute() and resolved == Path.cwd().resolve():
        return (
            f"{root!r} is the current directory (wherever the process happens to start): "
            "objects would mix with its other files; name a folder of its own"
        )
    return None


class _Sidecar(msgspec.Struct, frozen=True):
    """What a file cannot say about itself, and which file version it describes."""

    content_type: str
    metadata: dict[str, str]
    etag: str
    size: int
    mtime_ns: int


_SIDECAR_DECODER = msgspec.json.Decoder(_Sidecar)


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """Turn an unexpected OS error (disk full, permission denied...) into a `VendorError`."""
    try:
        yield
    except ConnectorError:
        raise
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        raise VendorError(
            f"the filesystem refused the operation on {what}: {exc.strerror or exc}", code=code
        ) from exc


def _write_durably(file: BinaryIO, chunks: Iterable[bytes], what: str) -> tuple[str, int, int]:
    """Write `chunks` and fsync; return the ETag (quoted MD5), size and mtime in ns.

    Only the disk's errors are translated: an error raised by `chunks` (the caller's file
    or upload) is the caller's own and propagates unchanged.
    """
    digest, size = hashlib.md5(usedforsecurity=False), 0
    for chunk in chunks:
        with _os_errors(what):
            file.write(chunk)
        digest.update(chunk)
        size += len(chunk)
    with _os_errors(what):
        file.flush()
        os.fsync(file.fileno())
        # A rename keeps the mtime, so this is the object's once it is in place.
        return f'"{digest.hexdigest()}"', size, os.fstat(file.fileno()).st_mtime_ns


class _FilesystemStore:
    """The file operations both filesystem twins share; the async one runs them in threads."""

    def __init__(self, settings: AdapterSettings) -> None:
        options = settings.options
        if options is None or isinstance(options, dict):
            try:
                options = msgspec.convert(options or {}, FilesystemOptions)
            except msgspec.ValidationError as exc:
                raise ConfigError(
                    f'{exc}; the filesystem vendor needs options = {{ root = "<folder>" }}',
                    path=f"connectors.{settings.connector}.options",
                ) from None
        self.settings = settings
        self.options: FilesystemOptions = options
        #: The folder objects are stored under, absolute.
        self.root = Path(options.root).expanduser().resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot use {self.root} as the storage folder: {exc.strerror or exc}",
                path=f"connectors.{settings.connector}.options.root",
            ) from exc
        self._meta_root = self.root / _META_DIR
        key = options.signing_key
        self._signing_key = key.encode() if key else secrets.token_bytes(32)
        # Serialises the steps that change the folder tree (making and pruning folders,
        # renaming into place) so one process never prunes a folder a put is about to use,
        # and an object and its sidecar are replaced as a pair.
        self._tree_lock = threading.Lock()

    def _paths(self, key: str) -> tuple[Path, Path]:
        """The object's file and its sidecar, after checking the key can be a file here."""
        segments = key.split("/")
        for segment in segments:
            if segment in ("", ".") or segment.startswith(_RESERVED) or os.sep in segment:
                raise InvalidRequestError(
                    f"key {key!r} cannot be stored as a file: its segments must not be empty, "
                    f"'.' or start with {_RESERVED!r} (reserved for the store's own files)",
                    code="invalid_key",
                    status_code=400,
                )
        path = self.root.joinpath(*segments)
        # Keys never hold '..', but a symlink inside root could still lead out of it.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidRequestError(
                f"key {key!r} resolves outside {self.root}", code="invalid_key", status_code=400
            )
        return path, self._meta_root.joinpath(*segments)

    def _info(self, key: str, path: Path, sidecar: Path) -> ObjectInfo:
        stat = path.stat()
        meta = self._read_sidecar(sidecar)
        if meta is None or (meta.size, meta.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            # No sidecar, or one describing another version of the file (a put that crashed
            # between its two renames, or a file copied in by hand): describe the file itself.
            with path.open("rb") as file:
                etag = f'"{hashlib.file_digest(file, "md5").hexdigest()}"'
            guessed = mimetypes.guess_type(key)[0] or _DEFAULT_CONTENT_TYPE
            meta = _Sidecar(guessed, {}, etag, stat.st_size, stat.st_mtime_ns)
        return self._object_info(key, path, meta)

    def _object_info(self, key: str, path: Path, meta: _Sidecar) -> ObjectInfo:
        return ObjectInfo(
            vendor=self.settings.vendor,
            vendor_id=meta.etag,
            key=key,
            size=meta.size,
            etag=meta.etag,
            content_type=meta.content_type,
            last_modified=datetime.fromtimestamp(meta.mtime_ns / 1e9, UTC),
            metadata=meta.metadata,
            raw={"path": str(path), **msgspec.to_builtins(meta)},
        )

    @staticmethod
    def _read_sidecar(sidecar: Path) -> _Sidecar | None:
        try:
            return _SIDECAR_DECODER.decode(sidecar.read_bytes())
        except (OSError, msgspec.DecodeError):
            return None

    def _put(self, request: PutObject) -> ObjectInfo:
        key = request.key
        what = f"key {key!r}"
        path, sidecar = self._paths(key)
        with contextlib.ExitStack() as cleanup:
            with _os_errors(what), self._tree_lock:
                # Made under the lock so that a delete pruning empty folders cannot remove a
                # folder between its creation and the arrival of the temporary file.
                data, data_tmp = self._temp_file(path.parent, key, cleanup)
                side, side_tmp = self._temp_file(sidecar.parent, key, cleanup)
            etag, size, mtime_ns = _write_durably(data, request.chunks(CHUNK_SIZE), what)
            content_type = request.content_type or _DEFAULT_CONTENT_TYPE
            meta = _Sidecar(content_type, dict(request.metadata), etag, size, mtime_ns)
            _write_durably(side, [msgspec.json.encode(meta)], what)
            with _os_errors(what), self._tree_lock:
                data.close()
                side.close()
                try:
                    os.replace(data_tmp, path)
                except IsADirectoryError:
                    raise self._conflict(key) from None
                os.replace(side_tmp, sidecar)
        return self._object_info(key, path, meta)

    def _temp_file(
        self, folder: Path, key: str, cleanup: contextlib.ExitStack
    ) -> tuple[BinaryIO, Path]:
        """A new temporary file in `folder` (made if missing), removed on exit unless renamed."""
        self._make_folder(folder, key)
        fd, name = tempfile.mkstemp(dir=folder, prefix=_TMP_PREFIX)
        cleanup.callback(Path(name).unlink, missing_ok=True)
        file = os.fdopen(fd, "wb")
        cleanup.callback(file.close)  # callbacks run last-in first-out: close, then unlink
        return file, Path(name)

    def _make_folder(self, folder: Path, key: str) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise self._conflict(key) from None

    @staticmethod
    def _conflict(key: str) -> InvalidRequestError:
        return InvalidRequestError(
            f"key {key!r} clashes with an existing object: on a filesystem an object cannot "
            "share its name with the folder of another (like 'a' and 'a/b')",
            code="key_conflict",
            status_code=409,
        )

    def _open(self, key: str) -> BinaryIO:
        path, _ = self._paths(key)
        with _os_errors(f"key {key!r}"):
            try:
                return path.open("rb")
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise not_found(key) from None

    def _get(self, request: ObjectKey) -> bytes:
        with self._open(request.key) as file, _os_errors(f"key {request.key!r}"):
            return file.read()

    def _delete(self, request: ObjectKey) -> None:
        path, sidecar = self._paths(request.key)
        with _os_errors(f"key {request.key!r}"), self._tree_lock:
            if not path.is_file():
                return  # deleting a missing object is fine, as at S3
            # Sidecar first: a crash in between leaves a file without one, which reads fine.
            sidecar.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            # Empty folders would block a later object of the same name; drop them.
            for tree, leaf in ((self.root, path), (self._meta_root, sidecar)):
                folder = leaf.parent
                while folder != tree and not any(folder.iterdir()):
                    folder.rmdir()
                    folder = folder.parent

    def _exists(self, request: ObjectKey) -> bool:
        path, _ = self._paths(request.key)
        with _os_errors(f"key {request.key!r}"):
            return path.is_file()

    def _keys(self, prefix: str) -> Iterator[str]:
        """Every object key starting with `prefix`, in no particular order."""
        start = self.root
        folders = prefix.split("/")[:-1]
        # Walk only the folder the prefix names, when it names a plain one inside root.
        if all(f not in ("", ".", "..") and not f.startswith(_RESERVED) for f in folders):
            named = self.root.joinpath(*folders)
            if named.resolve().is_relative_to(self.root):
                start = named
        for folder, subfolders, files in os.walk(start):
            subfolders[:] = [d for d in subfolders if not d.startswith(_RESERVED)]
            relative = Path(folder).relative_to(self.root).as_posix()
            base = "" if relative == "." else relative + "/"
            for name in files:
                key = base + name
                if not name.startswith(_RESERVED) and key.startswith(prefix):
                    yield key

    def _list(self, request: ListObjects) -> ObjectPage:
        with _os_errors(f"the listing of {request.prefix!r}"):
            keys, next_cursor = select_page(self._keys(request.prefix), request)
            items = []
            for key in keys:
                # Deleted since the walk, or a symlink out of root that `_paths` refuses.
                with contextlib.suppress(FileNotFoundError, InvalidRequestError):
                    items.append(self._info(key, *self._paths(key)))
        raw = {"root": str(self.root), "prefix": request.prefix, "keys": keys}
        return ObjectPage(
            vendor=self.settings.vendor, items=items, next_cursor=next_cursor, raw=raw
        )

    def _signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        path, _ = self._paths(request.key)
        expires = int(ctx.clock.time()) + request.expires_in
        signature = url_signature(self._signing_key, request.method, request.key, expires)
        return f"{path.as_uri()}?method={request.method}&expires={expires}&signature={signature}"

    def health_check(self) -> str | None:
        """None when the root folder is there and writable, else what is wrong with it."""
        if not self.root.is_dir():
            return f"storage folder {self.root} does not exist"
        if not os.access(self.root, os.W_OK | os.X_OK):
            return f"storage folder {self.root} is not writable by this process"
        return None


@contextlib.contextmanager
def _stream(file: BinaryIO) -> Iterator[Iterator[bytes]]:
    with file:
        yield iter(functools.partial(file.read, CHUNK_SIZE), b"")


class FilesystemStorageAdapter(_FilesystemStore):
    """Objects as files under `FilesystemOptions.root`, for one machine or a shared mount.

    Keys map to paths (``a/b.txt`` is ``<root>/a/b.txt``), so a key cannot also be the
    folder of another (``a`` and ``a/b``: `InvalidRequestError` ``key_conflict``), and key
    segments starting with ``.nexus-`` are reserved. Objects are written with mode 0600.
    The ETag is the quoted MD5 of the content, as at S3. Listings are sorted by key; the
    cursor is the last key of the previous page. Signed URLs are ``file://`` URLs with
    ``method``, ``expires`` and an HMAC-SHA256 ``signature`` over method, key and expiry.
    """

    def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        """Store (or replace) an object atomically; content is read from `request.chunks()`."""
        return self._put(request)

    def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        """The whole content of an object."""
        return self._get(request)

    def open(self, request: ObjectKey, ctx: CallContext) -> AbstractContextManager[Iterator[bytes]]:
        """A context manager yielding the content in 64 KiB chunks; it closes the file on exit.

        The file is opened here, so a missing key fails at once and the stream keeps reading
        the version opened even if a put replaces the object meanwhile.
        """
        return _stream(self._open(request.key))

    def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        """Remove an object and its sidecar; a missing key is not an error."""
        self._delete(request)

    def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        """Whether an object is stored under the key."""
        return self._exists(request)

    def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        """One page of the objects under `request.prefix`, after `request.cursor`."""
        return self._list(request)

    def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        """A ``file://`` URL of the object, signed for `request.method` until it expires."""
        return self._signed_url(request, ctx)


async def _in_thread(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    # asyncio is imported on first async use, keeping it out of sync programs' import time.
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)


async def _aread(file: BinaryIO) -> AsyncGenerator[bytes]:
    while chunk := await _in_thread(file.read, CHUNK_SIZE):
        yield chunk


@contextlib.asynccontextmanager
async def _astream(file: BinaryIO) -> AsyncIterator[AsyncIterator[bytes]]:
    chunks = _aread(file)
    try:
        yield chunks
    finally:
        await chunks.aclose()
        file.close()


class AsyncFilesystemStorageAdapter(_FilesystemStore):
    """The asynchronous twin of `FilesystemStorageAdapter`, over the same folder layout.

    Every disk access runs in a worker thread (`asyncio.to_thread`): a put fsyncs, which
    can take tens of milliseconds, and a large file or a network mount can be slower still;
    none of that may stall the event loop. Only `signed_url`, which touches no disk beyond
    resolving the path, runs inline.
    """

    async def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        """Store (or replace) an object atomically; content is read from `request.chunks()`."""
        return await _in_thread(self._put, request)

    async def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        """The whole content of an object."""
        return await _in_thread(self._get, request)

    async def open(
        self, request: ObjectKey, ctx: CallContext
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """An async context manager yielding an async iterator of 64 KiB chunks."""
        return _astream(await _in_thread(self._open, request.key))

    async def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        """Remove an object and its sidecar; a missing key is not an error."""
        await _in_thread(self._delete, request)

    async def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        """Whether an object is stored under the key."""
        return await _in_thread(self._exists, request)

    async def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        """One page of the objects under `request.prefix`, after `request.cursor`."""
        return await _in_thread(self._list, request)

    async def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        """A ``file://`` URL of the object, signed for `request.method` until it expires."""
        return self._signed_url(request, ctx)
