"""The core's SMS adapter conformance suite, unchanged, against the local Twilio: once with a
default sender, once through a messaging service (Twilio picks the sender)."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_twilio.testing import FAULTS, RETRY_AFTER, UNREACHABLE, form_of, sends

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    HTTP_TRANSPORTS,
    FaultServer,
    ReceivedSms,
    SmsAdapterConformance,
    SmsFaultKind,
    SmsHarness,
    TransportFaults,
)

MESSAGING_SERVICE_SID = "MG" + "fedcba9876543210" * 2


def received_sms(server: FaultServer) -> list[ReceivedSms]:
    """Every send request the local Twilio received, whatever it answered, as the suite
    compares them."""
    received = []
    for request in sends(server.requests):
        form = form_of(request)
        sender = form.get("From", [None])[0]
        received.append(ReceivedSms(to=form["To"][0], body=form["Body"][0], sender=sender))
    return received


def _harness(
    server: FaultServer, registry: PluginRegistry, environ: dict[str, str], table: dict[str, Any]
) -> SmsHarness:
    def fail_next(kind: SmsFaultKind) -> None:
        server.script(FAULTS[kind])

    return SmsHarness(
        registry=registry,
        connector=table,
        environ=environ,
        received=lambda: received_sms(server),
        fail_next=fail_next,
        transport=TransportFaults.over_http(server),
        retry_after=RETRY_AFTER,
        unreachable=UNREACHABLE,
        sender="NexusShop",  # not the default sender: it must come from the message
    )


class TestTwilioConformance(SmsAdapterConformance):
    transports = HTTP_TRANSPORTS

    @pytest.fixture
    def harness(
        self,
        twilio_server: FaultServer,
        registry: PluginRegistry,
        environ: dict[str, str],
        connector: dict[str, Any],
    ) -> SmsHarness:
        return _harness(twilio_server, registry, environ, connector)


class TestTwilioMessagingServiceConformance(SmsAdapterConformance):
    transports = HTTP_TRANSPORTS

    @pytest.fixture
    def harness(
        self,
        twilio_server: FaultServer,
        registry: PluginRegistry,
        environ: dict[str, str],
        connector: dict[str, Any],
    ) -> SmsHarness:
        options = {"base_url": twilio_server.url, "messaging_service_sid": MESSAGING_SERVICE_SID}
        return _harness(twilio_server, registry, environ, {**connector, "options": options})
