"""The core's email adapter conformance suite, unchanged, against real aiosmtpd servers:
over STARTTLS with AUTH, and over implicit TLS with AUTH.

SMTP has no reply that means "slow down" apart from the transient 4xx codes, so the
``rate_limited`` fault is skipped; the others are a 421 greeting (``transient``), a 535 to
AUTH (``auth``) and a connection dropped after the message content (``unknown_outcome``).
A third run makes ``unknown_outcome`` a garbled answer to the content instead, which a
batch reports as ``unknown`` and goes on.
"""

from __future__ import annotations

from typing import Any

import pytest

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import (
    EmailAdapterConformance,
    EmailHarness,
)

FAULTS = frozenset({"transient", "auth", "unknown_outcome", "rejected_recipient"})


def _harness(
    server: Any, registry: PluginRegistry, environ: dict[str, str], *, garbled: bool = False
) -> EmailHarness:
    return EmailHarness(
        vendor="smtp",
        connector=server.table(),
        received=server.received,
        registry=registry,
        environ=environ,
        fail_next=server.fail_next_garbled if garbled else server.fail_next,
        faults=FAULTS,  # type: ignore[arg-type]
    )


class TestSmtpOverStartTls(EmailAdapterConformance):
    @pytest.fixture
    def harness(
        self, starttls_server: Any, smtp_registry: PluginRegistry, smtp_environ: dict[str, str]
    ) -> EmailHarness:
        return _harness(starttls_server, smtp_registry, smtp_environ)


class TestSmtpOverImplicitTls(EmailAdapterConformance):
    @pytest.fixture
    def harness(
        self, implicit_server: Any, smtp_registry: PluginRegistry, smtp_environ: dict[str, str]
    ) -> EmailHarness:
        return _harness(implicit_server, smtp_registry, smtp_environ)


class TestSmtpWithAGarbledAnswerToTheContent(EmailAdapterConformance):
    @pytest.fixture
    def harness(
        self, starttls_server: Any, smtp_registry: PluginRegistry, smtp_environ: dict[str, str]
    ) -> EmailHarness:
        return _harness(starttls_server, smtp_registry, smtp_environ, garbled=True)
