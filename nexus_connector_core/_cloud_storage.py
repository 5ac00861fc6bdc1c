"""The cloud_storage category: objects, listings, streams and the storage adapter protocol."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import datetime
from typing import Any, BinaryIO, Literal, Protocol, runtime_checkable

import msgspec

from ._context import CallContext
from ._operations import Category, Operation

__all__ = [
    "AsyncCloudStorageAdapter",
    "CLOUD_STORAGE",
    "CloudStorageAdapter",
    "ListObjects",
    "ObjectData",
    "ObjectInfo",
    "ObjectKey",
    "ObjectPage",
    "PutObject",
    "SignedUrlRequest",
]

#: What `put` accepts as content: bytes, a binary file, or an iterable of byte chunks.
ObjectData = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]

_CHUNK = 1 << 16
_METADATA_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _check_key(key: object, what: str = "an object key") -> None:
    """Refuse a key (or a listing prefix) that could escape a store's root or break it: not
    text, longer than S3's 1024 bytes, absolute, holding NUL or a ``..`` segment."""
    if not isinstance(key, str) or (not key and what == "an object key"):
        raise ValueError(f"{what} must be a non-empty string, got {key!r}")
    try:
        size = len(key.encode())
    except UnicodeEncodeError:
        raise ValueError(f"{what} must be Unicode text (it holds a lone surrogate)") from None
    if size > 1024:
        raise ValueError(f"{what} may be at most 1024 bytes of UTF-8")
    if key.startswith("/") or "\x00" in key or ".." in key.split("/"):
        raise ValueError(
            f"{what} {key!r} must not start with '/', contain NUL or a '..' segment; keys are "
            "relative to the store's root, like 'invoices/2026/0042.pdf'"
        )


def _check_text(value: object, what: str) -> None:
    """Refuse a value that would go out in a header (content type, metadata) and cannot."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    if not value.isprintable() or not value.isascii():
        raise ValueError(
            f"{what} {value!r} must be printable ASCII: stores send it as an HTTP header"
        )


class ObjectKey(msgspec.Struct, frozen=True):
    """Names one object (``invoices/2026/11/0042.pdf``)."""

    key: str

    def __post_init__(self) -> None:
        _check_key(self.key)


class PutObject(msgspec.Struct, frozen=True, kw_only=True):
    """Store `data` under `key`. `data` is bytes, a binary file or an iterable of chunks.

    Adapters read it with `chunks()` (streaming) or `read()` (all at once) whatever its form.
    """

    key: str
    data: Any  # ObjectData; Any so that files and generators pass through unconverted
    content_type: str | None = None
    metadata: Mapping[str, str] = {}

    def __post_init__(self) -> None:
        _check_key(self.key)
        if isinstance(self.data, str):
            raise ValueError("PutObject.data must be bytes, a binary file or byte chunks, not str")
        if self.content_type is not None:
            _check_text(self.content_type, "PutObject.content_type")
            if not self.content_type.strip():
                raise ValueError("PutObject.content_type must not be blank; leave it out")
        if not isinstance(self.metadata, Mapping):
            raise ValueError("PutObject.metadata must be a mapping of str to str")
        for name, value in self.metadata.items():
            _check_text(name, "a PutObject.metadata name")
            if not _METADATA_NAME.fullmatch(name):
                raise ValueError(
                    f"metadata name {name!r} may hold only letters, digits, '-' and '_' "
                    "(S3 sends it as an x-amz-meta-* header)"
                )
            _check_text(value, f"PutObject.metadata[{name!r}]")

    def chunks(self, size: int = _CHUNK) -> Iterator[bytes]:
        """The content in chunks of at most `size` bytes (a file is read as it goes)."""
        data = self.data
        if isinstance(data, bytes | bytearray | memoryview):
            view = memoryview(data)
            for start in range(0, len(view), size):
                yield bytes(view[start : start + size])
        elif hasattr(data, "read"):
            while chunk := data.read(size):
                yield bytes(chunk)
        else:
            for chunk in data:
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise TypeError(f"PutObject.data yielded {type(chunk).__name__}, not bytes")
                yield bytes(chunk)

    def read(self) -> bytes:
        """The whole content as bytes."""
        if isinstance(self.data, bytes):
            return self.data
        return b"".join(self.chunks())


class ListObjects(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the objects whose key starts with `prefix`, after `cursor`."""

    prefix: str = ""
    cursor: str | None = None
    limit: int = 1000

    def __post_init__(self) -> None:
        _check_key(self.prefix, "a listing prefix")
        if not 1 <= self.limit <= 1000:
            raise ValueError(f"ListObjects.limit must be between 1 and 1000, got {self.limit}")


class SignedUrlRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask for a URL that lets its holder GET or PUT one object for `expires_in` seconds."""

    key: str
    expires_in: int = 3600
    method: Literal["GET", "PUT"] = "GET"

    def __post_init__(self) -> None:
        _check_key(self.key)
        if not 1 <= self.expires_in <= 7 * 24 * 3600:
            raise ValueError("SignedUrlRequest.expires_in must be 1 s to 7 days")


class ObjectInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An object as the store describes it; `vendor_id` is its version id or ETag."""

    vendor: str
    vendor_id: str
    key: str
    size: int
    etag: str | None = None
    content_type: str | None = None
    last_modified: datetime | None = None
    metadata: Mapping[str, str] = {}
    raw: Any = None


class ObjectPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a listing; pass `next_cursor` back to get the next (None: the last page)."""

    vendor: str
    items: Sequence[ObjectInfo]
    next_cursor: str | None = None
    raw: Any = None


@runtime_checkable
class CloudStorageAdapter(Protocol):
    """What a synchronous cloud_storage vendor adapter implements.

    `open` returns a context manager that yields an iterator of byte chunks and releases the
    connection on exit; `get` of a missing key raises `ObjectNotFoundError`.
    """

    def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo: ...

    def get(self, request: ObjectKey, ctx: CallContext) -> bytes: ...

    def open(
        self, request: ObjectKey, ctx: CallContext
    ) -> AbstractContextManager[Iterator[bytes]]: ...

    def delete(self, request: ObjectKey, ctx: CallContext) -> None: ...

    def exists(self, request: ObjectKey, ctx: CallContext) -> bool: ...

    def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage: ...

    def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str: ...


@runtime_checkable
class AsyncCloudStorageAdapter(Protocol):
    """What an asynchronous cloud_storage vendor adapter implements."""

    async def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo: ...

    async def get(self, request: ObjectKey, ctx: CallContext) -> bytes: ...

    async def open(
        self, request: ObjectKey, ctx: CallContext
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...

    async def delete(self, request: ObjectKey, ctx: CallContext) -> None: ...

    async def exists(self, request: ObjectKey, ctx: CallContext) -> bool: ...

    async def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage: ...

    async def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str: ...


STORAGE_PUT = Operation("put", "cloud_storage", PutObject, ObjectInfo, idempotent=True)
STORAGE_GET = Operation("get", "cloud_storage", ObjectKey, bytes, idempotent=True, reads=True)
STORAGE_OPEN: Operation[ObjectKey, Any] = Operation(
    "open", "cloud_storage", ObjectKey, object, idempotent=True, streams=True
)
STORAGE_DELETE: Operation[ObjectKey, None] = Operation(
    "delete", "cloud_storage", ObjectKey, type(None), idempotent=True
)
STORAGE_EXISTS = Operation("exists", "cloud_storage", ObjectKey, bool, idempotent=True, reads=True)
STORAGE_LIST = Operation(
    "list", "cloud_storage", ListObjects, ObjectPage, idempotent=True, reads=True
)
STORAGE_SIGNED_URL = Operation(
    "signed_url", "cloud_storage", SignedUrlRequest, str, idempotent=True
)


#: The cloud_storage category. `put` and `delete` are idempotent: repeating them leaves the
#: store as one call would.
CLOUD_STORAGE = Category(
    "cloud_storage",
    (
        STORAGE_PUT,
        STORAGE_GET,
        STORAGE_OPEN,
        STORAGE_DELETE,
        STORAGE_EXISTS,
        STORAGE_LIST,
        STORAGE_SIGNED_URL,
    ),
)
