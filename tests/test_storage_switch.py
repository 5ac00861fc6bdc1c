"""Switching storage vendors is a config change: the same application function stores and
reads an invoice through ``memory``, ``filesystem``, ``s3`` (against moto's S3 server on
127.0.0.1) and ``fsspec`` — only the connector's TOML table differs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_connector_core import ConnectorManager, PluginRegistry

INVOICE = b"%PDF-1.7\n" + bytes(range(256)) * 400 + b"\n%%EOF"


def archive_invoice(manager: ConnectorManager, number: int, pdf: bytes) -> bytes:
    """The application's code: store an invoice, then read it back, streaming."""
    invoices = manager.connector("invoices")
    key = f"invoices/2026/{number:04d}.pdf"
    info = invoices.put(key, pdf, content_type="application/pdf", metadata={"number": str(number)})
    assert info.size == len(pdf)
    assert invoices.exists(key)
    assert [item.key for item in invoices.list("invoices/2026/").items] == [key]
    with invoices.open(key) as chunks:
        streamed = b"".join(chunks)
    assert streamed == invoices.get(key)
    return streamed


@pytest.fixture(scope="module")
def local_s3() -> Iterator[Any]:
    try:
        from nexus_connector_s3.testing import LocalS3
    except ImportError:
        if os.environ.get("NEXUS_REQUIRE_SERVICES") == "1":
            pytest.fail("nexus-connector-s3[test] is not installed", pytrace=False)
        pytest.skip("nexus-connector-s3[test] is not installed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        with LocalS3() as server:
            yield server


@pytest.fixture
def registry() -> PluginRegistry:
    s3 = pytest.importorskip("nexus_connector_s3.plugin")
    fsspec = pytest.importorskip("nexus_connector_fsspec.plugin")
    registry = PluginRegistry()
    registry.register(s3, "s3")
    registry.register(fsspec, "fsspec")
    return registry


def tables(tmp_path: Path, local_s3: Any) -> dict[str, str]:
    bucket = local_s3.create_bucket()
    return {
        "memory": """
            [connectors.invoices]
            category = "cloud_storage"
            vendor = "memory"
        """,
        "filesystem": f"""
            [connectors.invoices]
            category = "cloud_storage"
            vendor = "filesystem"
            options = {{ root = "{tmp_path / "objects"}" }}
        """,
        "s3": f"""
            [connectors.invoices]
            category = "cloud_storage"
            vendor = "s3"
            options = {{ bucket = "{bucket}", endpoint_url = "{local_s3.url}" }}
            credentials = {{ access_key_id = "env:AWS_KEY", secret_access_key = "env:AWS_SECRET" }}
        """,
        "fsspec": f"""
            [connectors.invoices]
            category = "cloud_storage"
            vendor = "fsspec"
            options = {{ protocol = "file", root = "{tmp_path / "fsspec-objects"}" }}
        """,
    }


@pytest.mark.parametrize("vendor", ["memory", "filesystem", "s3", "fsspec"])
def test_the_same_function_archives_an_invoice_whichever_vendor_the_toml_names(
    vendor: str, tmp_path: Path, local_s3: Any, registry: PluginRegistry
) -> None:
    config = tmp_path / "connectors.toml"
    config.write_text(tables(tmp_path, local_s3)[vendor], encoding="utf-8")
    environ = {"AWS_KEY": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET": "not-checked-by-moto"}

    with ConnectorManager.from_config(config, registry=registry, environ=environ) as manager:
        assert archive_invoice(manager, 42, INVOICE) == INVOICE
        assert manager.connector("invoices").settings.vendors[0].key == vendor
