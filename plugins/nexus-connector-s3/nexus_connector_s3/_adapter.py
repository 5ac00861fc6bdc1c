"""The ``s3`` adapters: botocore builds and signs, the core's HTTP toolkit sends.

`S3StorageAdapter` and `AsyncS3StorageAdapter` share `_S3` (no I/O): the botocore request
builder (`S3Requests`), the flows of each operation (`Transfers`), S3's code table and the
reading of its XML errors. Each twin only drives the flows over its own httpx client, on
the toolkit's deadline transport: every request ends at the attempt's deadline on the wall
clock, ``ctx.request_sent`` says whether it left, and every httpx failure and error answer
maps to the library's errors in one place.

Why not aiobotocore: it pins botocore to one patch release (a dependency conflict waiting
to happen in every application that also installs boto3) and brings aiohttp, a second HTTP
stack whose timeouts and errors would bypass the toolkit's deadlines and mapping. botocore's
signer over httpx gives the same requests, with our transport.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from contextvars import ContextVar
from typing import Any, TypeVar

import httpx

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    ConnectorError,
    ListObjects,
    ObjectInfo,
    ObjectKey,
    ObjectPage,
    PutObject,
    SignedUrlRequest,
    VendorTimeoutError,
)
from nexus_connector_core.http import (
    TRANSPORT_ERRORS,
    AsyncHttpAdapter,
    HttpAdapter,
    HttpVendor,
    exchange,
    transport_error,
)

from ._answers import ERRORS, Answer, error_of
from ._options import S3Options
from ._requests import Call, PartReader, Request, S3Requests, s3_request
from ._transfers import CHUNK_SIZE, Flow, Transfers

__all__ = ["AsyncS3StorageAdapter", "S3StorageAdapter"]

T = TypeVar("T")

#: A body of at least this many bytes is signed (its SHA-256 taken) by the async adapter
#: in a worker thread, not on the event loop: 64 KiB hash in well under a millisecond.
HASHED_OFF_LOOP = 64 * 1024

#: Seconds an abort of a failed multipart upload may take: its own budget, since the
#: failure it cleans up after may have used the attempt's.
CLEANUP_TIMEOUT = 10.0

# When the operation being driven must end (time.monotonic()), and whether a cleanup call
# is being sent: per thread and per task.
_ENDS: ContextVar[float | None] = ContextVar("nexus_connector_s3_ends", default=None)
_CLEANUP: ContextVar[bool] = ContextVar("nexus_connector_s3_cleanup", default=False)


def _unchained(exc: Exception) -> Exception | None:
    # httpx's text about a request it could not build quotes the header it refused.
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return None
    return exc


def _streaming_error(exc: Exception) -> ConnectorError:
    """A failure while an answer's body streams: the request was long sent."""
    return transport_error(exc, vendor=_S3.vendor_name, sent=True)


class _S3(HttpVendor):
    """What both twins share: settings, the request builder, the flows, the answers."""

    vendor_name = "S3"
    errors = ERRORS
    code_label = "Code"

    def __init__(self, settings: AdapterSettings) -> None:
        options: S3Options = settings.options
        self.requests = S3Requests(settings)
        secrets = [
            settings.credentials[name]
            for name in ("secret_access_key", "session_token")
            if name in settings.credentials
        ]
        named = {
            name: settings.credentials[name]
            for name in ("access_key_id",)
            if name in settings.credentials
        }
        super().__init__(
            settings,
            base_url=self.requests.origin,
            timeout=options.timeout,
            transport=options.transport,
            secrets=secrets,
            named=named,
        )
        self.options = options
        self.transfers = Transfers(
            self.requests, settings.vendor, options.multipart_threshold, options.part_size
        )

    def read_error(self, response: httpx.Response) -> tuple[object, object]:
        """S3's ``<Error><Code>`` and ``<Message>`` (a HEAD answer's status alone)."""
        answer = Answer(response.status_code, response.headers, response.content)
        code, message = error_of(self.requests.model, "GetObject", answer)
        return (None if code is None or code.isdigit() else code), message

    def timeout_for(self, ctx: CallContext) -> float | None:
        """The attempt's timeout, cut to what the operation being driven has left (a
        multipart upload is many requests within one attempt)."""
        if _CLEANUP.get():
            return CLEANUP_TIMEOUT
        timeout = super().timeout_for(ctx)
        ends = _ENDS.get()
        if ends is None:
            return timeout
        left = ends - time.monotonic()
        if left <= 0:
            raise VendorTimeoutError(
                "the operation's requests to S3 used up the attempt's time", maybe_processed=True
            )
        return left if timeout is None or left < timeout else timeout

    def _begin(self, ctx: CallContext) -> Any:
        timeout = super().timeout_for(ctx)
        return _ENDS.set(None if timeout is None else time.monotonic() + timeout)

    def _signed_url(self, request: SignedUrlRequest) -> str:
        return self.requests.presign(request.method, request.key, request.expires_in)


