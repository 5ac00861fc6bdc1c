"""S3's answers: its error codes (the code table) and the reading of its XML, by botocore.

S3 answers errors as ``<Error><Code>NoSuchKey</Code><Message>...</Message></Error>`` (a
HEAD answer has no body: its status says it); botocore's REST-XML parser reads both, and
every answer, into the same dicts boto3 users know (``ETag``, ``Contents``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from botocore import parsers
from botocore.awsrequest import HeadersDict

from nexus_connector_core import (
    AuthenticationError,
    InvalidRequestError,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectPage,
    RateLimitExceededError,
    VendorError,
    VendorUnavailableError,
)
from nexus_connector_core.http import ErrorKind, ErrorTable

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "ERRORS",
    "Answer",
    "UnreadableAnswerError",
    "object_info",
    "page",
    "parse",
    "unreadable",
]

#: What a put without a content type stores (S3's own default is binary/octet-stream; the
#: other stores say application/octet-stream, and so does this adapter, explicitly).
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_AUTH = ErrorKind(AuthenticationError, "check the credentials and the bucket's policy")
_REGION = ErrorKind(InvalidRequestError, "check options.region and options.endpoint_url")

#: S3's error codes (docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html), and
#: what they mean here. Codes not listed follow their status.
ERRORS: ErrorTable = {
    "NoSuchKey": ErrorKind(ObjectNotFoundError),
    "NoSuchBucket": ErrorKind(InvalidRequestError, "check options.bucket"),
    "NoSuchUpload": ErrorKind(VendorError, "the multipart upload was aborted or completed"),
    "AccessDenied": _AUTH,
    "AllAccessDisabled": _AUTH,
    "AccountProblem": _AUTH,
    "InvalidAccessKeyId": _AUTH,
    "SignatureDoesNotMatch": _AUTH,
    "ExpiredToken": _AUTH,
    "InvalidToken": _AUTH,
    "TokenRefreshRequired": _AUTH,
    "RequestTimeTooSkewed": ErrorKind(AuthenticationError, "the machine's clock is off"),
    "AuthorizationHeaderMalformed": _REGION,
    "PermanentRedirect": _REGION,
    "IllegalLocationConstraintException": _REGION,
    "SlowDown": ErrorKind(RateLimitExceededError, "S3 asks to slow down", maybe_processed=False),
    "ServiceUnavailable": ErrorKind(VendorUnavailableError),
    "InternalError": ErrorKind(VendorUnavailableError),
    "RequestTimeout": ErrorKind(
        VendorUnavailableError, "S3 gave up waiting for the body", maybe_processed=False
    ),
    "EntityTooLarge": ErrorKind(InvalidRequestError, "lower options.part_size"),
    "EntityTooSmall": ErrorKind(InvalidRequestError, "parts must be at least 5 MiB"),
    "InvalidPart": ErrorKind(InvalidRequestError),
    "InvalidPartOrder": ErrorKind(InvalidRequestError),
    "KeyTooLongError": ErrorKind(InvalidRequestError, "keys are at most 1024 bytes"),
    "MetadataTooLarge": ErrorKind(InvalidRequestError, "user metadata is at most 2 KB"),
    "InvalidBucketName": ErrorKind(InvalidRequestError, "check options.bucket"),
    "InvalidArgument": ErrorKind(InvalidRequestError),
    "InvalidRequest": ErrorKind(InvalidRequestError),
    "MalformedXML": ErrorKind(InvalidRequestError),
}

_PARSER = parsers.create_parser("rest-xml")
#: The largest size a listed object may have: what a signed 64-bit count holds.
_MAX_SIZE = 2**63 - 1


class UnreadableAnswerError(ValueError):
    """An answer no S3 gives, as a reader here finds it: the message names the field, never
    its value."""


def unreadable(operation: str, exc: Exception) -> VendorError:
    """The error for a 2xx answer to `operation` that cannot be read (`exc`, raised while
    reading it): S3 said yes, and may have acted. botocore's parser errors quote the body,
    so only their class is named."""
    what = str(exc) if isinstance(exc, UnreadableAnswerError) else type(exc).__name__
    return VendorError(
        f"S3 answered {operation} with a body that cannot be read ({what}); it may have acted",
        code="UnreadableAnswer",
        maybe_processed=True,
    )


class Answer:
    """One answer of S3, read whole: status, headers (case-insensitive), body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = HeadersDict(headers)
        self.body = body


