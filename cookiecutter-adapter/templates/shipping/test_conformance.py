{%- set C = cookiecutter.__class -%}
"""The core's shipping conformance suite, unchanged, against the local {{ cookiecutter.vendor_name }}."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    FaultServer,
    ReceivedParcel,
    ReceivedShippingRequest,
    ShippingAdapterConformance,
    ShippingFaultKind,
    ShippingHarness,
    TransportFaults,
)

from {{ cookiecutter.package_name }}.testing import (
    FAULTS,
    RETRY_AFTER,
    {{ C }}Double,
    operation_of,
)


def received(server: FaultServer) -> list[ReceivedShippingRequest]:
    """Every request of a shipping operation the double received, whatever it answered,
    with the parcel of a quote as it arrived."""
    found = []
    for request in server.requests:
        operation = operation_of(request)
        if operation is None:
            continue
        parcel = None
        if operation == "rates":
            parcel = ReceivedParcel(**request.json()["parcels"][0])
        found.append(ReceivedShippingRequest(operation, parcel))
    return found


class Test{{ C }}Conformance(ShippingAdapterConformance):
    @pytest.fixture
    def harness(
        self,
        double: {{ C }}Double,
        server: FaultServer,
        connector: dict[str, Any],
        registry: PluginRegistry,
    ) -> ShippingHarness:
        def fail_next(kind: ShippingFaultKind) -> None:
            if kind == "lost_answer":
                double.lose_next_answer()
            else:
                server.script(FAULTS[kind])

        return ShippingHarness(
            registry=registry,
            connector=connector,
            received=lambda: received(server),
            labels=lambda: len(double.labels),
            fail_next=fail_next,
            transport=TransportFaults.over_http(server),
            retry_after=RETRY_AFTER,
        )
