"""Switching vendor is a config change: one application function, three email vendors.

The ``notifications`` connector's table is the only thing that differs between the runs:
``smtp`` against a real aiosmtpd server on 127.0.0.1, ``postmark`` against the Postmark
double over real sockets, and ``memory``. Plugins are found the way an application finds
them, through the installed distributions' entry points (the README's set-up installs both).
Each vendor must deliver the same message, report the same per-recipient outcome for a
refused address, and hand back its own message id.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from nexus_connector_postmark.testing import PostmarkDouble

from nexus_connector_core import (
    AsyncConnectorManager,
    Attachment,
    ConnectorManager,
    EmailMessage,
)
from nexus_connector_core.testing import FaultServer

TOKEN = "pm-switch-token-0f4e2a91c7"
#: Refused by every vendor: 550 from the SMTP server, suppressed at Postmark, and at the
#: domain the memory vendor refuses.
REFUSED = "gone@reject.example"

ORDER = {"number": "1042", "customer": "ada@example.com", "copy_to": REFUSED}
INVOICE = b"%PDF-1.7\n\x00\xff invoice 1042 \x01\x02"


# -- the application: knows the connector's name and category, never its vendor -------------


def confirmation(order: dict[str, str]) -> EmailMessage:
    return EmailMessage(
        sender="Shop <shop@example.com>",
        to=[order["customer"]],
        cc=[order["copy_to"]],
        subject=f"Order {order['number']} confirmed",
        text=f"Thank you, your order {order['number']} is on its way.",
        html=f"<p>Thank you, your order <b>{order['number']}</b> is on its way.</p>",
        attachments=[Attachment(f"invoice-{order['number']}.pdf", INVOICE, "application/pdf")],
    )


def send_confirmation(manager: ConnectorManager, order: dict[str, str]) -> dict[str, Any]:
    receipt = manager.connector("notifications", "email").send(confirmation(order))
    return {"id": receipt.vendor_id, "vendor": receipt.vendor, "refused": sorted(receipt.rejected)}


async def asend_confirmation(
    manager: AsyncConnectorManager, order: dict[str, str]
) -> dict[str, Any]:
    receipt = await manager.connector("notifications", "email").send(confirmation(order))
    return {"id": receipt.vendor_id, "vendor": receipt.vendor, "refused": sorted(receipt.rejected)}


# -- what each vendor received, in one shape ---------------------------------------------------


@dataclass(frozen=True)
class Arrived:
    recipients: frozenset[str]
    subject: str
    text: str
    html: str
    attachment: tuple[str, bytes]


class _Recorder:
    """aiosmtpd handler: refuses `REFUSED` with 550 and keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 2.0.0 Ok: queued"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _from_smtp(envelope: Envelope) -> Arrived:
    content = envelope.content
    assert isinstance(content, bytes)
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    (part,) = list(parsed.iter_attachments())
    return Arrived(
        recipients=frozenset(envelope.rcpt_tos),
        subject=str(parsed["Subject"]),
        text=_lines(text.get_content()),  # type: ignore[attr-defined]
        html=_lines(html.get_content()),  # type: ignore[attr-defined]
        attachment=(str(part.get_filename()), part.get_content()),  # type: ignore[attr-defined]
    )


def _lines(content: str) -> str:
    """A MIME part's text as given: SMTP carries CRLF line ends and a final line end."""
    return content.replace("\r\n", "\n").removesuffix("\n")


def _from_postmark(message: dict[str, Any]) -> Arrived:
    (attachment,) = message["Attachments"]
    addresses = f"{message['To']},{message['Cc']}".split(",")
    return Arrived(
        recipients=frozenset(a.strip() for a in addresses) - {REFUSED},
        subject=message["Subject"],
        text=message["TextBody"],
        html=message["HtmlBody"],
        attachment=(attachment["Name"], base64.b64decode(attachment["Content"])),
    )


def _from_memory(message: EmailMessage) -> Arrived:
    (attachment,) = message.attachments
    return Arrived(
        recipients=frozenset(a.email for a in message.recipients) - {REFUSED},
        subject=message.subject,
        text=message.text or "",
        html=message.html or "",
        attachment=(attachment.filename, attachment.content),
    )


