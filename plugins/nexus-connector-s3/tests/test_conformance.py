"""The s3 adapters pass the core's cloud_storage conformance suite against moto's S3, through
the double (which fails on cue)."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_s3.testing import S3Double

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    HTTP_TRANSPORTS,
    CloudStorageAdapterConformance,
    CloudStorageHarness,
    FaultServer,
    TransportFaults,
)


class TestS3Conformance(CloudStorageAdapterConformance):
    transports = HTTP_TRANSPORTS

    @pytest.fixture
    def harness(
        self,
        registry: PluginRegistry,
        connector: dict[str, Any],
        environ: dict[str, str],
        double: S3Double,
        s3_server: FaultServer,
    ) -> CloudStorageHarness:
        return CloudStorageHarness(
            registry=registry,
            connector=connector,
            environ=environ,
            signed_urls="http",
            fail_next=double.fail_next,
            transport=TransportFaults.over_http(s3_server, option="endpoint_url"),
        )