def _read(response: httpx.Response) -> Answer:
    return Answer(response.status_code, response.headers, response.content)


def _chunks_of(reader: PartReader) -> Iterator[bytes]:
    reader.seek(0)
    while chunk := reader.read(CHUNK_SIZE):
        yield chunk


async def _achunks_of(reader: PartReader) -> AsyncIterator[bytes]:
    for chunk in _chunks_of(reader):
        yield chunk


class S3StorageAdapter(_S3, HttpAdapter):
    """Objects in an S3 bucket (AWS, MinIO, R2, Ceph...), over synchronous httpx.

    Keys are S3 keys; `vendor_id` is the object's version id in a versioned bucket, else its
    ETag. Listings are S3's (sorted by key); the cursor is S3's continuation token. Signed
    URLs are presigned with Signature Version 4 (GET or PUT, up to 7 days).
    """

    def _send(self, call: Call, ctx: CallContext) -> Answer:
        content: Any = _chunks_of(call.body) if isinstance(call.body, PartReader) else call.body
        if not call.cleanup:
            response = self.request(
                call.method, call.url, ctx, headers=call.headers, content=content
            )
            return _read(response)
        saved = ctx.request_sent, ctx.status_code
        token = _CLEANUP.set(True)
        try:
            response = self.request(
                call.method, call.url, ctx, headers=call.headers, content=content
            )
        finally:
            _CLEANUP.reset(token)
            ctx.request_sent, ctx.status_code = saved
        return _read(response)

    def _drive(self, flow: Flow[T], ctx: CallContext) -> T:
        token = self._begin(ctx)
        try:
            wanted = next(flow)
            while True:
                # Each request is let go before the flow makes the next: a part's data is
                # held only while it is being signed and sent.
                try:
                    answer = self._send(self.requests.sign(wanted), ctx)
                except BaseException as exc:  # noqa: BLE001 - the flow cleans up, then re-raises
                    del wanted
                    wanted = flow.throw(exc)
                else:
                    del wanted
                    wanted = flow.send(answer)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            _ENDS.reset(token)
            flow.close()

    def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        """Store an object: one PUT up to ``multipart_threshold`` bytes, else a multipart
        upload in ``part_size`` parts (aborted if anything fails). The data is read as it
        is sent: a file or a generator of any size uses one part's worth of memory."""
        return self._drive(self.transfers.put(request, ctx), ctx)

    def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        """The whole object; `ObjectNotFoundError` when S3 has no such key."""
        return self._drive(self.transfers.get(request.key), ctx)

    def open(self, request: ObjectKey, ctx: CallContext) -> AbstractContextManager[Iterator[bytes]]:
        """Stream the object: the answer's head is read here (a missing key fails at once),
        the body in 64 KiB chunks as the caller iterates, each read within the timeout."""
        call = self.requests.call("GetObject", Key=request.key)
        timeout = self.timeout_for(ctx)
        with exchange(timeout, ctx):
            try:
                response = self._client.send(
                    self._client.build_request(
                        call.method, call.url, headers=call.headers, timeout=timeout
                    ),
                    stream=True,
                )
                ctx.status_code = response.status_code
                if not response.is_success:
                    try:
                        response.read()
                    finally:
                        response.close()
                    raise self.error_for(response)
            except TRANSPORT_ERRORS as exc:
                raise self.transport_error(exc, ctx) from _unchained(exc)
        return self._stream(response)

    @contextlib.contextmanager
    def _stream(self, response: httpx.Response) -> Generator[Iterator[bytes]]:
        try:
            yield self._body(response)
        finally:
            response.close()

    def _body(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(CHUNK_SIZE)
        except TRANSPORT_ERRORS as exc:
            raise _streaming_error(exc) from _unchained(exc)

    def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        """Remove the object; a missing key is not an error."""
        self._drive(self.transfers.delete(request.key), ctx)

    def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        """Whether the bucket holds the key (HeadObject)."""
        return self._drive(self.transfers.exists(request.key), ctx)

    def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        """One page of keys under the prefix, sorted; the cursor is S3's token."""
        return self._drive(self.transfers.list(request), ctx)

    def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        """A presigned (SigV4) URL for GET or PUT of the key, usable by any HTTP client."""
        return self._signed_url(request)

    def close(self) -> None:
        """Close the connection pool."""
        super().close()
        self.requests.close()


class AsyncS3StorageAdapter(_S3, AsyncHttpAdapter):
    """The asynchronous twin of `S3StorageAdapter`, over httpx.AsyncClient.

    Nothing blocks the event loop on the network: httpx does the I/O, and botocore builds
    and signs (CPU) — in a worker thread when the credentials are not fixed keys, since the
    AWS chain may then look them up or refresh them over the network (instance metadata, a
    container endpoint, SSO, a credential_process), and for a request with a body of
    `HASHED_OFF_LOOP` bytes or more, since signing hashes the payload (SHA-256, one part
    at a time), over HTTPS too: botocore leaves a payload unsigned only when a checksum
    header goes with it, which the adapter does not send (checksums ``when_required``).
    A 5 MiB part is 6-12 ms of CPU on the 2-core test machine.
    """

    async def _send(self, call: Call, ctx: CallContext) -> Answer:
        content: Any = _achunks_of(call.body) if isinstance(call.body, PartReader) else call.body
        if not call.cleanup:
            response = await self.request(
                call.method, call.url, ctx, headers=call.headers, content=content
            )
            return _read(response)
        saved = ctx.request_sent, ctx.status_code
        token = _CLEANUP.set(True)
        try:
            response = await self.request(
                call.method, call.url, ctx, headers=call.headers, content=content
            )
        finally:
            _CLEANUP.reset(token)
            ctx.request_sent, ctx.status_code = saved
        return _read(response)

    async def _sign(self, wanted: Request) -> Call:
        """`wanted` signed: at once with fixed keys and no body to hash (or a small one),
        else in a worker thread, since the credential chain may look credentials up or
        refresh them over the network, and hashing a part takes milliseconds."""
        body = wanted.params.get("Body")
        if self.requests.fixed_keys and (body is None or len(body) < HASHED_OFF_LOOP):
            return self.requests.sign(wanted)
        import asyncio

        return await asyncio.to_thread(self.requests.sign, wanted)

    async def _drive(self, flow: Flow[T], ctx: CallContext) -> T:
        token = self._begin(ctx)
        try:
            wanted = next(flow)
            while True:
                try:
                    answer = await self._send(await self._sign(wanted), ctx)
                except BaseException as exc:  # noqa: BLE001 - the flow cleans up, then re-raises
                    del wanted
                    wanted = flow.throw(exc)
                else:
                    del wanted
                    wanted = flow.send(answer)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            _ENDS.reset(token)
            flow.close()

    async def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        """Store an object (see `S3StorageAdapter.put`)."""
        return await self._drive(self.transfers.put(request, ctx), ctx)

    async def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        """The whole object; `ObjectNotFoundError` when S3 has no such key."""
        return await self._drive(self.transfers.get(request.key), ctx)

    async def open(
        self, request: ObjectKey, ctx: CallContext
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Stream the object in 64 KiB chunks (see `S3StorageAdapter.open`)."""
        call = await self._sign(s3_request("GetObject", Key=request.key))
        timeout = self.timeout_for(ctx)
        with exchange(timeout, ctx):
            try:
                response = await self._client.send(
                    self._client.build_request(
                        call.method, call.url, headers=call.headers, timeout=timeout
                    ),
                    stream=True,
                )
                ctx.status_code = response.status_code
                if not response.is_success:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                    raise self.error_for(response)
            except TRANSPORT_ERRORS as exc:
                raise self.transport_error(exc, ctx) from _unchained(exc)
        return self._stream(response)

    @contextlib.asynccontextmanager
    async def _stream(self, response: httpx.Response) -> AsyncGenerator[AsyncIterator[bytes]]:
        body = self._body(response)
        try:
            yield body
        finally:
            await body.aclose()
            await response.aclose()

    async def _body(self, response: httpx.Response) -> AsyncGenerator[bytes]:
        try:
            async for chunk in response.aiter_bytes(CHUNK_SIZE):
                yield chunk
        except TRANSPORT_ERRORS as exc:
            raise _streaming_error(exc) from _unchained(exc)

    async def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        """Remove the object; a missing key is not an error."""
        await self._drive(self.transfers.delete(request.key), ctx)

    async def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        """Whether the bucket holds the key (HeadObject)."""
        return await self._drive(self.transfers.exists(request.key), ctx)

    async def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        """One page of keys under the prefix, sorted; the cursor is S3's token."""
        return await self._drive(self.transfers.list(request), ctx)

    async def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        """A presigned (SigV4) URL for GET or PUT of the key, usable by any HTTP client
        (in a worker thread unless the keys are fixed, as `_sign`)."""
        if self.requests.fixed_keys:
            return self._signed_url(request)
        import asyncio

        return await asyncio.to_thread(self._signed_url, request)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await super().aclose()
        self.requests.close()
