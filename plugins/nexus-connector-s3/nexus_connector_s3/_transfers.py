"""Each operation as a flow of S3 requests, written once for both adapters (sans-IO).

A flow is a generator: it yields the `Request` to make next and is sent its `Answer` (a 2xx
answer; a failure is thrown into the flow as the library's error, where the flow may clean
up); what it returns is the operation's result. The adapters' ``_drive`` sign each request
(which may wait on the credential chain) and send it: the I/O, the way the SMTP plugin's
``Dialogue`` and the OAuth ``Refresher`` leave it to their drivers.

`put` streams: it reads the data one part at a time (at most `multipart_threshold` bytes
ahead, then `part_size` bytes per part), so memory stays bounded by a part whatever the
object's size; a multipart upload that fails for any reason, a cancellation included, is
aborted so that no parts are left behind (and billed).
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

from botocore.parsers import ResponseParserError

from nexus_connector_core import (
    CallContext,
    ConnectorError,
    InvalidRequestError,
    ListObjects,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectPage,
    PutObject,
    VendorUnavailableError,
)

from ._answers import (
    DEFAULT_CONTENT_TYPE,
    Answer,
    UnreadableAnswerError,
    error_of,
    is_error_document,
    object_info,
    page,
    parse,
    unreadable,
)
from ._options import MAX_PART, MAX_PARTS
from ._requests import PartReader, Request, S3Requests, s3_request

__all__ = ["CHUNK_SIZE", "Flow", "Transfers"]

T = TypeVar("T")
#: A flow: yields the requests to sign and send, is sent answers, returns the result.
Flow = Generator[Request, Answer, T]

#: Bytes per chunk read from the caller's data and streamed by `open`.
CHUNK_SIZE = 1 << 16

# ctx.extras keys: where a seekable file started, and that a one-shot stream was read.
_START = "s3.data_start"
_READ = "s3.data_read"


class Transfers:
    """The flows of one bucket's operations."""

    def __init__(self, requests: S3Requests, vendor: str, threshold: int, part_size: int):
        self.requests = requests
        self.vendor = vendor
        self.threshold = threshold
        self.part_size = part_size

    def _parse(self, operation: str, answer: Answer) -> dict[str, Any]:
        return self._read(operation, answer, lambda parsed: parsed)

    def _read(self, operation: str, answer: Answer, reader: Callable[[dict[str, Any]], T]) -> T:
        """`reader` given S3's answer to `operation` as botocore parses it; an answer that
        cannot be read (malformed XML, a field missing or no S3 gives) is `unreadable`."""
        try:
            return reader(parse(self.requests.model, operation, answer))
        except (ResponseParserError, TypeError, KeyError, ValueError, AttributeError) as exc:
            raise unreadable(operation, exc) from None

    # -- put -----------------------------------------------------------------------------------

    def put(self, request: PutObject, ctx: CallContext) -> Flow[ObjectInfo]:
        """PutObject up to the threshold, a multipart upload beyond it."""
        one_shot = _one_shot(request.data)
        try:
            return (yield from self._put(request, ctx))
        except ConnectorError as error:
            if one_shot and ctx.extra(_READ):
                # Part of the stream is gone: another attempt would store the rest only.
                error.retryable = False
            raise

    def _put(self, request: PutObject, ctx: CallContext) -> Flow[ObjectInfo]:
        chunks = _rewound(request, ctx)
        content_type = request.content_type or DEFAULT_CONTENT_TYPE
        described: dict[str, Any] = {
            "ContentType": content_type,
            "Metadata": dict(request.metadata),
        }
        ahead, ended = _read_ahead(chunks, self.threshold)
        if ended:
            body = PartReader(ahead)
            answer = yield s3_request("PutObject", Key=request.key, Body=body, **described)
            parsed = self._parse("PutObject", answer)
            return self._info(request, body.size, content_type, parsed)
        answer = yield s3_request("CreateMultipartUpload", Key=request.key, **described)
        upload_id = self._read("CreateMultipartUpload", answer, _upload_id)
        try:
            size, parts, number = 0, [], 0
            part_size = _part_size(request, self.part_size)
            # Not enumerate(): it keeps its last tuple, so the previous part would stay in
            # memory while the next one is read.
            for part in _parts(_drain(ahead, chunks), part_size):
                number += 1  # noqa: SIM113 - see above
                if number > MAX_PARTS:
                    raise InvalidRequestError(
                        f"the object needs more than {MAX_PARTS} parts of {part_size} bytes, "
                        "S3's limit; raise options.part_size",
                        maybe_processed=False,
                    )
                body = PartReader(part)
                del part
                size += body.size
                answer = yield s3_request(
                    "UploadPart",
                    Key=request.key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                )
                etag = self._parse("UploadPart", answer).get("ETag")
                parts.append({"ETag": etag, "PartNumber": number})
                del body
            answer = yield s3_request(
                "CompleteMultipartUpload",
                Key=request.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            if is_error_document(answer.body):
                code, _ = error_of(self.requests.model, "CompleteMultipartUpload", answer)
                raise VendorUnavailableError(
                    f"S3 failed to complete the multipart upload after accepting it "
                    f"(Code {code or 'unknown'})",
                    maybe_processed=True,
                )
        except GeneratorExit:
            raise
        except BaseException:
            with contextlib.suppress(Exception):  # the original failure is the one to report
                yield s3_request(
                    "AbortMultipartUpload", Key=request.key, UploadId=upload_id, cleanup=True
                )
            raise
        parsed = self._parse("CompleteMultipartUpload", answer)
        return self._info(request, size, content_type, parsed)

    def _info(
        self, request: PutObject, size: int, content_type: str, parsed: dict[str, Any]
    ) -> ObjectInfo:
        return object_info(
            vendor=self.vendor,
            key=request.key,
            size=size,
            content_type=content_type,
            metadata=request.metadata,
            parsed=parsed,
        )

    # -- the others ----------------------------------------------------------------------------

    def get(self, key: str) -> Flow[bytes]:
        """GetObject, the whole body."""
        answer = yield s3_request("GetObject", Key=key)
        return answer.body

    def exists(self, key: str) -> Flow[bool]:
        """HeadObject: True on 200, False on 404."""
        try:
            yield s3_request("HeadObject", Key=key)
        except ObjectNotFoundError:
            return False
        return True

    def delete(self, key: str) -> Flow[None]:
        """DeleteObject (S3 answers 204 whether the key existed or not)."""
        yield s3_request("DeleteObject", Key=key)

    def list(self, request: ListObjects) -> Flow[ObjectPage]:
        """One ListObjectsV2 page; the cursor is S3's continuation token."""
        params: dict[str, Any] = {
            "Prefix": request.prefix,
            "MaxKeys": request.limit,
            "EncodingType": "url",
        }
        if request.cursor is not None:
            params["ContinuationToken"] = request.cursor
        answer = yield s3_request("ListObjectsV2", **params)
        return self._read("ListObjectsV2", answer, lambda parsed: page(self.vendor, parsed))


def _upload_id(parsed: dict[str, Any]) -> str:
    upload_id = parsed.get("UploadId")
    if not isinstance(upload_id, str) or not upload_id:
        raise UnreadableAnswerError("no UploadId")
    return upload_id


def _one_shot(data: object) -> bool:
    """Whether `data` can be read only once (an iterator, an unseekable file)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return False
    return not _seekable(data)


def _seekable(data: object) -> bool:
    try:
        return bool(getattr(data, "seekable", lambda: False)())
    except (OSError, ValueError):
        return False


def _rewound(request: PutObject, ctx: CallContext) -> Iterator[bytes]:
    """The request's chunks from the start, whichever attempt this is.

    A seekable file is sought back to where the first attempt found it; a one-shot stream
    that an earlier attempt began to read cannot be sent whole again, which is refused
    rather than storing its rest as the object.
    """
    data = request.data
    if not isinstance(data, bytes | bytearray | memoryview):
        if _seekable(data):
            start = ctx.extras.setdefault(_START, data.tell())
            data.seek(start)
        elif ctx.extra(_READ):
            raise InvalidRequestError(
                "the data is a stream an earlier attempt already read from, so it cannot be "
                "sent whole again; pass bytes or a seekable file to let the pipeline retry",
                retryable=False,
                maybe_processed=False,
            )
        else:
            ctx.extras[_READ] = True
    return request.chunks(CHUNK_SIZE)


def _part_size(request: PutObject, part_size: int) -> int:
    """`part_size`, raised for an object of known size that would need too many parts."""
    data = request.data
    size: int | None = None
    if isinstance(data, bytes | bytearray | memoryview):
        size = len(data)
    elif _seekable(data):
        here = data.tell()
        size = data.seek(0, 2) - here
        data.seek(here)
    if size is None:
        return part_size
    return min(max(part_size, math.ceil(size / MAX_PARTS)), MAX_PART)


def _read_ahead(chunks: Iterator[bytes], threshold: int) -> tuple[deque[bytes], bool]:
    """Chunks up to just past `threshold` bytes, and whether that was all of them."""
    ahead: deque[bytes] = deque()
    total = 0
    for chunk in chunks:
        ahead.append(chunk)
        total += len(chunk)
        if total > threshold:
            return ahead, False
    return ahead, True


def _drain(ahead: deque[bytes], rest: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks read ahead, each let go as it is taken, then the rest."""
    while ahead:
        yield ahead.popleft()
    yield from rest


def _parts(chunks: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    """The chunks regrouped into parts of exactly `size` bytes (the last may be smaller),
    as lists of chunks: a part is never copied into one buffer."""
    part: list[bytes] = []
    filled = 0
    for chunk in chunks:
        rest = chunk
        while rest:
            take = min(len(rest), size - filled)
            piece, rest = (rest, b"") if take == len(rest) else (rest[:take], rest[take:])
            part.append(piece)
            filled += len(piece)
            if filled == size:
                yield part
                part, filled = [], 0
    if part:
        yield part
