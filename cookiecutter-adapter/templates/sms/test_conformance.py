{%- set C = cookiecutter.__class -%}
"""The core's SMS conformance suite, unchanged, against the local {{ cookiecutter.vendor_name }}."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    FaultServer,
    ReceivedSms,
    SmsAdapterConformance,
    SmsHarness,
    TransportFaults,
)

from {{ cookiecutter.package_name }}.testing import FAULTS, RETRY_AFTER, UNREACHABLE, sends


class Test{{ C }}Conformance(SmsAdapterConformance):
    @pytest.fixture
    def harness(
        self, server: FaultServer, connector: dict[str, Any], registry: PluginRegistry
    ) -> SmsHarness:
        return SmsHarness(
            registry=registry,
            connector=connector,
            received=lambda: [
                ReceivedSms(to=sent["to"], body=sent["body"], sender=sent.get("from"))
                for sent in sends(server)
            ],
            fail_next=lambda kind: server.script(FAULTS[kind]),
            transport=TransportFaults.over_http(server),
            retry_after=RETRY_AFTER,
            unreachable=UNREACHABLE,
            sender="Shop",
        )
