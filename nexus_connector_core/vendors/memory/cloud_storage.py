"""The memory cloud_storage vendor: an S3-like object store held in a dict.

It also holds the object-store logic the ``filesystem`` vendor shares, none of it I/O:
`select_page` (which keys one listing page holds), `url_signature` (how a signed URL is
signed) and `not_found` (the error for a missing key).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from ..._adapters import AdapterSettings
from ..._cloud_storage import (
    ListObjects,
    ObjectInfo,
    ObjectKey,
    ObjectPage,
    PutObject,
    SignedUrlRequest,
)
from ..._context import CallContext
from .._object_store import CHUNK_SIZE, not_found, select_page, url_signature
from ._behaviour import MemoryVendor

__all__ = [
    "AsyncMemoryCloudStorageAdapter",
    "CHUNK_SIZE",
    "MemoryCloudStorageAdapter",
]


_DEFAULT_CONTENT_TYPE = "application/octet-stream"


class _StoredObject(NamedTuple):
    content: bytes
    content_type: str
    metadata: Mapping[str, str]
    etag: str
    last_modified: datetime


def _chunks(content: bytes) -> Generator[bytes]:
    view = memoryview(content)
    for start in range(0, len(view), CHUNK_SIZE):
        yield bytes(view[start : start + CHUNK_SIZE])


async def _achunks(content: bytes) -> AsyncGenerator[bytes]:
    for chunk in _chunks(content):
        yield chunk


class _ObjectStore(MemoryVendor):
    """The state and logic both storage twins share; they differ only in how a call begins."""

    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self._objects: dict[str, _StoredObject] = {}
        # Random per adapter: its URLs are meant for this process only.
        self._signing_key = secrets.token_bytes(32)

    def _info(self, key: str, stored: _StoredObject) -> ObjectInfo:
        raw: dict[str, Any] = {
            "Key": key,
            "Size": len(stored.content),
            "ETag": stored.etag,
            "ContentType": stored.content_type,
            "LastModified": stored.last_modified.isoformat(),
            "Metadata": dict(stored.metadata),
        }
        return ObjectInfo(
            vendor=self.settings.vendor,
            vendor_id=stored.etag,
            key=key,
            size=len(stored.content),
            etag=stored.etag,
            content_type=stored.content_type,
            last_modified=stored.last_modified,
            metadata=stored.metadata,
            raw=raw,
        )

    def _put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        # Read the data before taking the lock: a file or generator may be slow.
        digest = hashlib.md5(usedforsecurity=False)
        parts = []
        for chunk in request.chunks(CHUNK_SIZE):
            digest.update(chunk)
            parts.append(chunk)
        stored = _StoredObject(
            content=b"".join(parts),
            content_type=request.content_type or _DEFAULT_CONTENT_TYPE,
            metadata=dict(request.metadata),
            etag=f'"{digest.hexdigest()}"',
            last_modified=datetime.fromtimestamp(ctx.clock.time(), UTC),
        )
        with self._lock:
            self._objects[request.key] = stored
        return self._info(request.key, stored)

    def _content(self, request: ObjectKey) -> bytes:
        with self._lock:
            stored = self._objects.get(request.key)
        if stored is None:
            raise not_found(request.key)
        return stored.content

    def _delete(self, request: ObjectKey) -> None:
        with self._lock:
            self._objects.pop(request.key, None)

    def _exists(self, request: ObjectKey) -> bool:
        with self._lock:
            return request.key in self._objects

    def _list(self, request: ListObjects) -> ObjectPage:
        with self._lock:
            keys, next_cursor = select_page(self._objects, request)
            items = [self._info(key, self._objects[key]) for key in keys]
        raw = {
            "Name": self.settings.connector,
            "Prefix": request.prefix,
            "MaxKeys": request.limit,
            "KeyCount": len(items),
            "IsTruncated": next_cursor is not None,
            "NextContinuationToken": next_cursor,
            "Contents": [item.raw for item in items],
        }
        return ObjectPage(
            vendor=self.settings.vendor, items=items, next_cursor=next_cursor, raw=raw
        )

    def _signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        expires = int(ctx.clock.time()) + request.expires_in
        signature = url_signature(self._signing_key, request.method, request.key, expires)
        return (
            f"memory://{self.settings.connector}/{quote(request.key, safe='/')}"
            f"?method={request.method}&expires={expires}&signature={signature}"
        )


class MemoryCloudStorageAdapter(_ObjectStore):
    """An in-process object store that behaves like S3.

    Objects get an S3-style ETag (the quoted MD5 of the content, also their `vendor_id`)
    and a `last_modified` from the call's clock; the content type defaults to
    ``application/octet-stream``. Deleting a missing key is fine, as at S3. Listings are
    sorted by key; the cursor is the last key of the previous page. Signed URLs look like
    ``memory://<connector>/<key>?method=GET&expires=<epoch>&signature=<hmac-sha256 hex>``,
    signed with a key random to this adapter.

    Attributes:
        calls: every ``(operation, request)`` served, failed ones included.
    """

    def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        """Store (or replace) an object; its content is read from `request.chunks()`."""
        self._begin("put", request, ctx)
        return self._put(request, ctx)

    def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        """The whole content of an object."""
        self._begin("get", request, ctx)
        return self._content(request)

    def open(self, request: ObjectKey, ctx: CallContext) -> AbstractContextManager[Iterator[bytes]]:
        """A context manager yielding the content in chunks of 64 KiB.

        The content is the one stored when `open` is called; a later put does not change
        a stream already opened. A missing key fails here, not when the stream is entered.
        """
        self._begin("open", request, ctx)
        return contextlib.closing(_chunks(self._content(request)))

    def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        """Remove an object; a missing key is not an error."""
        self._begin("delete", request, ctx)
        self._delete(request)

    def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        """Whether an object is stored under the key."""
        self._begin("exists", request, ctx)
        return self._exists(request)

    def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        """One page of the objects under `request.prefix`, after `request.cursor`."""
        self._begin("list", request, ctx)
        return self._list(request)

    def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        """A ``memory://`` URL granting `request.method` on the key until it expires."""
        self._begin("signed_url", request, ctx)
        return self._signed_url(request, ctx)


class AsyncMemoryCloudStorageAdapter(_ObjectStore):
    """The asynchronous twin of `MemoryCloudStorageAdapter`, with the same store."""

    async def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        """Store (or replace) an object; its content is read from `request.chunks()`."""
        await self._abegin("put", request, ctx)
        return self._put(request, ctx)

    async def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        """The whole content of an object."""
        await self._abegin("get", request, ctx)
        return self._content(request)

    async def open(
        self, request: ObjectKey, ctx: CallContext
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """An async context manager yielding an async iterator of 64 KiB chunks."""
        await self._abegin("open", request, ctx)
        return contextlib.aclosing(_achunks(self._content(request)))

    async def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        """Remove an object; a missing key is not an error."""
        await self._abegin("delete", request, ctx)
        self._delete(request)

    async def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        """Whether an object is stored under the key."""
        await self._abegin("exists", request, ctx)
        return self._exists(request)

    async def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        """One page of the objects under `request.prefix`, after `request.cursor`."""
        await self._abegin("list", request, ctx)
        return self._list(request)

    async def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        """A ``memory://`` URL granting `request.method` on the key until it expires."""
        await self._abegin("signed_url", request, ctx)
        return self._signed_url(request, ctx)
