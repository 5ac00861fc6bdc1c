{%- set C = cookiecutter.__class -%}
"""The core's email conformance suite, unchanged, against the local {{ cookiecutter.vendor_name }}."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest
from nexus_connector_core import EmailAddress, PluginRegistry
from nexus_connector_core.testing import (
    EmailAdapterConformance,
    EmailHarness,
    FaultServer,
    ReceivedAttachment,
    ReceivedEmail,
    TransportFaults,
)

from {{ cookiecutter.package_name }}.testing import FAULTS, RETRY_AFTER, {{ C }}Double


def received_email(sent: Mapping[str, Any]) -> ReceivedEmail:
    """A message the double accepted (its JSON), as the suite compares messages."""

    def addresses(field: str) -> tuple[EmailAddress, ...]:
        return tuple(EmailAddress(a["email"], a.get("name")) for a in sent.get(field, []))

    headers = {name.lower(): value for name, value in sent.get("headers", {}).items()}
    headers["subject"] = sent.get("subject", "")
    return ReceivedEmail(
        sender=EmailAddress(sent["from"]["email"], sent["from"].get("name")),
        to=addresses("to"),
        cc=addresses("cc"),
        bcc=tuple(a.email for a in addresses("bcc") if a.email in sent["accepted"]),
        reply_to=addresses("reply_to"),
        envelope=tuple(sent["accepted"]),
        subject=sent.get("subject", ""),
        text=sent.get("text"),
        html=sent.get("html"),
        attachments=tuple(
            ReceivedAttachment(
                a["filename"],
                a["content_type"].partition(";")[0].strip().lower(),
                base64.b64decode(a["content"]),
            )
            for a in sent.get("attachments", [])
        ),
        headers=headers,
    )


class Test{{ C }}Conformance(EmailAdapterConformance):
    @pytest.fixture
    def harness(
        self,
        double: {{ C }}Double,
        server: FaultServer,
        connector: dict[str, Any],
        registry: PluginRegistry,
    ) -> EmailHarness:
        return EmailHarness(
            vendor="{{ cookiecutter.vendor_key }}",
            connector=connector,
            registry=registry,
            received=lambda: [received_email(sent) for sent in double.outbox],
            fail_next=lambda kind: server.script(FAULTS[kind]),
            faults=frozenset({*FAULTS, "rejected_recipient"}),
            transport=TransportFaults.over_http(server),
            retry_after=RETRY_AFTER,
        )
