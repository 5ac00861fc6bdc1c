{%- set C = cookiecutter.__class -%}
"""The core's payment conformance suite, unchanged, against the local {{ cookiecutter.vendor_name }}."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    FaultServer,
    PaymentAdapterConformance,
    PaymentFaultKind,
    PaymentHarness,
    TransportFaults,
)

from {{ cookiecutter.package_name }}.testing import (
    DECLINED_METHOD,
    FAULTS,
    RETRY_AFTER,
    {{ C }}Double,
    idempotency_keys,
)


class Test{{ C }}Conformance(PaymentAdapterConformance):
    @pytest.fixture
    def harness(
        self,
        double: {{ C }}Double,
        server: FaultServer,
        connector: dict[str, Any],
        registry: PluginRegistry,
    ) -> PaymentHarness:
        def fail_next(kind: PaymentFaultKind) -> None:
            if kind == "reset_after_processing":
                double.reset_after_processing()
            else:
                server.script(FAULTS[kind])

        return PaymentHarness(
            registry=registry,
            connector=connector,
            charges=lambda: len(double.payments),
            keys=lambda: idempotency_keys(server.requests),
            fail_next=fail_next,
            transport=TransportFaults.over_http(server),
            retry_after=RETRY_AFTER,
            declined_method=DECLINED_METHOD,
            decline_code="generic_decline",
            unknown_id="pay_" + "0" * 24,
        )
