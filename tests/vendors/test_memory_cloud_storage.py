"""The memory cloud_storage vendor: an S3-like object store in a dict."""

from __future__ import annotations

import hashlib
import io
import re
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from nexus_connector_core._adapters import AdapterSettings
from nexus_connector_core._cloud_storage import (
    CLOUD_STORAGE,
    AsyncCloudStorageAdapter,
    CloudStorageAdapter,
    ListObjects,
    ObjectKey,
    PutObject,
    SignedUrlRequest,
)
from nexus_connector_core._context import CallContext
from nexus_connector_core._errors import (
    ObjectNotFoundError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.vendors.memory import (
    AsyncMemoryCloudStorageAdapter,
    MemoryCloudStorageAdapter,
    MemoryOptions,
)

KIB = 1024


def settings(**options: Any) -> AdapterSettings:
    return AdapterSettings(
        connector="files",
        category="cloud_storage",
        vendor="memory",
        options=MemoryOptions(**options),
    )


def context(clock: FakeClock, operation: str = "put", **kwargs: Any) -> CallContext:
    return CallContext("files", "memory", CLOUD_STORAGE.operation(operation), clock, **kwargs)


@pytest.fixture
def store() -> MemoryCloudStorageAdapter:
    return MemoryCloudStorageAdapter(settings())


def put(store: MemoryCloudStorageAdapter, clock: FakeClock, *keys: str) -> None:
    for key in keys:
        store.put(PutObject(key=key, data=key.encode()), context(clock))


def test_the_adapters_implement_the_cloud_storage_protocols() -> None:
    assert isinstance(MemoryCloudStorageAdapter(settings()), CloudStorageAdapter)
    assert isinstance(AsyncMemoryCloudStorageAdapter(settings()), AsyncCloudStorageAdapter)


# --- put and get ----------------------------------------------------------------------------------


def test_put_then_get_returns_the_content(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    store.put(PutObject(key="invoices/1.pdf", data=b"%PDF-1.7"), context(clock))

    assert store.get(ObjectKey("invoices/1.pdf"), context(clock, "get")) == b"%PDF-1.7"


def test_put_describes_the_object_like_s3(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    info = store.put(
        PutObject(key="a.txt", data=b"hello", content_type="text/plain", metadata={"k": "v"}),
        context(clock),
    )

    assert info.vendor == "memory"
    assert info.etag == '"5d41402abc4b2a76b9719d911017c592"'  # md5("hello"), quoted
    assert info.vendor_id == info.etag
    assert (info.key, info.size, info.content_type) == ("a.txt", 5, "text/plain")
    assert info.metadata == {"k": "v"}
    assert info.last_modified == datetime.fromtimestamp(clock.time(), UTC)
    assert info.raw["ETag"] == info.etag


def test_put_without_content_type_stores_octet_stream(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    info = store.put(PutObject(key="blob", data=b"\x00"), context(clock))

    assert info.content_type == "application/octet-stream"


def test_put_reads_chunks_from_an_iterable(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    info = store.put(PutObject(key="k", data=iter([b"ab", b"cd"])), context(clock))

    assert info.size == 4
    assert store.get(ObjectKey("k"), context(clock)) == b"abcd"


def test_put_reads_a_binary_file(store: MemoryCloudStorageAdapter, clock: FakeClock) -> None:
    content = bytes(range(256)) * 1000

    info = store.put(PutObject(key="k", data=io.BytesIO(content)), context(clock))

    assert info.etag == f'"{hashlib.md5(content).hexdigest()}"'
    assert store.get(ObjectKey("k"), context(clock)) == content


def test_put_replaces_an_object(store: MemoryCloudStorageAdapter, clock: FakeClock) -> None:
    store.put(PutObject(key="k", data=b"old"), context(clock))
    store.put(PutObject(key="k", data=b"new"), context(clock))

    assert store.get(ObjectKey("k"), context(clock)) == b"new"


def test_get_of_a_missing_key_raises_object_not_found(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        store.get(ObjectKey("nope"), context(clock, "get"))

    assert (caught.value.code, caught.value.status_code) == ("NoSuchKey", 404)


# --- open -----------------------------------------------------------------------------------------


def test_open_streams_the_content_in_64_kib_chunks(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    content = b"x" * (150 * KIB)
    store.put(PutObject(key="big", data=content), context(clock))

    with store.open(ObjectKey("big"), context(clock, "open")) as chunks:
        received = list(chunks)

    assert [len(c) for c in received] == [64 * KIB, 64 * KIB, 22 * KIB]
    assert b"".join(received) == content


def test_open_of_a_missing_key_fails_when_called(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    with pytest.raises(ObjectNotFoundError):
        store.open(ObjectKey("nope"), context(clock, "open"))


def test_an_open_stream_keeps_the_content_it_was_opened_with(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    store.put(PutObject(key="k", data=b"first"), context(clock))

    with store.open(ObjectKey("k"), context(clock, "open")) as chunks:
        store.put(PutObject(key="k", data=b"second"), context(clock))
        received = b"".join(chunks)

    assert received == b"first"


# --- delete, exists -------------------------------------------------------------------------------


def test_delete_removes_the_object(store: MemoryCloudStorageAdapter, clock: FakeClock) -> None:
    put(store, clock, "k")

    store.delete(ObjectKey("k"), context(clock, "delete"))

    assert not store.exists(ObjectKey("k"), context(clock, "exists"))


def test_delete_of_a_missing_key_is_fine(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    store.delete(ObjectKey("never-there"), context(clock, "delete"))

    assert store.calls == [("delete", ObjectKey("never-there"))]


def test_exists_says_whether_a_key_is_stored(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    put(store, clock, "k")

    assert store.exists(ObjectKey("k"), context(clock, "exists"))
    assert not store.exists(ObjectKey("other"), context(clock, "exists"))


# --- list -----------------------------------------------------------------------------------------


def test_list_returns_the_objects_under_a_prefix_sorted_by_key(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    put(store, clock, "b/2", "a/1", "b/1", "c")

    page = store.list(ListObjects(prefix="b/"), context(clock, "list"))

    assert [item.key for item in page.items] == ["b/1", "b/2"]
    assert page.next_cursor is None
    assert page.raw["KeyCount"] == 2


def test_list_pages_with_limit_and_cursor_until_the_last_page(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    put(store, clock, "e", "d", "c", "b", "a")

    first = store.list(ListObjects(limit=2), context(clock, "list"))
    second = store.list(ListObjects(limit=2, cursor=first.next_cursor), context(clock))
    last = store.list(ListObjects(limit=2, cursor=second.next_cursor), context(clock))

    assert [[i.key for i in p.items] for p in (first, second, last)] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],
    ]
    assert last.next_cursor is None


def test_list_of_exactly_one_full_page_has_no_next_cursor(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    put(store, clock, "a", "b")

    page = store.list(ListObjects(limit=2), context(clock, "list"))

    assert page.next_cursor is None


# --- signed URLs ----------------------------------------------------------------------------------


def test_signed_url_names_the_object_method_and_expiry_and_is_signed(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    url = store.signed_url(
        SignedUrlRequest(key="reports/q1 2026.pdf", expires_in=600), context(clock, "signed_url")
    )

    expires = int(clock.time()) + 600
    pattern = rf"memory://files/reports/q1%202026\.pdf\?method=GET&expires={expires}&signature=[0-9a-f]{{64}}"
    assert re.fullmatch(pattern, url)


def test_signed_urls_for_get_and_put_carry_different_signatures(
    store: MemoryCloudStorageAdapter, clock: FakeClock
) -> None:
    get_url = store.signed_url(SignedUrlRequest(key="k", method="GET"), context(clock))
    put_url = store.signed_url(SignedUrlRequest(key="k", method="PUT"), context(clock))

    assert get_url.rsplit("signature=", 1)[1] != put_url.rsplit("signature=", 1)[1]


# --- misbehaving on request -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "request_"),
    [
        ("put", PutObject(key="k", data=b"x")),
        ("get", ObjectKey("k")),
        ("open", ObjectKey("k")),
        ("delete", ObjectKey("k")),
        ("exists", ObjectKey("k")),
        ("list", ListObjects()),
        ("signed_url", SignedUrlRequest(key="k")),
    ],
)
def test_fail_first_applies_to_every_operation(
    clock: FakeClock, operation: str, request_: object
) -> None:
    store = MemoryCloudStorageAdapter(settings(fail_first=1))

    with pytest.raises(VendorUnavailableError):
        getattr(store, operation)(request_, context(clock, operation))

    assert store.calls == [(operation, request_)]


def test_latency_beyond_the_timeout_raises_vendor_timeout_and_stores_nothing(
    clock: FakeClock,
) -> None:
    store = MemoryCloudStorageAdapter(settings(latency=4.0))

    with pytest.raises(VendorTimeoutError):
        store.put(PutObject(key="k", data=b"x"), context(clock, timeout=1.0))

    assert clock.sleeps == [1.0]
    assert not store.exists(ObjectKey("k"), context(clock))


# --- the async twin -------------------------------------------------------------------------------


async def test_async_put_get_exists_delete(clock: FakeClock) -> None:
    store = AsyncMemoryCloudStorageAdapter(settings())

    await store.put(PutObject(key="k", data=b"hello"), context(clock))
    content = await store.get(ObjectKey("k"), context(clock))
    await store.delete(ObjectKey("k"), context(clock))

    assert content == b"hello"
    assert not await store.exists(ObjectKey("k"), context(clock))
    assert [op for op, _ in store.calls] == ["put", "get", "delete", "exists"]


async def test_async_open_streams_chunks_through_an_async_context_manager(
    clock: FakeClock,
) -> None:
    store = AsyncMemoryCloudStorageAdapter(settings())
    await store.put(PutObject(key="big", data=b"y" * (100 * KIB)), context(clock))

    async with await store.open(ObjectKey("big"), context(clock)) as chunks:
        sizes = [len(chunk) async for chunk in chunks]

    assert sizes == [64 * KIB, 36 * KIB]


async def test_async_open_of_a_missing_key_raises_object_not_found(clock: FakeClock) -> None:
    store = AsyncMemoryCloudStorageAdapter(settings())

    with pytest.raises(ObjectNotFoundError):
        await store.open(ObjectKey("nope"), context(clock))


async def test_async_list_and_signed_url(clock: FakeClock) -> None:
    store = AsyncMemoryCloudStorageAdapter(settings())
    for key in ("x/2", "x/1", "y"):
        await store.put(PutObject(key=key, data=b"."), context(clock))

    page = await store.list(ListObjects(prefix="x/", limit=1), context(clock))
    url = await store.signed_url(SignedUrlRequest(key="y"), context(clock))

    assert ([i.key for i in page.items], page.next_cursor) == (["x/1"], "x/1")
    assert url.startswith("memory://files/y?method=GET&expires=")


async def test_async_latency_waits_on_the_clock(clock: FakeClock) -> None:
    store = AsyncMemoryCloudStorageAdapter(settings(latency=0.75))

    await store.exists(ObjectKey("k"), context(clock))

    assert clock.sleeps == [0.75]


# --- threads --------------------------------------------------------------------------------------


def test_one_adapter_serves_eight_threads_without_losing_an_object(clock: FakeClock) -> None:
    store = MemoryCloudStorageAdapter(settings())

    def put_fifty(thread: int) -> None:
        for i in range(50):
            store.put(PutObject(key=f"t{thread}/{i:02d}", data=b"x"), context(clock))

    threads = [threading.Thread(target=put_fifty, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first = store.list(ListObjects(limit=1000), context(clock, "list"))
    assert len({item.key for item in first.items}) == 400
    assert len(store.calls) == 401
