"""The Postmark adapter passes the core's email conformance suite, against the local
Postmark double over real sockets.

How the suite's terms map to Postmark:

- a recipient the vendor refuses (``reject.example``) is one Postmark has marked inactive:
  it names it in its answer and does not deliver to it (ErrorCode 406 when it is the only
  kind of recipient);
- ``transient``: 422 with ErrorCode 100, "Maintenance" (Postmark did not take the request);
- ``unknown_outcome``: the connection is reset after Postmark read the whole request;
- ``auth``: 401 with ErrorCode 10; ``rate_limited``: 429 with ``Retry-After: 2``.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Iterator, Mapping, Sequence
from email.utils import getaddresses
from typing import Any

import pytest
from nexus_connector_postmark.testing import PostmarkDouble, postmark_error

from nexus_connector_core import EmailAddress, PluginRegistry
from nexus_connector_core.testing import (
    HTTP_TRANSPORTS,
    REJECTED_DOMAIN,
    EmailAdapterConformance,
    EmailFaultKind,
    EmailHarness,
    Fault,
    FaultServer,
    ReceivedAttachment,
    ReceivedEmail,
    TransportFaults,
)

TOKEN = "pm-conformance-token-7f3a"
#: The seconds a scripted 429 asks to wait.
RETRY_AFTER = 2

FAULTS: Mapping[EmailFaultKind, Fault] = {
    "transient": postmark_error(422, 100, "Maintenance"),
    "unknown_outcome": Fault.reset_after_request(),
    "auth": postmark_error(401, 10, "Request does not contain a valid Server API token."),
    "rate_limited": postmark_error(429, 429, "Rate limit exceeded.", retry_after=RETRY_AFTER),
}


def received_email(message: Mapping[str, Any], double: PostmarkDouble) -> ReceivedEmail:
    """A message the double accepted (its Postmark JSON), as the suite compares messages."""

    def addresses(field: str) -> tuple[EmailAddress, ...]:
        value = message.get(field)
        if not value:
            return ()
        return tuple(EmailAddress(email, name or None) for name, email in getaddresses([value]))

    to, cc, bcc = addresses("To"), addresses("Cc"), addresses("Bcc")
    headers = {header["Name"].lower(): header["Value"] for header in message.get("Headers", [])}
    if "Subject" in message:
        headers["subject"] = message["Subject"]
    return ReceivedEmail(
        sender=addresses("From")[0],
        to=to,
        cc=cc,
        bcc=tuple(a.email for a in bcc if not double.is_inactive(a.email)),
        reply_to=addresses("ReplyTo"),
        envelope=tuple(a.email for a in (*to, *cc, *bcc) if not double.is_inactive(a.email)),
        subject=message.get("Subject", ""),
        text=message.get("TextBody"),
        html=message.get("HtmlBody"),
        attachments=tuple(
            ReceivedAttachment(
                a["Name"], a["ContentType"].split(";")[0].strip().lower(), b64decode(a["Content"])
            )
            for a in message.get("Attachments", [])
        ),
        headers=headers,
    )


class TestPostmarkEmailConformance(EmailAdapterConformance):
    transports = HTTP_TRANSPORTS

    @pytest.fixture
    def double(self) -> PostmarkDouble:
        return PostmarkDouble(server_token=TOKEN, inactive_domains={REJECTED_DOMAIN})

    @pytest.fixture
    def server(self, double: PostmarkDouble) -> Iterator[FaultServer]:
        with FaultServer(default=double) as server:
            yield server

    @pytest.fixture
    def harness(
        self, registry: PluginRegistry, double: PostmarkDouble, server: FaultServer
    ) -> EmailHarness:
        def received() -> Sequence[ReceivedEmail]:
            return [received_email(message, double) for message in double.outbox]

        def fail_next(kind: EmailFaultKind) -> None:
            server.script(FAULTS[kind])

        return EmailHarness(
            vendor="postmark",
            connector={
                "vendor": "postmark",
                "options": {"base_url": server.url},
                "credentials": {"server_token": "env:POSTMARK_SERVER_TOKEN"},
            },
            received=received,
            registry=registry,
            environ={"POSTMARK_SERVER_TOKEN": TOKEN},
            fail_next=fail_next,
            faults=frozenset({*FAULTS, "rejected_recipient"}),
            transport=TransportFaults.over_http(server),
            retry_after=RETRY_AFTER,
        )
