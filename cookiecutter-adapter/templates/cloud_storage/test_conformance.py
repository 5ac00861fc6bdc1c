{%- set C = cookiecutter.__class -%}
"""The core's cloud_storage conformance suite, unchanged, against the local {{ cookiecutter.vendor_name }}."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    CloudStorageAdapterConformance,
    CloudStorageHarness,
    FaultServer,
    TransportFaults,
)

from {{ cookiecutter.package_name }}.testing import FAULTS


class Test{{ C }}Conformance(CloudStorageAdapterConformance):
    @pytest.fixture
    def harness(
        self, server: FaultServer, connector: dict[str, Any], registry: PluginRegistry
    ) -> CloudStorageHarness:
        return CloudStorageHarness(
            registry=registry,
            connector=connector,
            signed_urls="none",  # TODO(vendor): "http" once the adapter signs URLs
            fail_next=lambda kind: server.script(FAULTS[kind]),
            transport=TransportFaults.over_http(server),
        )