EXPECTED = Arrived(
    recipients=frozenset({"ada@example.com"}),
    subject="Order 1042 confirmed",
    text="Thank you, your order 1042 is on its way.",
    html="<p>Thank you, your order <b>1042</b> is on its way.</p>",
    attachment=("invoice-1042.pdf", INVOICE),
)


# -- the three vendors -------------------------------------------------------------------------


@dataclass
class Vendor:
    table: str  # the [connectors.notifications] table, all that differs
    arrived: Callable[[Any], list[Arrived]]  # what the vendor got, given the manager


@pytest.fixture
def smtp_vendor() -> Iterator[Vendor]:
    recorder = _Recorder()
    controller = _Controller(recorder, hostname="127.0.0.1", port=0)
    controller.start()
    table = f"""
        vendor = "smtp"
        options = {{ host = "127.0.0.1", port = {controller.port}, tls = "none" }}
    """
    yield Vendor(table, lambda _: [_from_smtp(m) for m in recorder.messages])
    controller.stop()


@pytest.fixture
def postmark_vendor() -> Iterator[Vendor]:
    double = PostmarkDouble(server_token=TOKEN, inactive={REFUSED})
    with FaultServer(default=double) as server:
        table = f"""
            vendor = "postmark"
            credentials = {{ server_token = "env:SWITCH_POSTMARK_TOKEN" }}
            options = {{ base_url = "{server.url}" }}
        """
        yield Vendor(table, lambda _: [_from_postmark(m) for m in double.outbox])


@pytest.fixture
def memory_vendor() -> Vendor:
    def arrived(manager: Any) -> list[Arrived]:
        adapter = manager.connector("notifications", "email").adapter
        return [_from_memory(message) for message in adapter.outbox]

    return Vendor('vendor = "memory"', arrived)


@pytest.fixture(params=["smtp", "postmark", "memory"])
def vendor(request: pytest.FixtureRequest) -> Vendor:
    fixture: Vendor = request.getfixturevalue(f"{request.param}_vendor")
    return fixture


def _config(tmp_path: Path, vendor: Vendor) -> Path:
    path = tmp_path / "connectors.toml"
    path.write_text(f'[connectors.notifications]\ncategory = "email"\n{vendor.table}\n')
    return path


ENVIRON = {"SWITCH_POSTMARK_TOKEN": TOKEN}


def test_the_same_function_sends_through_each_vendor(tmp_path: Path, vendor: Vendor) -> None:
    with ConnectorManager.from_config(_config(tmp_path, vendor), environ=ENVIRON) as manager:
        result = send_confirmation(manager, ORDER)
        arrived = vendor.arrived(manager)

    assert arrived == [EXPECTED]
    assert result["refused"] == [REFUSED]
    assert isinstance(result["id"], str)
    assert result["id"]
    assert result["vendor"] in vendor.table


async def test_the_same_coroutine_sends_through_each_vendor(tmp_path: Path, vendor: Vendor) -> None:
    config = _config(tmp_path, vendor)
    async with AsyncConnectorManager.from_config(config, environ=ENVIRON) as manager:
        result = await asend_confirmation(manager, ORDER)
        arrived = vendor.arrived(manager)

    assert arrived == [EXPECTED]
    assert result["refused"] == [REFUSED]
    assert result["vendor"] in vendor.table


def test_rewriting_one_config_file_moves_the_mail(
    tmp_path: Path, smtp_vendor: Vendor, postmark_vendor: Vendor, memory_vendor: Vendor
) -> None:
    """One deployment's connectors.toml, edited between restarts: each message goes to
    the vendor the file names at the time, and only there."""
    sent: dict[str, list[Arrived]] = {}
    for vendor in (smtp_vendor, postmark_vendor, memory_vendor):
        with ConnectorManager.from_config(_config(tmp_path, vendor), environ=ENVIRON) as manager:
            result = send_confirmation(manager, ORDER)
            sent[result["vendor"]] = vendor.arrived(manager)
    assert sent == {"smtp": [EXPECTED], "postmark": [EXPECTED], "memory": [EXPECTED]}
