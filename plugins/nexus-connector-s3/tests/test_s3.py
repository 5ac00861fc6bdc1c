"""The s3 adapters against a real S3 API (moto's server on 127.0.0.1): what the issue asks
to see, and what S3 itself adds (multipart uploads, continuation tokens, presigned URLs,
its error codes)."""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from nexus_connector_s3.testing import LocalS3, S3Double, s3_error

from nexus_connector_core import (
    AuthenticationError,
    ConfigError,
    InvalidRequestError,
    ObjectNotFoundError,
    RateLimitExceededError,
    VendorError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import Fault, FaultServer, ReceivedRequest

from .conftest import MakeManager

MIB = 1024 * 1024
#: The smallest multipart settings S3 allows: parts of 5 MiB, multipart above 5 MiB.
SMALL_PARTS = {"multipart_threshold": 5 * MIB, "part_size": 5 * MIB}
RETRY = {
    "retry": {"max_attempts": 3, "backoff": "fixed", "base": 0.01, "jitter": "none"},
    "circuit_breaker": {"enabled": False},
}


def content(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def chunks(data: bytes, size: int = 100_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def part_upload(number: int) -> Any:
    """A predicate: the request uploads part `number` of a multipart upload."""

    def matches(request: ReceivedRequest) -> bool:
        return request.method == "PUT" and f"partNumber={number}&" in request.path + "&"

    return matches


async def call(manager: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
    result = getattr(manager.connector("files"), operation)(*args, **kwargs)
    return await result if asyncio.iscoroutine(result) else result


@pytest.fixture(params=["sync", "async"])
def async_(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "async")


# -- the must-shows ------------------------------------------------------------------


async def test_pagination_visits_2500_keys_once_each_in_order(
    make_manager: MakeManager, local_s3: LocalS3, bucket: str, async_: bool
) -> None:
    keys = [f"invoices/{i:05d}.pdf" for i in range(2500)]
    local_s3.seed(bucket, dict.fromkeys(keys, b"%PDF"))
    manager = make_manager(async_=async_, direct=True)

    for limit, pages in ((1000, 3), (300, 9)):
        seen: list[str] = []
        cursor, count = None, 0
        while True:
            page = await call(manager, "list", "invoices/", cursor, limit)
            seen += [item.key for item in page.items]
            count += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert (seen, count) == (keys, pages)


async def test_a_presigned_get_and_put_work_with_plain_httpx(
    make_manager: MakeManager, async_: bool
) -> None:
    manager = make_manager(async_=async_)
    await call(manager, "put", "shared/offer.pdf", b"%PDF offer", "application/pdf")

    get_url = await call(manager, "signed_url", "shared/offer.pdf", 300, "GET")
    put_url = await call(manager, "signed_url", "uploads/scan.png", 300, "PUT")
    with httpx.Client() as plain:
        fetched = plain.get(get_url)
        uploaded = plain.put(put_url, content=b"\x89PNG scan")

    assert (fetched.status_code, fetched.content) == (200, b"%PDF offer")
    assert fetched.headers["content-type"] == "application/pdf"
    assert "X-Amz-Signature=" in get_url  # Signature Version 4, not the retired V2
    assert uploaded.status_code == 200
    assert await call(manager, "get", "uploads/scan.png") == b"\x89PNG scan"


async def test_a_presigned_url_with_another_key_id_is_refused(
    make_manager: MakeManager, s3_server: FaultServer, environ: dict[str, str]
) -> None:
    manager = make_manager()
    url = manager.connector("files").signed_url("k", 60)

    forged = url.replace(environ["S3_KEY"], "AKIAFORGEDKEY0000000")
    with httpx.Client() as plain:
        answer = plain.get(forged)

    assert answer.status_code == 403
    assert b"InvalidAccessKeyId" in answer.content


async def test_a_missing_key_is_object_not_found_with_s3s_code(
    make_manager: MakeManager, async_: bool
) -> None:
    manager = make_manager(async_=async_)

    with pytest.raises(ObjectNotFoundError) as caught:
        await call(manager, "get", "no/such/key.txt")

    assert (caught.value.code, caught.value.status_code) == ("NoSuchKey", 404)
    assert caught.value.maybe_processed is False
    assert "S3 answered 404, Code NoSuchKey" in str(caught.value)


async def test_a_multipart_upload_cut_by_a_reset_is_aborted_and_leaves_no_parts(
    make_manager: MakeManager, double: S3Double, local_s3: LocalS3, bucket: str, async_: bool
) -> None:
    double.fail_when(part_upload(2), Fault.reset_after_request())
    manager = make_manager(async_=async_, options=SMALL_PARTS)

    with pytest.raises(VendorUnavailableError):
        await call(manager, "put", "big.bin", chunks(content(12 * MIB)))

    assert local_s3.list_multipart_uploads(bucket) == []
    assert local_s3.objects(bucket) == {}


async def test_a_multipart_upload_cancelled_mid_part_is_aborted(
    make_manager: MakeManager,
    double: S3Double,
    s3_server: FaultServer,
    local_s3: LocalS3,
    bucket: str,
) -> None:
    double.fail_when(part_upload(2), Fault.stall(5.0))
    manager = make_manager(async_=True, options=SMALL_PARTS)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(call(manager, "put", "big.bin", content(11 * MIB)), 1.0)

    assert [r.method for r in s3_server.requests][-1] == "DELETE"  # AbortMultipartUpload
    assert local_s3.list_multipart_uploads(bucket) == []


async def test_a_failed_part_is_retried_by_a_new_upload_and_the_object_is_whole(
    make_manager: MakeManager, double: S3Double, local_s3: LocalS3, bucket: str, async_: bool
) -> None:
    data = content(12 * MIB + 5)
    double.fail_when(part_upload(3), s3_error(500, "InternalError", "Please try again."))
    manager = make_manager(async_=async_, options=SMALL_PARTS, resilience=RETRY)

    info = await call(manager, "put", "big.bin", io.BytesIO(data), "application/zip")

    assert local_s3.objects(bucket) == {"big.bin": data}
    assert local_s3.list_multipart_uploads(bucket) == []
    assert info.size == len(data)
    assert info.etag is not None
    assert info.etag.endswith('-3"')  # S3's ETag of a 3-part upload
    assert local_s3.head(bucket, "big.bin")["ContentType"] == "application/zip"


async def test_a_one_shot_stream_is_not_retried_once_read(
    make_manager: MakeManager, double: S3Double, local_s3: LocalS3, bucket: str, async_: bool
) -> None:
    double.fail_when(lambda r: r.method == "PUT", s3_error(500, "InternalError", "Try again."))
    manager = make_manager(async_=async_, resilience=RETRY)

    with pytest.raises(VendorUnavailableError) as caught:
        await call(manager, "put", "k.txt", chunks(b"abc" * 1000, 7))

    assert caught.value.retryable is False  # a second attempt would store the rest only
    assert local_s3.objects(bucket) == {}


async def test_a_seekable_file_is_sent_whole_again_on_retry(
    make_manager: MakeManager, double: S3Double, local_s3: LocalS3, bucket: str, async_: bool
) -> None:
    double.fail_when(lambda r: r.method == "PUT", Fault.reset_after_request())
    manager = make_manager(async_=async_, resilience=RETRY)
    data = io.BytesIO(b"header|" + b"abc" * 1000)
    data.seek(7)

    await call(manager, "put", "k.txt", data)

    assert local_s3.objects(bucket) == {"k.txt": b"abc" * 1000}


async def test_slow_down_is_a_rate_limit_retried_after_its_wait(
    make_manager: MakeManager, double: S3Double, async_: bool, clock: Any
) -> None:
    double.fail_when(
        lambda r: r.method == "GET",
        s3_error(503, "SlowDown", "Please reduce your request rate.", Retry_After="2"),
    )
    manager = make_manager(async_=async_, resilience=RETRY)
    await call(manager, "put", "k", b"v")

    assert await call(manager, "get", "k") == b"v"
    assert clock.sleeps == [2.0]


async def test_slow_down_unretried_is_a_rate_limit_error_not_processed(
    make_manager: MakeManager, double: S3Double
) -> None:
    double.fail_when(lambda r: True, s3_error(503, "SlowDown", "Please reduce your request rate."))
    manager = make_manager()

    with pytest.raises(RateLimitExceededError) as caught:
        manager.connector("files").put("k", b"v")

    assert caught.value.maybe_processed is False


@pytest.mark.parametrize("code", ["AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"])
async def test_refused_credentials_are_an_authentication_error(
    make_manager: MakeManager, double: S3Double, code: str
) -> None:
    double.fail_when(lambda r: True, s3_error(403, code, "Access Denied"))
    manager = make_manager()

    with pytest.raises(AuthenticationError, match=code):
        manager.connector("files").get("k")


async def test_a_missing_bucket_says_to_check_options_bucket(make_manager: MakeManager) -> None:
    manager = make_manager(options={"bucket": "no-such-bucket-here"})

    with pytest.raises(InvalidRequestError, match=r"NoSuchBucket.*options\.bucket"):
        manager.connector("files").put("k", b"v")


async def test_open_streams_the_object_in_chunks_of_at_most_64_kib(
    make_manager: MakeManager, double: S3Double, async_: bool
) -> None:
    manager = make_manager(async_=async_)
    data = content(3 * MIB)
    await call(manager, "put", "big.bin", data)
    files = manager.connector("files")

    if async_:
        async with files.open("big.bin") as stream:
            received = [chunk async for chunk in stream]
    else:
        with files.open("big.bin") as stream:
            received = list(stream)

    assert b"".join(received) == data
    assert max(len(chunk) for chunk in received) <= 64 * 1024


# -- configuration ---------------------------------------------------------------------------


def test_without_credentials_the_aws_chain_is_used(
    make_manager: MakeManager, connector: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nexus_connector_s3.testing import ACCESS_KEY_ID, SECRET_ACCESS_KEY

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    del connector["credentials"]
    manager = make_manager()

    manager.connector("files").put("k", b"from the chain")

    assert manager.connector("files").get("k") == b"from the chain"


def test_no_credentials_anywhere_is_a_config_error_naming_the_table(
    make_manager: MakeManager, connector: dict[str, Any]
) -> None:
    del connector["credentials"]
    manager = make_manager()

    with pytest.raises(ConfigError, match=r"connectors\.files\.credentials"):
        manager.connector("files").put("k", b"v")


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ({"access_key_id": "env:S3_KEY"}, "both"),
        ({"access_key_id": "env:S3_KEY", "secret_key": "env:S3_SECRET"}, "unknown credential"),
        ({"session_token": "env:S3_SECRET"}, "session_token goes with"),
    ],
)
def test_incomplete_or_misspelt_credentials_are_a_config_error(
    make_manager: MakeManager,
    connector: dict[str, Any],
    credentials: dict[str, str],
    message: str,
) -> None:
    connector["credentials"] = credentials
    manager = make_manager()

    with pytest.raises(ConfigError, match=message):
        manager.connector("files").get("k")


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"bucket": "Bad_Bucket"}, "options"),
        ({"part_size": 1024}, "options.part_size"),
        ({"part_size": 2**70}, "options.part_size"),
        ({"multipart_threshold": -1}, "options.multipart_threshold"),
        ({"timeout": float("inf")}, "options.timeout"),
        ({"timeout": float("nan")}, "options.timeout"),
        ({"endpoint_url": "ftp://example"}, "options"),
        ({"endpoint_url": "http://user:pw@host"}, "options"),
        ({"addressing_style": "dns"}, "options.addressing_style"),
        ({"region": "eu central"}, "options"),
    ],
)
def test_bad_options_are_a_config_error_at_their_key(
    make_manager: MakeManager, options: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError, match=rf"connectors\.files\.{key}"):
        make_manager(options=options)


