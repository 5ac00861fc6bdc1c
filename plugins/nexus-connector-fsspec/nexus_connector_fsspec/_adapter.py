"""The ``fsspec`` adapters: `FsspecStore`'s operations, called directly or from a thread.

fsspec's filesystems are synchronous to their callers (the async ones, such as s3fs and
gcsfs, run their own event loop in a thread of theirs), so the async twin runs every
operation in a worker thread (`asyncio.to_thread`): none may stall the caller's loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import IO, ParamSpec, TypeVar

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    ListObjects,
    ObjectInfo,
    ObjectKey,
    ObjectPage,
    PutObject,
    SignedUrlRequest,
)

from ._store import FsspecStore

__all__ = ["AsyncFsspecStorageAdapter", "FsspecStorageAdapter"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class FsspecStorageAdapter:
    """Objects in any fsspec filesystem (``options.protocol``) under ``options.root``.

    Keys map to paths under the root; segments starting with ``.nexus-`` are reserved for
    the store's sidecars and temporary files. Listings are sorted by key; the cursor is the
    last key of the previous page. Signed URLs are the filesystem's own (``fs.sign``: GET
    only, where the implementation has it, e.g. s3fs); elsewhere `signed_url` is refused.
    """

    def __init__(self, settings: AdapterSettings) -> None:
        self.store = FsspecStore(settings)

    def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        """Store (or replace) an object, read from `request.chunks()` as it is written."""
        return self.store.put(request)

    def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        """The whole object; `ObjectNotFoundError` when absent."""
        return self.store.get(request)

    def open(self, request: ObjectKey, ctx: CallContext) -> AbstractContextManager[Iterator[bytes]]:
        """A context manager yielding the object in 64 KiB chunks; closes the file on exit."""
        return self._stream(self.store.open(request), request.key)

    @contextlib.contextmanager
    def _stream(self, file: IO[bytes], key: str) -> Iterator[Iterator[bytes]]:
        with file:
            yield self.store.chunks(file, key)

    def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        """Remove an object; a missing key is not an error."""
        self.store.delete(request)

    def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        """Whether an object is stored under the key."""
        return self.store.exists(request)

    def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        """One page of the objects under the prefix, after the cursor."""
        return self.store.list(request)

    def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        """The filesystem's signed GET URL."""
        return self.store.signed_url(request)


async def _in_thread(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    import asyncio

    return await asyncio.to_thread(fn, *args, **kwargs)


class AsyncFsspecStorageAdapter:
    """The asynchronous twin of `FsspecStorageAdapter`: each operation in a worker thread."""

    def __init__(self, settings: AdapterSettings) -> None:
        self.store = FsspecStore(settings)

    async def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        """Store (or replace) an object, read from `request.chunks()` as it is written."""
        return await _in_thread(self.store.put, request)

    async def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        """The whole object; `ObjectNotFoundError` when absent."""
        return await _in_thread(self.store.get, request)

    async def open(
        self, request: ObjectKey, ctx: CallContext
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """An async context manager yielding an async iterator of 64 KiB chunks."""
        return self._stream(await _in_thread(self.store.open, request), request.key)

    @contextlib.asynccontextmanager
    async def _stream(self, file: IO[bytes], key: str) -> AsyncIterator[AsyncIterator[bytes]]:
        chunks = self._read(file, key)
        try:
            yield chunks
        finally:
            await chunks.aclose()
            await _in_thread(file.close)

    async def _read(self, file: IO[bytes], key: str) -> AsyncGenerator[bytes]:
        while chunk := await _in_thread(self.store.read, file, key):
            yield chunk

    async def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        """Remove an object; a missing key is not an error."""
        await _in_thread(self.store.delete, request)

    async def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        """Whether an object is stored under the key."""
        return await _in_thread(self.store.exists, request)

    async def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        """One page of the objects under the prefix, after the cursor."""
        return await _in_thread(self.store.list, request)

    async def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        """The filesystem's signed GET URL."""
        return await _in_thread(self.store.signed_url, request)
