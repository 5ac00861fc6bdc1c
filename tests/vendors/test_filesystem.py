"""The filesystem cloud_storage vendor: objects as files under a folder, written atomically."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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
from nexus_connector_core._errors import ConfigError, InvalidRequestError, ObjectNotFoundError
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.vendors.filesystem import (
    AsyncFilesystemStorageAdapter,
    FilesystemOptions,
    FilesystemStorageAdapter,
)

KIB = 1024


def settings(options: Any) -> AdapterSettings:
    return AdapterSettings(
        connector="files", category="cloud_storage", vendor="filesystem", options=options
    )


def context(clock: FakeClock | None = None, operation: str = "put") -> CallContext:
    return CallContext(
        "files", "filesystem", CLOUD_STORAGE.operation(operation), clock or FakeClock()
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def store(root: Path) -> FilesystemStorageAdapter:
    return FilesystemStorageAdapter(
        settings(FilesystemOptions(root=str(root), signing_key="s3cr3t"))
    )


def put(store: FilesystemStorageAdapter, key: str, data: Any = b"x", **kwargs: Any) -> None:
    store.put(PutObject(key=key, data=data, **kwargs), context())


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_the_adapters_implement_the_cloud_storage_protocols(root: Path) -> None:
    options = FilesystemOptions(root=str(root))
    assert isinstance(FilesystemStorageAdapter(settings(options)), CloudStorageAdapter)
    assert isinstance(AsyncFilesystemStorageAdapter(settings(options)), AsyncCloudStorageAdapter)


# --- options --------------------------------------------------------------------------------------


def test_the_root_folder_is_created_when_missing(root: Path) -> None:
    FilesystemStorageAdapter(settings(FilesystemOptions(root=str(root / "deep" / "er"))))

    assert (root / "deep" / "er").is_dir()


def test_options_given_as_a_dict_are_decoded(root: Path) -> None:
    store = FilesystemStorageAdapter(settings({"root": str(root)}))

    assert store.root == root.resolve()


@pytest.mark.parametrize("options", [{}, {"root": "x", "colour": "blue"}])
def test_bad_options_are_a_config_error_naming_the_key_path(options: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        FilesystemStorageAdapter(settings(options))

    assert caught.value.path == "connectors.files.options"


def test_a_root_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("not a folder")

    with pytest.raises(ConfigError) as caught:
        FilesystemStorageAdapter(settings({"root": str(tmp_path / "taken")}))

    assert caught.value.path == "connectors.files.options.root"


# --- put and get ----------------------------------------------------------------------------------


def test_put_stores_the_object_as_a_file_under_root(
    store: FilesystemStorageAdapter, root: Path
) -> None:
    put(store, "invoices/2026/0042.pdf", b"%PDF-1.7")

    assert (root / "invoices" / "2026" / "0042.pdf").read_bytes() == b"%PDF-1.7"
    assert store.get(ObjectKey("invoices/2026/0042.pdf"), context()) == b"%PDF-1.7"


def test_put_describes_the_object_with_an_s3_style_etag(store: FilesystemStorageAdapter) -> None:
    info = store.put(
        PutObject(key="a.txt", data=b"hello", content_type="text/plain", metadata={"k": "v"}),
        context(),
    )

    assert info.vendor == "filesystem"
    assert info.etag == info.vendor_id == '"5d41402abc4b2a76b9719d911017c592"'
    assert (info.size, info.content_type, info.metadata) == (5, "text/plain", {"k": "v"})
    assert info.last_modified is not None


def test_content_type_and_metadata_survive_a_new_adapter_on_the_same_root(
    store: FilesystemStorageAdapter, root: Path
) -> None:
    put(store, "a.csv", b"1,2", content_type="text/csv", metadata={"owner": "ada"})

    reopened = FilesystemStorageAdapter(settings(FilesystemOptions(root=str(root))))
    [info] = reopened.list(ListObjects(), context()).items

    assert (info.content_type, info.metadata) == ("text/csv", {"owner": "ada"})


def test_put_reads_chunks_from_an_iterable(store: FilesystemStorageAdapter) -> None:
    info = store.put(PutObject(key="k", data=iter([b"ab", b"cd"])), context())

    assert info.size == 4
    assert store.get(ObjectKey("k"), context()) == b"abcd"


def test_put_replaces_an_object(store: FilesystemStorageAdapter) -> None:
    put(store, "k", b"old")
    put(store, "k", b"new")

    assert store.get(ObjectKey("k"), context()) == b"new"


def test_a_put_that_fails_midway_leaves_the_old_object_and_no_stray_file(
    store: FilesystemStorageAdapter, root: Path
) -> None:
    put(store, "k", b"old")

    def broken_upload() -> Iterator[bytes]:
        yield b"half of the new"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        put(store, "k", broken_upload())

    assert store.get(ObjectKey("k"), context()) == b"old"
    assert files_under(root) == [".nexus-meta/k", "k"]


def test_get_of_a_missing_key_raises_object_not_found(store: FilesystemStorageAdapter) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        store.get(ObjectKey("nope"), context())

    assert caught.value.code == "NoSuchKey"


def test_get_of_a_folder_raises_object_not_found(store: FilesystemStorageAdapter) -> None:
    put(store, "a/b")

    with pytest.raises(ObjectNotFoundError):
        store.get(ObjectKey("a"), context())


# --- keys that cannot be files --------------------------------------------------------------------


@pytest.mark.parametrize("key", [".nexus-meta/k", "a/.nexus-tmp-1", "a//b", "a/./b", "a/"])
def test_keys_that_cannot_be_a_file_here_are_invalid(
    store: FilesystemStorageAdapter, key: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        put(store, key)

    assert caught.value.code == "invalid_key"


@pytest.mark.parametrize(("first", "second"), [("a", "a/b"), ("a/b", "a")])
def test_an_object_cannot_share_its_name_with_another_objects_folder(
    store: FilesystemStorageAdapter, first: str, second: str
) -> None:
    put(store, first)

    with pytest.raises(InvalidRequestError) as caught:
        put(store, second)

    assert caught.value.code == "key_conflict"


def test_a_symlink_leading_out_of_root_is_refused(
    store: FilesystemStorageAdapter, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"private")
    (root / "link").symlink_to(outside)

    with pytest.raises(InvalidRequestError):
        store.get(ObjectKey("link/secret"), context())


# --- open -----------------------------------------------------------------------------------------


def test_open_streams_the_file_in_64_kib_chunks(store: FilesystemStorageAdapter) -> None:
    content = os.urandom(150 * KIB)
    put(store, "big", content)

    with store.open(ObjectKey("big"), context()) as chunks:
        received = list(chunks)

    assert [len(c) for c in received] == [64 * KIB, 64 * KIB, 22 * KIB]
    assert b"".join(received) == content


def test_open_closes_the_file_on_exit(store: FilesystemStorageAdapter) -> None:
    put(store, "k", b"x" * (100 * KIB))

    with store.open(ObjectKey("k"), context()) as chunks:
        next(chunks)

    with pytest.raises(ValueError, match="closed file"):
        next(chunks)


def test_open_of_a_missing_key_fails_when_called(store: FilesystemStorageAdapter) -> None:
    with pytest.raises(ObjectNotFoundError):
        store.open(ObjectKey("nope"), context())


# --- delete, exists -------------------------------------------------------------------------------


def test_delete_removes_the_file_its_sidecar_and_emptied_folders(
    store: FilesystemStorageAdapter, root: Path
) -> None:
    put(store, "a/b/c")

    store.delete(ObjectKey("a/b/c"), context())

    assert sorted(p.name for p in root.rglob("*")) == [".nexus-meta"]
    put(store, "a")  # the name is free again
    assert store.exists(ObjectKey("a"), context())


def test_delete_of_a_missing_key_is_fine(store: FilesystemStorageAdapter) -> None:
    store.delete(ObjectKey("never-there"), context())

    assert not store.exists(ObjectKey("never-there"), context())


def test_exists_says_whether_an_object_is_stored(store: FilesystemStorageAdapter) -> None:
    put(store, "a/b")

    assert store.exists(ObjectKey("a/b"), context())
    assert not store.exists(ObjectKey("a"), context())  # a folder is not an object


# --- list -----------------------------------------------------------------------------------------


def test_list_returns_objects_under_a_prefix_sorted_by_key(store: FilesystemStorageAdapter) -> None:
    for key in ("b/2", "a/1", "b/1", "b0", "c"):
        put(store, key)

    page = store.list(ListObjects(prefix="b"), context())

    assert [i.key for i in page.items] == ["b/1", "b/2", "b0"]
    assert page.next_cursor is None


def test_list_pages_with_limit_and_cursor(store: FilesystemStorageAdapter) -> None:
    for key in ("e", "d/1", "c", "b", "a"):
        put(store, key)

    first = store.list(ListObjects(limit=2), context())
    second = store.list(ListObjects(limit=2, cursor=first.next_cursor), context())
    last = store.list(ListObjects(limit=2, cursor=second.next_cursor), context())

    assert [[i.key for i in p.items] for p in (first, second, last)] == [
        ["a", "b"],
        ["c", "d/1"],
        ["e"],
    ]
    assert last.next_cursor is None


def test_list_leaves_out_sidecars_and_leftover_temporary_files(
    store: FilesystemStorageAdapter, root: Path
) -> None:
    put(store, "k")
    (root / ".nexus-tmp-crashed").write_bytes(b"half")

    page = store.list(ListObjects(), context())

    assert [i.key for i in page.items] == ["k"]


def test_a_file_copied_in_by_hand_is_listed_and_described_from_its_content(
    store: FilesystemStorageAdapter, root: Path
) -> None:
    (root / "notes.txt").write_bytes(b"hello")

    [info] = store.list(ListObjects(), context()).items

    assert info.content_type == "text/plain"
    assert info.etag == '"5d41402abc4b2a76b9719d911017c592"'
    assert info.metadata == {}


def test_a_sidecar_describing_an_older_version_of_the_file_is_ignored(
    store: FilesystemStorageAdapter, root: Path
) -> None:
    put(store, "k", b"old", content_type="text/csv", metadata={"v": "1"})
    (root / "k").write_bytes(b"changed behind our back")

    [info] = store.list(ListObjects(), context()).items

    assert info.etag == f'"{hashlib.md5(b"changed behind our back").hexdigest()}"'
    assert (info.content_type, info.metadata) == ("application/octet-stream", {})


def test_a_prefix_naming_a_folder_outside_root_is_refused_before_listing(
    store: FilesystemStorageAdapter,
) -> None:
    put(store, "k")

    with pytest.raises(ValueError, match="'..' segment"):
        store.list(ListObjects(prefix="../"), context())


# --- signed URLs ----------------------------------------------------------------------------------


def test_signed_url_is_a_file_url_with_expiry_and_an_hmac_of_the_signing_key(
    store: FilesystemStorageAdapter, root: Path
) -> None:
    clock = FakeClock()

    url = store.signed_url(SignedUrlRequest(key="a b.txt", expires_in=60), context(clock))

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    expires = int(clock.time()) + 60
    expected = hmac.new(b"s3cr3t", f"GET\na b.txt\n{expires}".encode(), hashlib.sha256)
    assert (parts.scheme, unquote(parts.path)) == ("file", str(root.resolve() / "a b.txt"))
    assert query == {"method": "GET", "expires": str(expires), "signature": expected.hexdigest()}


def test_without_a_signing_key_each_adapter_signs_with_its_own_random_key(root: Path) -> None:
    request, ctx = SignedUrlRequest(key="k"), context()
    one = FilesystemStorageAdapter(settings(FilesystemOptions(root=str(root))))
    two = FilesystemStorageAdapter(settings(FilesystemOptions(root=str(root))))

    assert one.signed_url(request, ctx) != two.signed_url(request, ctx)


# --- health ---------------------------------------------------------------------------------------


def test_health_check_is_fine_while_root_is_a_writable_folder(
    store: FilesystemStorageAdapter, root: Path
) -> None:
    assert store.health_check() is None

    root.rmdir()

    assert "does not exist" in (store.health_check() or "")


# --- the async twin -------------------------------------------------------------------------------


@pytest.fixture
def astore(root: Path) -> AsyncFilesystemStorageAdapter:
    return AsyncFilesystemStorageAdapter(settings(FilesystemOptions(root=str(root))))


async def test_async_put_get_exists_delete(astore: AsyncFilesystemStorageAdapter) -> None:
    info = await astore.put(PutObject(key="a/k", data=b"hello"), context())
    content = await astore.get(ObjectKey("a/k"), context())
    await astore.delete(ObjectKey("a/k"), context())

    assert (info.size, content) == (5, b"hello")
    assert not await astore.exists(ObjectKey("a/k"), context())


async def test_async_open_streams_chunks_and_closes_the_file(
    astore: AsyncFilesystemStorageAdapter,
) -> None:
    await astore.put(PutObject(key="big", data=b"y" * (100 * KIB)), context())

    async with await astore.open(ObjectKey("big"), context()) as chunks:
        sizes = [len(chunk) async for chunk in chunks]

    assert sizes == [64 * KIB, 36 * KIB]


async def test_async_open_of_a_missing_key_raises_object_not_found(
    astore: AsyncFilesystemStorageAdapter,
) -> None:
    with pytest.raises(ObjectNotFoundError):
        await astore.open(ObjectKey("nope"), context())


async def test_async_list_and_signed_url(astore: AsyncFilesystemStorageAdapter) -> None:
    for key in ("x/2", "x/1", "y"):
        await astore.put(PutObject(key=key, data=b"."), context())

    page = await astore.list(ListObjects(prefix="x/", limit=1), context())
    url = await astore.signed_url(SignedUrlRequest(key="y"), context())

    assert ([i.key for i in page.items], page.next_cursor) == (["x/1"], "x/1")
    assert url.startswith("file://")
    assert "signature=" in url


# --- threads --------------------------------------------------------------------------------------


def run_in_eight_threads(work: Callable[[int], None]) -> None:
    """Run `work(0)` to `work(7)` at once; an error in any of them is raised here."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(8)))


