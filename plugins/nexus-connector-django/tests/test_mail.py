"""EmailBackend: Django's mail API through the email connector's pipeline, here served by the
memory vendor (its outbox holds what it accepted, its ``calls`` what it was asked)."""

from __future__ import annotations

from email.mime.image import MIMEImage
from typing import Any

import pytest
from demo_shop.views import INVOICE, LOGO
from django.core import mail
from django.core.mail import EmailMessage as DjangoEmailMessage, EmailMultiAlternatives
from nexus_connector_django import manager

from nexus_connector_core import (
    Attachment,
    ConnectorError,
    EmailAddress,
    InvalidRequestError,
    VendorUnavailableError,
)

pytestmark = pytest.mark.usefixtures("memory_email")


def adapter(name: str = "email") -> Any:
    return manager().connector(name).adapter


def test_send_mail_goes_through_the_email_connector_and_gets_its_receipt() -> None:
    sent = mail.send_mail("Welcome", "Thanks for signing up.", None, ["ada@example.com"])

    [message] = adapter().outbox
    assert sent == 1
    assert (message.subject, message.text, message.html) == (
        "Welcome",
        "Thanks for signing up.",
        None,
    )
    assert message.sender == EmailAddress("shop@example.com", "Demo Shop")  # DEFAULT_FROM_EMAIL
    assert message.to == (EmailAddress("ada@example.com"),)
    assert [op for op, _ in adapter().calls] == ["send"]


def test_the_receipt_with_each_recipients_status_is_attached_to_the_django_message() -> None:
    message = DjangoEmailMessage("Hi", "Hello", to=["ada@example.com", "bob@reject.example"])

    assert message.send() == 1

    receipt = message.nexus_receipt  # type: ignore[attr-defined]
    assert receipt.vendor == "memory"
    assert {a: s.status for a, s in receipt.recipients.items()} == {
        "ada@example.com": "sent",
        "bob@reject.example": "rejected",
    }


def test_multi_alternatives_with_attachments_cc_bcc_reply_to_and_headers_arrive_as_given() -> None:
    django_message = EmailMultiAlternatives(
        "Order 7 confirmed",
        "Order 7 ships today.",
        "Shop <shop@example.com>",
        ["Ada Lovelace <ada@example.com>"],
        cc=["orders@example.com"],
        bcc=["audit@example.com"],
        reply_to=["support@example.com"],
        headers={"X-Order-Id": "7", "Message-ID": "<order-7@shop.example.com>"},
    )
    django_message.attach_alternative('<p>Order 7</p><img src="cid:logo">', "text/html")
    django_message.attach("invoice-7.pdf", INVOICE, "application/pdf")
    django_message.attach("notes.txt", "Größe: 42", "text/plain")
    logo = MIMEImage(LOGO, "png")
    logo.add_header("Content-ID", "<logo>")
    django_message.attach(logo)

    assert django_message.send() == 1

    [message] = adapter().outbox
    assert message.text == "Order 7 ships today."
    assert message.html == '<p>Order 7</p><img src="cid:logo">'
    assert message.to == (EmailAddress("ada@example.com", "Ada Lovelace"),)
    assert message.cc == (EmailAddress("orders@example.com"),)
    assert message.bcc == (EmailAddress("audit@example.com"),)
    assert message.reply_to == (EmailAddress("support@example.com"),)
    assert dict(message.headers) == {"X-Order-Id": "7", "Message-ID": "<order-7@shop.example.com>"}
    assert list(message.attachments) == [
        Attachment("invoice-7.pdf", INVOICE, "application/pdf"),
        Attachment("notes.txt", "Größe: 42".encode(), "text/plain; charset=utf-8"),
        Attachment("logo.png", LOGO, "image/png", inline=True, content_id="<logo>"),
    ]


def test_an_html_only_message_is_sent_as_html() -> None:
    django_message = DjangoEmailMessage("Hi", "<p>Hello</p>", to=["ada@example.com"])
    django_message.content_subtype = "html"

    django_message.send()

    [message] = adapter().outbox
    assert (message.text, message.html) == (None, "<p>Hello</p>")


def test_tags_and_metadata_set_on_the_django_message_are_sent() -> None:
    django_message = DjangoEmailMessage("Hi", "Hello", to=["ada@example.com"])
    django_message.tags = ["welcome"]  # type: ignore[attr-defined]
    django_message.metadata = {"user_id": 42}  # type: ignore[attr-defined]

    django_message.send()

    [message] = adapter().outbox
    assert (tuple(message.tags), dict(message.metadata)) == (("welcome",), {"user_id": "42"})


