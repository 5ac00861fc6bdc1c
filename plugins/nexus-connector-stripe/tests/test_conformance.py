"""The core's payment adapter conformance suite, unchanged, against the local Stripe."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_stripe.testing import (
    FAULTS,
    RETRY_AFTER,
    StripeDouble,
    idempotency_keys,
)

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    HTTP_TRANSPORTS,
    FaultServer,
    PaymentAdapterConformance,
    PaymentFaultKind,
    PaymentHarness,
    TransportFaults,
)


class TestStripeConformance(PaymentAdapterConformance):
    transports = HTTP_TRANSPORTS

    @pytest.fixture
    def harness(
        self,
        stripe: StripeDouble,
        stripe_server: FaultServer,
        registry: PluginRegistry,
        environ: dict[str, str],
        connector: dict[str, Any],
    ) -> PaymentHarness:
        def fail_next(kind: PaymentFaultKind) -> None:
            if kind == "reset_after_processing":
                stripe.reset_after_processing()
            else:
                stripe_server.script(FAULTS[kind])

        return PaymentHarness(
            registry=registry,
            connector=connector,
            environ=environ,
            charges=lambda: len(stripe.charges),
            keys=lambda: idempotency_keys(stripe_server.requests),
            fail_next=fail_next,
            transport=TransportFaults.over_http(stripe_server),
            retry_after=RETRY_AFTER,
            decline_code="generic_decline",
            unknown_id="pi_" + "0" * 24,
        )
