"""The fsspec adapters: configuration (protocols, install hints, secrets), atomic puts and
the mapping of filesystem errors."""

from __future__ import annotations

import importlib.util
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nexus_connector_fsspec._errors import failure

from nexus_connector_core import (
    AsyncConnectorManager,
    AuthenticationError,
    ConfigError,
    ConnectorManager,
    InvalidRequestError,
    ObjectNotFoundError,
    PluginRegistry,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
)


def manager(registry: PluginRegistry, table: dict[str, Any], **environ: str) -> ConnectorManager:
    return ConnectorManager.from_config(
        {"connectors": {"files": table}}, registry=registry, environ=environ
    )


def with_options(table: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {**table, "options": {**table["options"], **options}}


def test_a_protocol_whose_package_is_missing_gives_fsspecs_install_hint(
    registry: PluginRegistry, memory_connector: dict[str, Any]
) -> None:
    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    files = manager(registry, with_options(memory_connector, protocol="gcs")).connector("files")

    with pytest.raises(ConfigError, match=r"options\.protocol.*Please install gcsfs"):
        files.get("k")


def test_an_unknown_protocol_lists_the_known_ones(
    registry: PluginRegistry, memory_connector: dict[str, Any]
) -> None:
    files = manager(registry, with_options(memory_connector, protocol="gcz")).connector("files")

    with pytest.raises(ConfigError, match=r"no protocol 'gcz'.*gcs"):
        files.get("k")


def test_a_secret_reference_in_storage_options_is_refused_at_load(
    registry: PluginRegistry, memory_connector: dict[str, Any]
) -> None:
    table = with_options(memory_connector, storage_options={"token": "env:GCS_TOKEN"})

    with pytest.raises(ConfigError, match=r"storage_options\.token.*credentials"):
        manager(registry, table)


def test_credentials_are_resolved_and_passed_as_storage_options(
    registry: PluginRegistry, memory_connector: dict[str, Any]
) -> None:
    table = {**memory_connector, "credentials": {"token": "env:FS_TOKEN"}}
    files = manager(registry, table, FS_TOKEN="s3cr3t-token").connector("files")

    files.put("k", b"v")

    assert files.adapter.store.fs.storage_options["token"] == "s3cr3t-token"


def test_a_credential_also_in_storage_options_is_a_config_error(
    registry: PluginRegistry, memory_connector: dict[str, Any]
) -> None:
    table = with_options(memory_connector, storage_options={"token": "literal"})
    table["credentials"] = {"token": "env:FS_TOKEN"}
    files = manager(registry, table, FS_TOKEN="x").connector("files")

    with pytest.raises(ConfigError, match=r"credentials\.token"):
        files.get("k")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"root": ""}, "root"),
        ({"root": "/a/../etc"}, "'..'"),
        ({"root": "/a\x00b"}, "NUL"),
        ({"protocol": "GCS FS"}, "protocol"),
    ],
)
def test_bad_options_are_a_config_error(
    registry: PluginRegistry,
    memory_connector: dict[str, Any],
    options: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        manager(registry, with_options(memory_connector, **options))


def test_a_put_that_fails_midway_leaves_the_old_object_and_no_temporary_file(
    registry: PluginRegistry, file_connector: dict[str, Any]
) -> None:
    files = manager(registry, file_connector).connector("files")
    files.put("report.csv", b"old,content")

    def broken() -> Any:
        yield b"new,"
        raise RuntimeError("the generator broke")

    with pytest.raises(RuntimeError):
        files.put("report.csv", broken())

    assert files.get("report.csv") == b"old,content"
    root = Path(file_connector["options"]["root"])
    assert sorted(p.name for p in root.iterdir()) == [".nexus-meta", "report.csv"]


def test_keys_in_the_reserved_segment_are_refused(
    registry: PluginRegistry, memory_connector: dict[str, Any]
) -> None:
    files = manager(registry, memory_connector).connector("files")

    with pytest.raises(InvalidRequestError, match="reserved|keeps"):
        files.put(".nexus-meta/x.json", b"{}")


def test_signing_a_put_url_is_refused_clearly(
    registry: PluginRegistry, memory_connector: dict[str, Any]
) -> None:
    files = manager(registry, memory_connector).connector("files")

    with pytest.raises(InvalidRequestError, match="GET URLs only"):
        files.signed_url("k", method="PUT")


@pytest.mark.parametrize(
    ("exc", "error", "maybe"),
    [
        (FileNotFoundError("gs://b/k?token=s3cr3t"), ObjectNotFoundError, False),
        (PermissionError("denied for s3cr3t"), AuthenticationError, False),
        (TimeoutError("s3cr3t"), VendorTimeoutError, True),
        (ConnectionResetError("s3cr3t"), VendorUnavailableError, True),
        (ValueError("library said s3cr3t"), VendorError, True),
    ],
)
def test_filesystem_errors_map_to_the_librarys_without_quoting_them(
    exc: Exception, error: type[Exception], maybe: bool
) -> None:
    mapped = failure(exc, "gcs", "k", writes=True)

    assert type(mapped) is error
    assert mapped.maybe_processed is maybe
    assert "s3cr3t" not in str(mapped)


def test_a_filesystem_failure_keeps_its_text_out_of_the_traceback(
    registry: PluginRegistry, memory_connector: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = manager(registry, memory_connector).connector("files")
    files.put("k", b"v")

    def leaky(*args: Any, **kwargs: Any) -> bytes:
        raise ValueError("could not read https://storage.example/k?token=s3cr3t")

    monkeypatch.setattr(files.adapter.store.fs, "cat_file", leaky)

    with pytest.raises(VendorError) as caught:
        files.get("k")

    printed = "".join(traceback.format_exception(caught.value))
    assert "ValueError" in printed  # named by class, as the message says
    assert "s3cr3t" not in printed
    assert caught.value.__cause__ is None


def describe(files: Any, monkeypatch: pytest.MonkeyPatch, **info: Any) -> None:
    """Make the filesystem of the connector `files` describe every file with `info` too."""
    fs = files.adapter.store.fs
    find = fs.find

    def described(*args: Any, **kwargs: Any) -> Any:
        return {path: {**entry, **info} for path, entry in find(*args, **kwargs).items()}

    monkeypatch.setattr(fs, "find", described)


def listed_with(
    registry: PluginRegistry, table: dict[str, Any], monkeypatch: pytest.MonkeyPatch, **info: Any
) -> Any:
    """The ``files`` connector holding ``a/report.csv``, its filesystem describing every
    file with `info` too."""
    files = manager(registry, table).connector("files")
    files.put("a/report.csv", b"1,2")
    describe(files, monkeypatch, **info)
    return files


@pytest.mark.parametrize(
    "info",
    [
        {"size": -1},
        {"size": float("inf")},
        {"size": float("nan")},
        {"size": 2**70},
        {"size": 2.5},
        {"size": "3"},
        {"mtime": float("inf")},
        {"mtime": float("nan")},
        {"mtime": 1e20},
        {"mtime": -1e20},
        {"mtime": 2**70},
    ],
    ids=lambda info: f"{next(iter(info))}={next(iter(info.values()))}",
)
def test_a_listed_entry_no_file_can_have_is_an_unreadable_listing(
    registry: PluginRegistry,
    memory_connector: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    info: dict[str, Any],
) -> None:
    files = listed_with(registry, memory_connector, monkeypatch, **info)

    with pytest.raises(VendorError) as caught:
        files.list("a/")

    error = caught.value
    assert (type(error), error.code, error.maybe_processed) == (
        VendorError,
        "UnreadableListing",
        False,
    )
    assert "'a/report.csv'" in str(error)
    assert str(next(iter(info.values()))) not in str(error)


async def test_the_async_twin_refuses_an_unreadable_listing_the_same_way(
    registry: PluginRegistry, memory_connector: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"connectors": {"files": memory_connector}}
    async with AsyncConnectorManager.from_config(config, registry=registry) as async_manager:
        files = async_manager.connector("files")
        await files.put("a/report.csv", b"1,2")
        describe(files, monkeypatch, mtime=float("inf"))

        with pytest.raises(VendorError, match="modification time out of range"):
            await files.list("a/")


def test_a_listed_entry_with_an_integral_float_size_and_a_past_mtime_is_read(
    registry: PluginRegistry, memory_connector: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = listed_with(registry, memory_connector, monkeypatch, size=3.0, mtime=-86400.0)

    [item] = files.list("a/").items

    assert item.size == 3
    assert item.last_modified == datetime(1969, 12, 31, tzinfo=UTC)
