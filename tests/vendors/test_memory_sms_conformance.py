"""The memory SMS vendor passes the SMS adapter conformance suite.

Faults map to its `MemoryOptions`: the next call fails with the matching ``failure``.
Undeliverable messages follow its test convention: numbers starting with ``+1555000``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    ReceivedSms,
    SmsAdapterConformance,
    SmsFaultKind,
    SmsHarness,
)
from nexus_connector_core.vendors.memory.sms import UNREACHABLE_PREFIX

#: Which `MemoryOptions.failure` stands for each fault of the suite.
FAILURES: dict[SmsFaultKind, str] = {
    "invalid_number": "invalid",
    "auth": "auth",
    "rate_limited": "rate_limited",
    "transient": "unavailable",
}


class MemoryProbe:
    """Reads and steers the adapter of the manager under test: the memory vendor's state
    lives in it."""

    adapter: Any = None

    def on_manager(self, manager: Any) -> None:
        self.adapter = manager.connector("sms").adapter

    def received(self) -> Sequence[ReceivedSms]:
        """Every message the vendor was asked to send, failed attempts included."""
        return [
            ReceivedSms(to=message.to, body=message.body, sender=message.sender)
            for operation, message in self.adapter.calls
            if operation == "send"
        ]

    def fail_next(self, kind: SmsFaultKind) -> None:
        """Make the adapter's next call the last of its ``fail_first`` failures."""
        self.adapter.options = msgspec.structs.replace(
            self.adapter.options, fail_first=len(self.adapter.calls) + 1, failure=FAILURES[kind]
        )


class TestMemorySmsConformance(SmsAdapterConformance):
    @pytest.fixture
    def harness(self, registry: PluginRegistry) -> SmsHarness:
        probe = MemoryProbe()
        return SmsHarness(
            registry=registry,
            connector={"vendor": "memory", "options": {"retry_after": 1.5}},
            received=probe.received,
            fail_next=probe.fail_next,
            on_manager=probe.on_manager,
            retry_after=1.5,
            unreachable=UNREACHABLE_PREFIX + "1234",
            sender="Shop",
        )
