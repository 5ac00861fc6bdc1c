"""The core's email adapter conformance suite, unchanged, against real aiosmtpd servers
(`nexus_connector_smtp.testing.SmtpDouble`): over STARTTLS with AUTH, and over implicit TLS
with AUTH.

How the suite's faults map to SMTP:

- ``transient``: a 421 at the greeting (the server takes nothing on that connection);
- ``auth``: a 535 to AUTH;
- ``unknown_outcome``: the connection dropped after the message content went out; a third
  run makes it a garbled answer to the content instead, which a batch reports as
  ``unknown`` and goes on;
- ``rate_limited`` is skipped: SMTP has no reply that means only "slow down" (its transient
  4xx replies are ``transient``).

The connection's faults: a refused connection is a port where nothing listens; the reset
after sending drops the connection once the content went out; the stalled answer is the
server waiting before its answer to the content. aiosmtpd cannot trickle a reply (the
`ScriptedSmtpServer` tests of test_deadline.py do).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from nexus_connector_smtp.testing import SmtpDouble

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    EmailAdapterConformance,
    EmailFaultKind,
    EmailHarness,
    ReceivedEmail,
    TransportFaults,
    refused_address,
)

#: How each fault kind is armed on a server.
FAULTS: Mapping[EmailFaultKind, Callable[[SmtpDouble], None]] = {
    "transient": lambda smtp: smtp.fail("greeting", "421 4.3.2 Service not available"),
    "auth": lambda smtp: smtp.fail("auth", "535 5.7.8 Authentication credentials invalid"),
    "unknown_outcome": SmtpDouble.drop_after_data,
}
GARBLED: Mapping[EmailFaultKind, Callable[[SmtpDouble], None]] = {
    **FAULTS,
    "unknown_outcome": SmtpDouble.garble_after_data,
}


def _harness(
    server: SmtpDouble,
    registry: PluginRegistry,
    received: Callable[[SmtpDouble], list[ReceivedEmail]],
    faults: Mapping[EmailFaultKind, Callable[[SmtpDouble], None]] = FAULTS,
) -> EmailHarness:
    return EmailHarness(
        vendor="smtp",
        connector=server.connector(),
        received=lambda: received(server),
        registry=registry,
        fail_next=lambda kind: faults[kind](server),
        faults=frozenset({*faults, "rejected_recipient"}),
        transport=TransportFaults(
            refused={"port": refused_address()[1]},
            reset_after_request=server.drop_after_data,
            stall=lambda seconds: server.stall("data", seconds),
        ),
    )


class TestSmtpOverStartTls(EmailAdapterConformance):
    @pytest.fixture
    def harness(
        self, starttls_server: SmtpDouble, smtp_registry: PluginRegistry, received: Any
    ) -> EmailHarness:
        return _harness(starttls_server, smtp_registry, received)


class TestSmtpOverImplicitTls(EmailAdapterConformance):
    @pytest.fixture
    def harness(
        self, implicit_server: SmtpDouble, smtp_registry: PluginRegistry, received: Any
    ) -> EmailHarness:
        return _harness(implicit_server, smtp_registry, received)


class TestSmtpWithAGarbledAnswerToTheContent(EmailAdapterConformance):
    @pytest.fixture
    def harness(
        self, starttls_server: SmtpDouble, smtp_registry: PluginRegistry, received: Any
    ) -> EmailHarness:
        return _harness(starttls_server, smtp_registry, received, GARBLED)
