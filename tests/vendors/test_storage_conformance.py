"""The embedded object stores, ``memory`` and ``filesystem``, pass the cloud_storage adapter
conformance suite.

The memory vendor's faults map to its `MemoryOptions`: the next call fails with the matching
``failure``. The filesystem vendor has no faults on cue (its failures are the disk's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    CloudStorageAdapterConformance,
    CloudStorageHarness,
    StorageFaultKind,
)

#: Which `MemoryOptions.failure` stands for each fault of the suite.
FAILURES: dict[StorageFaultKind, str] = {"transient": "unavailable", "auth": "auth"}


class MemoryProbe:
    """Steers the adapter of the manager under test: the memory vendor's state lives in it."""

    adapter: Any = None

    def on_manager(self, manager: Any) -> None:
        self.adapter = manager.connector("files").adapter

    def fail_next(self, kind: StorageFaultKind) -> None:
        """Make the adapter's next call the last of its ``fail_first`` failures."""
        self.adapter.options = msgspec.structs.replace(
            self.adapter.options, fail_first=len(self.adapter.calls) + 1, failure=FAILURES[kind]
        )


class TestMemoryStorageConformance(CloudStorageAdapterConformance):
    @pytest.fixture
    def harness(self, registry: PluginRegistry) -> CloudStorageHarness:
        probe = MemoryProbe()
        return CloudStorageHarness(
            registry=registry,
            connector={"vendor": "memory"},
            on_manager=probe.on_manager,
            signed_urls="opaque",
            fail_next=probe.fail_next,
        )


class TestFilesystemStorageConformance(CloudStorageAdapterConformance):
    @pytest.fixture
    def harness(self, registry: PluginRegistry, tmp_path: Path) -> CloudStorageHarness:
        return CloudStorageHarness(
            registry=registry,
            connector={"vendor": "filesystem", "options": {"root": str(tmp_path / "objects")}},
            signed_urls="opaque",
        )
