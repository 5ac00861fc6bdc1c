"""The core's SMS adapter conformance suite, unchanged, against the local Twilio: once with a
default sender, once through a messaging service (Twilio picks the sender)."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import SmsAdapterConformance, SmsHarness

MESSAGING_SERVICE_SID = "MG" + "fedcba9876543210" * 2


def _harness(
    twilio: Any, registry: PluginRegistry, environ: dict[str, str], table: dict[str, Any]
) -> SmsHarness:
    return SmsHarness(
        registry=registry,
        connector=table,
        environ=environ,
        received=twilio.messages,
        fail_next=twilio.fail_next,
        retry_after=twilio.RETRY_AFTER,
        unreachable=twilio.UNREACHABLE,
        sender="NexusShop",  # not the default sender: it must come from the message
    )


class TestTwilioConformance(SmsAdapterConformance):
    @pytest.fixture
    def harness(
        self,
        twilio: Any,
        registry: PluginRegistry,
        environ: dict[str, str],
        connector: dict[str, Any],
    ) -> SmsHarness:
        return _harness(twilio, registry, environ, connector)


class TestTwilioMessagingServiceConformance(SmsAdapterConformance):
    @pytest.fixture
    def harness(
        self,
        twilio: Any,
        registry: PluginRegistry,
        environ: dict[str, str],
        connector: dict[str, Any],
    ) -> SmsHarness:
        options = {"base_url": twilio.url, "messaging_service_sid": MESSAGING_SERVICE_SID}
        return _harness(twilio, registry, environ, {**connector, "options": options})