def parse(model: Any, operation: str, answer: Answer) -> dict[str, Any]:
    """The answer to `operation` as botocore reads it (an ``Error`` entry for a status of
    300 or more); the streaming body of GetObject is left out."""
    operation_model = model.operation_model(operation)
    body = b"" if operation_model.has_streaming_output and answer.status < 300 else answer.body
    response = {
        "headers": answer.headers,
        "status_code": answer.status,
        "body": body,
        "context": {"operation_name": operation},
    }
    parsed: dict[str, Any] = _PARSER.parse(response, operation_model.output_shape)
    parsed.pop("ResponseMetadata", None)
    parsed.pop("Body", None)
    return parsed


def error_of(model: Any, operation: str, answer: Answer) -> tuple[str | None, str | None]:
    """S3's error code and message in an error answer."""
    error = parse(model, operation, answer).get("Error", {})
    code, message = error.get("Code"), error.get("Message")
    return (code if isinstance(code, str) else None, message if isinstance(message, str) else None)


def is_error_document(body: bytes) -> bool:
    """Whether a 200 answer is an error in disguise: S3 may answer CompleteMultipartUpload
    with 200 and then fail it in the body."""
    head = body.lstrip()[:200]
    return (head.startswith(b"<?xml") and b"<Error>" in head) or head.startswith(b"<Error>")


def _etag(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def object_info(
    *,
    vendor: str,
    key: str,
    size: int,
    content_type: str,
    metadata: Mapping[str, str],
    parsed: dict[str, Any],
) -> ObjectInfo:
    """What a put stored, from what was sent and S3's answer (ETag, version)."""
    etag = _etag(parsed.get("ETag"))
    version = parsed.get("VersionId")
    return ObjectInfo(
        vendor=vendor,
        vendor_id=version if isinstance(version, str) and version else (etag or key),
        key=key,
        size=size,
        etag=etag,
        content_type=content_type,
        metadata=dict(metadata),
        raw=parsed,
    )


def page(vendor: str, parsed: dict[str, Any]) -> ObjectPage:
    """One ListObjectsV2 page: its objects (keys URL-decoded) and the next cursor.

    An object listed without a key, or with a size that is no count of bytes (negative,
    beyond 2**63 - 1), is an `UnreadableAnswerError`.
    """
    encoded = parsed.get("EncodingType") == "url"
    items = []
    for entry in parsed.get("Contents", []):
        key = entry.get("Key")
        if not isinstance(key, str) or not key:
            raise UnreadableAnswerError("an object listed has no Key")
        key = unquote_plus(key) if encoded else key
        entry["Key"] = key
        size = entry.get("Size", 0)
        if type(size) is not int or not 0 <= size <= _MAX_SIZE:
            raise UnreadableAnswerError("the Size of an object listed is not a count of bytes")
        modified = entry.get("LastModified")
        etag = _etag(entry.get("ETag"))
        items.append(
            ObjectInfo(
                vendor=vendor,
                vendor_id=etag or key,
                key=key,
                size=size,
                etag=etag,
                last_modified=modified if isinstance(modified, datetime) else None,
                raw=entry,
            )
        )
    token = parsed.get("NextContinuationToken")
    more = parsed.get("IsTruncated") is True and isinstance(token, str) and token
    return ObjectPage(vendor=vendor, items=items, next_cursor=token if more else None, raw=parsed)