def test_send_messages_sends_several_as_one_batch_with_a_receipt_each() -> None:
    messages = [
        DjangoEmailMessage(f"Hi {n}", "Hello", to=[f"user{n}@example.com"]) for n in range(3)
    ]

    with mail.get_connection() as connection:
        sent = connection.send_messages(messages)

    assert sent == 3
    [(operation, batch)] = adapter().calls
    assert operation == "send_batch"
    assert [m.subject for m in batch.messages] == ["Hi 0", "Hi 1", "Hi 2"]
    ids = [m.nexus_receipt.vendor_id for m in messages]  # type: ignore[attr-defined]
    assert len(set(ids)) == 3


def test_send_mass_mail_is_a_batch_too() -> None:
    sent = mail.send_mass_mail(
        [("A", "a", None, ["ada@example.com"]), ("B", "b", None, ["bob@example.com"])]
    )

    assert sent == 2
    assert [op for op, _ in adapter().calls] == ["send_batch"]


def test_a_batch_message_all_of_whose_recipients_were_refused_raises_after_the_rest_went() -> None:
    good = DjangoEmailMessage("A", "a", to=["ada@example.com"])
    refused = DjangoEmailMessage("B", "b", to=["nobody@reject.example"])

    with pytest.raises(InvalidRequestError, match="message 2 of 2") as raised:
        mail.get_connection().send_messages([good, refused])

    assert raised.value.code == "all_recipients_rejected"
    assert [m.subject for m in adapter().outbox] == ["A"]
    assert refused.nexus_receipt.rejected  # type: ignore[attr-defined]
    assert mail.get_connection(fail_silently=True).send_messages([good, refused]) == 1


@pytest.mark.parametrize("email_options", [{"fail_first": 1}])
def test_an_outage_raises_the_connectors_error() -> None:
    with pytest.raises(VendorUnavailableError):
        mail.send_mail("Hi", "Hello", None, ["ada@example.com"])


@pytest.mark.parametrize("email_options", [{"fail_first": 1}])
def test_fail_silently_swallows_an_outage_and_counts_nothing_sent() -> None:
    failed = mail.send_mail("Hi", "Hello", None, ["ada@example.com"], fail_silently=True)
    recovered = mail.send_mail("Hi", "Hello", None, ["ada@example.com"], fail_silently=True)

    assert (failed, recovered) == (0, 1)
    assert len(adapter().calls) == 2


def test_a_message_that_cannot_be_sent_as_given_is_refused_before_anything_is_sent() -> None:
    calendar = EmailMultiAlternatives("Invite", "Join us", to=["ada@example.com"])
    calendar.attach_alternative("BEGIN:VCALENDAR", "text/calendar")
    header = DjangoEmailMessage(
        "Hi", "x", to=["ada@example.com"], headers={"To": "all@example.com"}
    )

    with pytest.raises(ValueError, match=r"alternatives\[0\] \(text/calendar\)"):
        mail.get_connection().send_messages(
            [DjangoEmailMessage("ok", "x", to=["a@example.com"]), calendar]
        )
    with pytest.raises(ValueError, match="'To'"):
        header.send()
    assert adapter().calls == []


def test_a_message_without_recipients_is_skipped_as_djangos_smtp_backend_does() -> None:
    assert DjangoEmailMessage("Hi", "x", to=[]).send() == 0
    assert adapter().calls == []


def test_another_email_connector_is_chosen_by_name(nexus_settings: Any) -> None:
    connectors = {
        "email": {"vendor": "memory"},
        "marketing": {"vendor": "memory", "category": "email"},
    }
    nexus_settings({"connectors": connectors}, email_connector="marketing")

    mail.send_mail("Default", "x", None, ["ada@example.com"])
    with mail.get_connection(connector="email") as connection:
        connection.send_messages([DjangoEmailMessage("Chosen", "x", to=["ada@example.com"])])

    assert [m.subject for m in adapter("marketing").outbox] == ["Default"]
    assert [m.subject for m in adapter("email").outbox] == ["Chosen"]


def test_fail_silently_does_not_hide_a_missing_email_connector(
    nexus_settings: Any,
) -> None:
    nexus_settings({"connectors": {"email": {"vendor": "memory"}}}, email_connector="mail")

    with pytest.raises(ConnectorError, match="no connector named 'mail'"):
        mail.send_mail("Hi", "x", None, ["ada@example.com"], fail_silently=True)
