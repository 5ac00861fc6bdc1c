"""The memory email vendor passes the email adapter conformance suite.

Its faults come from `MemoryOptions` (``fail_first = 1`` with a ``failure``), set on the
adapter of the manager the suite builds next. It cannot make a ``transient`` fault: every
failure it makes says the message may have been processed, so that kind is skipped.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    REJECTED_DOMAIN,
    EmailAdapterConformance,
    EmailFaultKind,
    EmailHarness,
    ReceivedEmail,
)

#: The suite's fault kinds as the memory vendor's ``failure`` option.
FAILURES: dict[EmailFaultKind, str] = {
    "auth": "auth",
    "rate_limited": "rate_limited",
    "unknown_outcome": "unavailable",
}


class MemoryOutboxes:
    """Every memory adapter the suite's managers built, and the fault to give the next."""

    def __init__(self) -> None:
        self.adapters: list[Any] = []
        self.pending: EmailFaultKind | None = None

    def on_manager(self, manager: Any) -> None:
        adapter = manager.email.adapter
        if self.pending is not None:
            failure = FAILURES[self.pending]
            adapter.options = msgspec.structs.replace(
                adapter.options, fail_first=1, failure=failure
            )
            self.pending = None
        self.adapters.append(adapter)

    def fail_next(self, kind: EmailFaultKind) -> None:
        self.pending = kind

    def received(self) -> list[ReceivedEmail]:
        return [
            ReceivedEmail.of(message, refused=_refused(message.recipients))
            for adapter in self.adapters
            for message in adapter.outbox
        ]


def _refused(addresses: Any) -> set[str]:
    return {a.email for a in addresses if a.email.rpartition("@")[2] == REJECTED_DOMAIN}


class TestMemoryEmailConformance(EmailAdapterConformance):
    @pytest.fixture
    def harness(self, registry: PluginRegistry) -> EmailHarness:
        outboxes = MemoryOutboxes()
        return EmailHarness(
            vendor="memory",
            connector={"vendor": "memory"},
            received=outboxes.received,
            registry=registry,
            fail_next=outboxes.fail_next,
            faults=frozenset({*FAILURES, "rejected_recipient"}),
            on_manager=outboxes.on_manager,
        )
