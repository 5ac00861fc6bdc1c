"""The conformance suite every cloud_storage adapter passes, whichever store it speaks to.

An adapter's tests subclass `CloudStorageAdapterConformance` and provide one fixture,
``harness``, that returns a `CloudStorageHarness`: how to configure a connector for the
adapter over an empty store, and what the adapter can show (signed URLs a plain HTTP client
can use, faults on cue). The suite then stores, reads, streams, lists and deletes objects
through real `ConnectorManager` and `AsyncConnectorManager` pipelines on a `FakeClock`. It
needs pytest and pytest-asyncio.

The rules every storage adapter follows (the memory vendor is the reference):

- What `put` stores, `get` and `open` give back byte for byte, whether it came as bytes, a
  binary file or an iterable of chunks of any size, empty included; `open` streams it as
  byte chunks. `put` answers an `ObjectInfo` with the vendor, the key, the size and the
  store's id (ETag or version); content type (``application/octet-stream`` when none is
  given) and metadata come back as stored wherever the store reports them.
- A missing key is `ObjectNotFoundError` for `get` and `open`, not retried; `exists` says
  False; `delete` of a missing key succeeds, so deleting twice is fine.
- `list` is sorted by key, filtered by prefix, and pages by cursor: following
  ``next_cursor`` from the first page visits every key once, and the last page says None.
- Keys are checked before anything is sent: an absolute key, a ``..`` segment or a NUL is
  a `ValueError`, and the store is left untouched.
- Signed URLs (where the store has them) let a plain HTTP client GET the object or PUT a
  new one; a store without them refuses clearly and the pipeline does not retry.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pytest

from .._cloud_storage import ObjectInfo, ObjectPage
from .._errors import AuthenticationError, ConnectorError, ObjectNotFoundError
from ._adapter_conformance import BACKOFF, AdapterConformance, AdapterHarness, rule

__all__ = ["CloudStorageAdapterConformance", "CloudStorageHarness", "StorageFaultKind"]

#: The ways a store can be told to fail its next answer (`CloudStorageHarness.fail_next`):
#: ``transient`` (a 5xx or a reset: retried, every storage operation is idempotent) and
#: ``auth`` (refused credentials: never retried).
StorageFaultKind = Literal["transient", "auth"]
FAULT_KINDS: tuple[StorageFaultKind, ...] = get_args(StorageFaultKind)

_RESILIENCE: Mapping[str, Any] = {
    "timeout": 30.0,
    "deadline": 120.0,
    "retry": {"max_attempts": 3, "backoff": "fixed", "base": BACKOFF, "jitter": "none"},
    "circuit_breaker": {"enabled": False},
}
_DEFAULT_CONTENT_TYPE = "application/octet-stream"

#: Keys that must round-trip as they are: spaces, punctuation URLs and XML care about,
#: non-ASCII letters, deep folders.
ODD_KEYS: Mapping[str, str] = {
    "spaces-and-parentheses": "invoices/2026/Rechnung Nr. 42 (Kopie).pdf",
    "url-characters": "a+b=c&d;e,f@g$h'i!j~k.txt",
    "percent": "100% done/50%20off.txt",
    "unicode": "reports/Zürich—東京 📦.csv",
    "deep": "a/b/c/d/e/f/g/h.bin",
    "leading-dot-file": ".well-known/security.txt",
}

#: Keys every store refuses before sending anything.
BAD_KEYS: Mapping[str, str] = {
    "absolute": "/etc/passwd",
    "parent-segment": "invoices/../../etc/passwd",
    "leading-parent": "../outside",
    "only-parent": "..",
    "nul": "invoice\x00.pdf",
    "empty": "",
}


@dataclass(frozen=True, kw_only=True)
class CloudStorageHarness(AdapterHarness):
    """One storage adapter under test, over an empty store, as the suite drives it (with
    the attributes of every `AdapterHarness`: ``connector``, ``registry``, ``environ``,
    ``on_manager``, ``transport``).

    A fresh harness (and an empty store) per test is expected: a function-scoped fixture.

    Attributes:
        signed_urls: what `signed_url` gives: ``"http"`` (URLs a plain HTTP client uses:
            the suite GETs and PUTs through them with httpx), ``"opaque"`` (a URL only the
            store's own server understands: the suite checks its shape) or ``"none"`` (the
            store cannot sign: the call must fail with a `ConnectorError`, not retried).
        signed_methods: the methods `signed_url` signs when `signed_urls` is not
            ``"none"``; the others must be refused like a store without signed URLs.
        fail_next: makes the store's next answer a failure of that `StorageFaultKind`;
            None skips the fault tests.
        faults: the kinds `fail_next` can do.
    """

    signed_urls: Literal["http", "opaque", "none"] = "opaque"
    signed_methods: frozenset[str] = frozenset({"GET", "PUT"})
    fail_next: Callable[[StorageFaultKind], None] | None = None
    faults: frozenset[StorageFaultKind] = frozenset(FAULT_KINDS)

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {list(FAULT_KINDS)}")


def _chunks_of(data: bytes, *sizes: int) -> Iterator[bytes]:
    """`data` cut in chunks of the given sizes, cycling, so chunk edges fall anywhere."""
    start, index = 0, 0
    while start < len(data):
        size = sizes[index % len(sizes)]
        yield data[start : start + size]
        start, index = start + size, index + 1


def _content(size: int, seed: int = 7) -> bytes:
    """`size` bytes that differ at every offset, so a shifted or repeated chunk shows."""
    return bytes((i * 31 + seed + (i >> 8)) & 0xFF for i in range(size))


class CloudStorageAdapterConformance(AdapterConformance[CloudStorageHarness]):
    """The behaviour every cloud_storage adapter must show: subclass it, provide ``harness``.

    Every test runs twice, through a `ConnectorManager` and an `AsyncConnectorManager`
    (ids ``[sync]`` and ``[async]``), on a connector named ``files`` whose retry policy is
    3 attempts with a fixed, negligible backoff, on a `FakeClock`::

        import pytest
        from nexus_connector_core.testing import (
            CloudStorageAdapterConformance, CloudStorageHarness)

        class TestS3Conformance(CloudStorageAdapterConformance):
            @pytest.fixture
            def harness(self, s3_double, registry):
                bucket = s3_double.create_bucket()
                return CloudStorageHarness(
                    registry=registry,
                    connector={"vendor": "s3", "options": {"bucket": bucket, ...}},
                    signed_urls="http",
                    fail_next=s3_double.fail_next,
                    transport=TransportFaults.over_http(s3_server, option="endpoint_url"),
                )

    To record a known deviation of your adapter, override that test in your subclass,
    decorate it with ``@pytest.mark.xfail(strict=True, reason=...)`` and call ``super()``.
    """

    category = "cloud_storage"
    connector_name = "files"
    resilience = _RESILIENCE

    @property
    def files(self) -> Any:
        """The connector under test (a `CloudStorageConnector` or its async twin)."""
        return self.under_test

    async def write_call(self) -> tuple[str, tuple[Any, ...]]:
        return "put", ("transport/fault.txt", b"written once or twice, the same")

    async def read_call(self) -> tuple[str, tuple[Any, ...]]:
        await self.put("transport/read.txt", b"read again")
        return "get", ("transport/read.txt",)

    # -- helpers ---------------------------------------------------------------------------

    async def put(self, key: str, data: Any, **kwargs: Any) -> ObjectInfo:
        info: ObjectInfo = await self.call("put", key, data, **kwargs)
        return info

    async def get(self, key: str) -> bytes:
        content: bytes = await self.call("get", key)
        return content

    async def read_stream(self, key: str) -> list[bytes]:
        """The chunks `open` streams for `key`."""
        if self.is_async:
            async with self.files.open(key) as stream:
                return [chunk async for chunk in stream]
        with self.files.open(key) as stream:
            return list(stream)

    async def all_keys(self, prefix: str = "", limit: int = 1000) -> list[list[str]]:
        """Every page of the listing of `prefix`, following the cursor, as lists of keys."""
        pages: list[list[str]] = []
        cursor = None
        while True:
            page: ObjectPage = await self.call("list", prefix, cursor, limit)
            pages.append([item.key for item in page.items])
            if page.next_cursor is None:
                return pages
            assert len(pages) < 100, "the listing never ends"
            cursor = page.next_cursor

    def fail_next(self, kind: StorageFaultKind) -> None:
        """Make the store's next answer fail as `kind`, or skip the test if it cannot."""
        if self._harness.fail_next is None or kind not in self._harness.faults:
            pytest.skip(f"the harness cannot make the store fail with {kind!r}")
        self._harness.fail_next(kind)

    # -- round trips ------------------------------------------------------------------------

    @rule("storage-objects")
    async def test_bytes_round_trip_and_put_describes_the_object(self) -> None:
        data = _content(1000)

        info = await self.put("invoices/0042.pdf", data)

        assert await self.get("invoices/0042.pdf") == data
        assert (info.vendor, info.key, info.size) == (self.vendor, "invoices/0042.pdf", 1000)
        assert isinstance(info.vendor_id, str)
        assert info.vendor_id

    @rule("storage-objects")
    async def test_a_binary_file_round_trips(self) -> None:
        data = _content(200_000)

        await self.put("report.bin", io.BytesIO(data))

        assert await self.get("report.bin") == data

    @rule("storage-objects")
    async def test_chunks_of_any_size_round_trip(self) -> None:
        data = _content(150_001)

        info = await self.put("chunks.bin", _chunks_of(data, 1, 65_536, 7, 30_000))

        assert await self.get("chunks.bin") == data
        assert info.size == len(data)

    @rule("storage-objects")
    async def test_an_empty_object_round_trips(self) -> None:
        info = await self.put("empty", b"")

        assert await self.get("empty") == b""
        assert await self.read_stream("empty") in ([], [b""])
        assert info.size == 0

    @rule("storage-objects")
    async def test_open_streams_the_content_in_byte_chunks(self) -> None:
        data = _content(300_000)
        await self.put("big.bin", data)

        chunks = await self.read_stream("big.bin")

        assert b"".join(chunks) == data
        assert len(chunks) > 1  # streamed, not handed over whole
        assert all(isinstance(chunk, bytes) for chunk in chunks)

    @rule("storage-objects")
    async def test_a_put_replaces_the_object(self) -> None:
        await self.put("k.txt", b"first version, longer than the second")
        await self.put("k.txt", b"second", content_type="text/plain")

        assert await self.get("k.txt") == b"second"
        [page] = await self.all_keys()
        assert page == ["k.txt"]

    @rule("exact")
    @pytest.mark.parametrize("key", list(ODD_KEYS.values()), ids=list(ODD_KEYS))
    async def test_keys_with_spaces_punctuation_and_unicode_round_trip(self, key: str) -> None:
        await self.put(key, key.encode())

        assert await self.get(key) == key.encode()
        assert await self.call("exists", key)
        [page] = await self.all_keys()
        assert page == [key]

    # -- content type and metadata -----------------------------------------------------------

    @rule("storage-objects")
    async def test_content_type_and_metadata_are_kept(self) -> None:
        metadata = {"invoice-id": "2026-0042", "customer_ref": "C 17"}

        info = await self.put(
            "a.csv", b"1,2\n", content_type="text/csv; charset=utf-8", metadata=metadata
        )

        assert (info.content_type, dict(info.metadata)) == ("text/csv; charset=utf-8", metadata)
        page = await self.call("list", "a.csv")
        [item] = page.items
        assert item.content_type in (None, "text/csv; charset=utf-8")
        assert dict(item.metadata) in ({}, metadata)

    @rule("storage-objects")
    async def test_the_content_type_defaults_to_octet_stream(self) -> None:
        info = await self.put("blob", b"\x00\x01")

        assert info.content_type == _DEFAULT_CONTENT_TYPE
        [item] = (await self.call("list", "blob")).items
        assert item.content_type in (None, _DEFAULT_CONTENT_TYPE)

    # -- missing keys, exists, delete --------------------------------------------------------

    @rule("not-found")
    async def test_get_of_a_missing_key_is_object_not_found_and_not_retried(self) -> None:
        with pytest.raises(ObjectNotFoundError) as caught:
            await self.get("missing/key.txt")

        assert (caught.value.connector, caught.value.operation) == ("files", "get")
        assert self.clock.sleeps == []

    @rule("not-found")
    async def test_open_of_a_missing_key_is_object_not_found(self) -> None:
        with pytest.raises(ObjectNotFoundError):
            await self.read_stream("missing/key.txt")

        assert self.clock.sleeps == []

    @rule("storage-objects")
    async def test_exists_follows_put_and_delete(self) -> None:
        assert not await self.call("exists", "x/y.txt")

        await self.put("x/y.txt", b"y")
        assert await self.call("exists", "x/y.txt")
        assert not await self.call("exists", "x")  # a prefix is not an object

        await self.call("delete", "x/y.txt")
        assert not await self.call("exists", "x/y.txt")
        with pytest.raises(ObjectNotFoundError):
            await self.get("x/y.txt")

    @rule("storage-objects")
    async def test_deleting_is_idempotent(self) -> None:
        await self.put("once.txt", b"1")

        await self.call("delete", "once.txt")
        await self.call("delete", "once.txt")
        await self.call("delete", "never/stored.txt")

        assert await self.all_keys() == [[]]

    # -- listing -------------------------------------------------------------------------------

    @rule("storage-listing")
    async def test_list_is_sorted_by_key_and_pages_by_cursor(self) -> None:
        keys = ["b/2", "a/1", "c", "a/3", "b/1", "a/2", "d/e/f"]
        for key in keys:
            await self.put(key, key.encode())

        pages = await self.all_keys(limit=3)

        assert pages == [["a/1", "a/2", "a/3"], ["b/1", "b/2", "c"], ["d/e/f"]]

    @rule("storage-listing")
    async def test_list_items_describe_the_objects(self) -> None:
        await self.put("sized.bin", _content(1234))

        [item] = (await self.call("list")).items

        assert (item.vendor, item.key, item.size) == (self.vendor, "sized.bin", 1234)
        assert item.vendor_id

    @rule("storage-listing")
    async def test_list_filters_by_prefix(self) -> None:
        for key in ("inv/2025/1", "inv/2026/1", "inv/2026/2", "invoices", "other/inv/1"):
            await self.put(key, b".")

        assert await self.all_keys("inv/2026/") == [["inv/2026/1", "inv/2026/2"]]
        assert await self.all_keys("inv") == [
            ["inv/2025/1", "inv/2026/1", "inv/2026/2", "invoices"]
        ]
        assert await self.all_keys("nothing/") == [[]]

    @rule("storage-listing")
    async def test_a_page_exactly_full_may_be_followed_by_an_empty_last_page(self) -> None:
        for key in ("1", "2"):
            await self.put(key, b".")

        pages = await self.all_keys(limit=2)

        assert pages in ([["1", "2"]], [["1", "2"], []])

    # -- key validation --------------------------------------------------------------------

    @rule("storage-keys")
    @pytest.mark.parametrize("key", list(BAD_KEYS.values()), ids=list(BAD_KEYS))
    async def test_keys_that_could_escape_the_store_are_refused_before_sending(
        self, key: str
    ) -> None:
        calls: list[Callable[[], Any]] = [
            lambda: self.put(key, b"x"),
            lambda: self.get(key),
            lambda: self.call("exists", key),
            lambda: self.call("delete", key),
            lambda: self.call("signed_url", key),
            lambda: self.read_stream(key),
        ]
        for call in calls:
            with pytest.raises(ValueError, match="key"):
                await call()

        assert await self.all_keys() == [[]]

    @rule("storage-keys")
    @pytest.mark.parametrize("prefix", ["/etc", "../", "a/../b", "a\x00"])
    async def test_listing_prefixes_that_could_escape_the_store_are_refused(
        self, prefix: str
    ) -> None:
        with pytest.raises(ValueError, match="prefix"):
            await self.call("list", prefix)

    # -- signed URLs -------------------------------------------------------------------------

    @rule("storage-signed-urls")
    async def test_a_signed_get_url_serves_the_object(self) -> None:
        await self.put("shared/report.pdf", b"%PDF-1.7 report")

        url = await self._signed_url_or_refusal("shared/report.pdf", "GET")

        if self._harness.signed_urls == "http":
            import httpx

            async with httpx.AsyncClient() as client:
                answer = await client.get(url)
            assert (answer.status_code, answer.content) == (200, b"%PDF-1.7 report")

    @rule("storage-signed-urls")
    async def test_a_signed_put_url_stores_what_a_plain_client_uploads(self) -> None:
        url = await self._signed_url_or_refusal("uploads/new.txt", "PUT")

        if self._harness.signed_urls == "http":
            import httpx

            async with httpx.AsyncClient() as client:
                answer = await client.put(url, content=b"uploaded by a browser")
            assert answer.status_code in (200, 201, 204), answer.text
            assert await self.get("uploads/new.txt") == b"uploaded by a browser"

    async def _signed_url_or_refusal(self, key: str, method: str) -> str:
        signs = self._harness.signed_methods if self._harness.signed_urls != "none" else set()
        if method not in signs:
            with pytest.raises(ConnectorError) as caught:
                await self.call("signed_url", key, 600, method)
            assert not caught.value.retryable
            assert self.clock.sleeps == []
            pytest.skip(f"the {self.vendor} store cannot sign {method} URLs, and says so")
        url: str = await self.call("signed_url", key, 600, method)
        assert isinstance(url, str)
        assert "://" in url
        other_method = "PUT" if method == "GET" else "GET"
        if other_method in signs:
            other: str = await self.call("signed_url", key, 600, other_method)
            assert url != other  # the method is part of what is signed
        return url

    # -- faults ----------------------------------------------------------------------------

    @rule("retry-reads")
    async def test_a_transient_failure_is_retried_as_storage_operations_are_idempotent(
        self,
    ) -> None:
        await self.put("r.txt", b"retried")
        self.fail_next("transient")

        assert await self.get("r.txt") == b"retried"
        assert self.clock.sleeps == [BACKOFF]

    @rule("auth")
    async def test_refused_credentials_are_an_authentication_error_not_retried(self) -> None:
        self.fail_next("auth")

        with pytest.raises(AuthenticationError):
            await self.put("denied.txt", b"x")

        assert self.clock.sleeps == []
