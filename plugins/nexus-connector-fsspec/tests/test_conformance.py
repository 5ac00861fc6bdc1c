"""The fsspec adapters pass the core's cloud_storage conformance suite over fsspec's memory
and file protocols, and over s3 (s3fs) against moto's S3 server."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import CloudStorageAdapterConformance, CloudStorageHarness


class TestFsspecMemoryConformance(CloudStorageAdapterConformance):
    @pytest.fixture
    def harness(
        self, registry: PluginRegistry, memory_connector: dict[str, Any]
    ) -> CloudStorageHarness:
        return CloudStorageHarness(
            registry=registry, connector=memory_connector, signed_urls="none"
        )


class TestFsspecFileConformance(CloudStorageAdapterConformance):
    @pytest.fixture
    def harness(
        self, registry: PluginRegistry, file_connector: dict[str, Any]
    ) -> CloudStorageHarness:
        return CloudStorageHarness(registry=registry, connector=file_connector, signed_urls="none")


class TestFsspecS3Conformance(CloudStorageAdapterConformance):
    @pytest.fixture
    def harness(
        self, registry: PluginRegistry, s3_connector: dict[str, Any], environ: dict[str, str]
    ) -> CloudStorageHarness:
        return CloudStorageHarness(
            registry=registry,
            connector=s3_connector,
            environ=environ,
            signed_urls="http",
            signed_methods=frozenset({"GET"}),
        )