def test_no_secret_appears_in_an_error(
    make_manager: MakeManager, double: S3Double, environ: dict[str, str]
) -> None:
    secret = environ["S3_SECRET"]
    double.fail_when(lambda r: True, s3_error(403, "SignatureDoesNotMatch", f"echo {secret}"))
    manager = make_manager()

    with pytest.raises(AuthenticationError) as caught:
        manager.connector("files").get("k")

    assert secret not in str(caught.value)
    assert all(secret not in str(arg) for arg in caught.value.args)


def test_each_part_is_let_go_before_the_next_is_read(
    make_manager: MakeManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import weakref

    from nexus_connector_s3 import _requests

    made: list[weakref.ref[Any]] = []
    alive_at_creation: list[int] = []
    original = _requests.PartReader.__init__

    def tracked(self: Any, chunks: Any) -> None:
        original(self, chunks)
        if self.size >= 5 * MIB:
            alive_at_creation.append(sum(ref() is not None for ref in made))
            made.append(weakref.ref(self))

    monkeypatch.setattr(_requests.PartReader, "__init__", tracked)
    manager = make_manager(options=SMALL_PARTS, direct=True)
    gc.disable()  # freed by reference counting alone, not by a lucky collection
    try:
        manager.connector("files").put("big.bin", chunks(content(16 * MIB)))
    finally:
        gc.enable()

    assert alive_at_creation == [0, 0, 0]  # parts 1-3 of 5 MiB (the 4th is smaller)


# -- answers that cannot be read -------------------------------------------------------------


def listed(size: str) -> Fault:
    """A ListObjectsV2 answer listing one object of `size` (S3's text)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        "<Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>"
        "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
        "<Contents><Key>a.txt</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
        f'<ETag>"x"</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>'
        "</ListBucketResult>"
    ).encode()
    return Fault.respond(200, body, {"Content-Type": "application/xml"})


def is_listing(request: ReceivedRequest) -> bool:
    return request.method == "GET" and "list-type=2" in request.path


@pytest.mark.parametrize(
    "answer",
    [
        listed("-5"),
        listed("99999999999999999999999"),
        listed("inf"),
        listed("1.5"),
        Fault.respond(200, b"<ListBucketResult><Contents><Key>a", {"Content-Type": "text/xml"}),
    ],
    ids=["negative", "2**76", "inf", "fractional", "malformed-xml"],
)
async def test_a_listing_s3_could_not_mean_is_an_unreadable_answer(
    make_manager: MakeManager, double: S3Double, answer: Fault, async_: bool
) -> None:
    double.fail_when(is_listing, answer)
    manager = make_manager(async_=async_)

    with pytest.raises(VendorError) as caught:
        await call(manager, "list", "")

    error = caught.value
    assert (type(error), error.code, error.maybe_processed) == (
        VendorError,
        "UnreadableAnswer",
        True,
    )
    assert "ListObjectsV2" in str(error)
    assert "-5" not in str(error)
    assert "99999999999999999999999" not in str(error)
    assert error.__cause__ is None


async def test_a_multipart_upload_s3_started_without_an_upload_id_is_unreadable(
    make_manager: MakeManager, double: S3Double, local_s3: LocalS3, bucket: str
) -> None:
    body = b"<InitiateMultipartUploadResult><Key>big.bin</Key></InitiateMultipartUploadResult>"
    double.fail_when(lambda r: r.method == "POST" and "uploads" in r.path, Fault.respond(200, body))
    manager = make_manager(options=SMALL_PARTS)

    with pytest.raises(VendorError, match="UploadId") as caught:
        await call(manager, "put", "big.bin", content(6 * MIB))

    assert caught.value.maybe_processed is True
    assert local_s3.objects(bucket) == {}
