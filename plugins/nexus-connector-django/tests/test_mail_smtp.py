"""EmailBackend with the SMTP plugin: the demo shop's mail, sent by Django's mail API, arrives
intact at a real SMTP server (the SMTP plugin's aiosmtpd double on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.message import EmailMessage as MimeMessage
from typing import Any

import pytest
from demo_shop.views import INVOICE, LOGO
from django.core.mail import send_mail
from django.test import Client
from nexus_connector_smtp.testing import SmtpDouble


@pytest.fixture
def smtp(nexus_settings: Callable[..., None]) -> Iterator[SmtpDouble]:
    with SmtpDouble() as server:
        email = server.connector() | {"resilience": {"retry": {"enabled": False}}}
        nexus_settings({"connectors": {"email": email}})
        yield server


def _parts(message: MimeMessage) -> dict[str, Any]:
    """Each leaf part's content type, disposition, file name, Content-ID and bytes."""
    return {
        part.get_content_type(): (
            part.get_content_disposition(),
            part.get_filename(),
            part.get("Content-ID"),
            part.get_payload(decode=True),
        )
        for part in message.walk()
        if not part.is_multipart()
    }


def test_send_mail_arrives_at_the_smtp_server(smtp: SmtpDouble) -> None:
    sent = send_mail("Welcome", "Thanks for signing up.", None, ["ada@example.com"])

    [delivery] = smtp.outbox
    assert sent == 1
    assert delivery.sender == "shop@example.com"
    assert delivery.recipients == ("ada@example.com",)
    assert delivery.message["Subject"] == "Welcome"
    assert delivery.message["From"] == "Demo Shop <shop@example.com>"
    body = delivery.message.get_body(("plain",))
    assert body is not None
    assert body.get_content().rstrip("\r\n") == "Thanks for signing up."


def test_the_order_mail_with_html_an_attachment_and_an_inline_image_arrives_intact(
    smtp: SmtpDouble, client: Client
) -> None:
    response = client.post("/orders/7/confirm/")

    [delivery] = smtp.outbox
    message = delivery.message
    assert response.status_code == 200
    assert response.json()["recipients"] == {
        "ada@example.com": "queued",  # an SMTP server's 250: taken for delivery
        "orders@example.com": "queued",
        "audit@example.com": "queued",
    }
    assert response.json()["id"] == message["Message-ID"]
    assert delivery.recipients == ("ada@example.com", "orders@example.com", "audit@example.com")
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["Cc"] == "orders@example.com"
    assert message["Bcc"] is None  # in the envelope only
    assert message["Reply-To"] == "support@example.com"
    assert message["X-Order-Id"] == "7"
    parts = _parts(message)
    assert parts["text/plain"][3].decode().rstrip("\r\n") == "Order 7 ships today."
    assert b'<img src="cid:logo">' in parts["text/html"][3]
    assert parts["application/pdf"] == ("attachment", "invoice-7.pdf", None, INVOICE)
    assert parts["image/png"] == ("inline", "logo.png", "<logo>", LOGO)