def test_one_adapter_serves_eight_threads_without_losing_an_object(
    store: FilesystemStorageAdapter,
) -> None:
    def put_fifty(thread: int) -> None:
        for i in range(50):
            put(store, f"t{thread}/{i:02d}")

    run_in_eight_threads(put_fifty)

    assert len(store.list(ListObjects(), context()).items) == 400


def test_racing_puts_of_one_key_leave_one_whole_version_with_its_own_sidecar(
    store: FilesystemStorageAdapter,
) -> None:
    versions = [bytes([n]) * (70 * KIB) for n in range(8)]

    def put_its_version(thread: int) -> None:
        for _ in range(10):
            put(store, "shared", versions[thread], metadata={"thread": str(thread)})

    run_in_eight_threads(put_its_version)

    content = store.get(ObjectKey("shared"), context())
    [info] = store.list(ListObjects(), context()).items
    assert content in versions
    assert info.metadata == {"thread": str(versions.index(content))}


def test_puts_and_deletes_racing_in_one_folder_never_fail(store: FilesystemStorageAdapter) -> None:
    def put_or_delete(thread: int) -> None:
        for i in range(50):
            key = f"shared/{i % 5}"
            if thread % 2:
                store.delete(ObjectKey(key), context())
            else:
                put(store, key, key.encode())

    run_in_eight_threads(put_or_delete)

    for info in store.list(ListObjects(), context()).items:
        assert store.get(ObjectKey(info.key), context()) == info.key.encode()
