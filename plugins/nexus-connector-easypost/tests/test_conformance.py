"""The core's shipping adapter conformance suite, unchanged, against the local EasyPost: once
verifying addresses (an undeliverable one is ``valid=False``), once verifying them strictly
(EasyPost refuses it: `InvalidRequestError`)."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_easypost.testing import (
    FAULTS,
    RETRY_AFTER,
    EasyPostDouble,
    operation_of,
    parcel_of,
)

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    HTTP_TRANSPORTS,
    FaultServer,
    ReceivedParcel,
    ReceivedShippingRequest,
    ShippingAdapterConformance,
    ShippingFaultKind,
    ShippingHarness,
    TransportFaults,
)

#: EasyPost's units and their rounding step (a tenth), in grams and centimetres.
TENTH_OUNCE_G = 2.8349523125
TENTH_INCH_CM = 0.254


def received(server: FaultServer) -> list[ReceivedShippingRequest]:
    """Every request to an EasyPost endpoint of the shipping operations, whatever it got,
    as the suite compares them."""
    requests = []
    for request in server.requests:
        operation = operation_of(request)
        if operation is None:
            continue
        parcel = parcel_of(request)
        arrived = None
        if parcel is not None:
            arrived = ReceivedParcel(
                weight=parcel["weight"],
                mass_unit="oz",
                length=parcel.get("length"),
                width=parcel.get("width"),
                height=parcel.get("height"),
                distance_unit="in",
            )
        requests.append(ReceivedShippingRequest(operation, arrived))
    return requests


def _harness(
    server: FaultServer,
    easypost: EasyPostDouble,
    registry: PluginRegistry,
    environ: dict[str, str],
    table: dict[str, Any],
    **options: Any,
) -> ShippingHarness:
    def fail_next(kind: ShippingFaultKind) -> None:
        if kind == "lost_answer":
            easypost.lose_next_answer()
        else:
            server.script(FAULTS[kind])

    return ShippingHarness(
        registry=registry,
        connector=table,
        environ=environ,
        received=lambda: received(server),
        labels=lambda: len(easypost.labels),
        fail_next=fail_next,
        transport=TransportFaults.over_http(server),
        retry_after=RETRY_AFTER,
        weight_step=TENTH_OUNCE_G,
        length_step=TENTH_INCH_CM,
        **options,
    )


class TestEasyPostConformance(ShippingAdapterConformance):
    transports = HTTP_TRANSPORTS

    @pytest.fixture
    def harness(
        self,
        easypost_server: FaultServer,
        easypost: EasyPostDouble,
        registry: PluginRegistry,
        environ: dict[str, str],
        connector: dict[str, Any],
    ) -> ShippingHarness:
        return _harness(easypost_server, easypost, registry, environ, connector)


class TestEasyPostStrictAddressConformance(ShippingAdapterConformance):
    transports = HTTP_TRANSPORTS

    @pytest.fixture
    def harness(
        self,
        easypost_server: FaultServer,
        easypost: EasyPostDouble,
        registry: PluginRegistry,
        environ: dict[str, str],
        connector: dict[str, Any],
    ) -> ShippingHarness:
        options = {**connector["options"], "address_verification": "verify_strict"}
        table = {**connector, "options": options}
        return _harness(
            easypost_server, easypost, registry, environ, table, address_refusal="error"
        )
