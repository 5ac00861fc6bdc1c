"""What reaches an SMTP server, over each kind of connection, and what the receipt says."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from nexus_connector_core import Attachment, EmailMessage, InvalidRequestError

RICH = EmailMessage(
    sender="Zoë Shop <shop@example.com>",
    to=["Ada Lovelace <ada@example.com>", "bob@example.com"],
    cc=["cy@example.com"],
    bcc=["audit@example.com"],
    reply_to=["help@example.com"],
    subject="Your order #1042 ✓",
    text="Hello Ada,\nyour order has shipped.\n",
    html="<p>Hello Ada,<br>your order has <b>shipped</b>.</p>",
    attachments=[
        Attachment("invoice.pdf", b"%PDF-1.7\n\x00\x01\x02\xff" * 500, "application/pdf"),
        Attachment("every-byte.bin", bytes(range(256))),
    ],
    headers={"X-Order": "1042", "List-Unsubscribe": "<mailto:stop@example.com>"},
)


async def test_a_message_arrives_intact_over_starttls_with_auth(
    caller: Any, starttls_server: Any, received: Any
) -> None:
    receipt = await caller.send(starttls_server.connector(), RICH)

    [delivered] = starttls_server.outbox
    assert (delivered.tls, delivered.login) == (True, "mailer")
    assert delivered.sender == "shop@example.com"
    assert delivered.recipients == (
        "ada@example.com",
        "bob@example.com",
        "cy@example.com",
        "audit@example.com",
    )
    [got] = received(starttls_server)
    assert (got.sender.name, got.subject) == ("Zoë Shop", "Your order #1042 ✓")
    assert got.text == RICH.text
    assert (got.html or "").rstrip("\n") == RICH.html
    assert {(a.filename, a.content_type, a.content) for a in got.attachments} == {
        ("invoice.pdf", "application/pdf", RICH.attachments[0].content),
        ("every-byte.bin", "application/octet-stream", bytes(range(256))),
    }
    assert (got.headers["x-order"], got.headers["message-id"]) == (
        "1042",
        receipt.vendor_id,
    )
    assert "bcc" not in got.headers


async def test_the_receipt_is_keyed_by_message_id_with_the_servers_reply(
    caller: Any, starttls_server: Any
) -> None:
    receipt = await caller.send(starttls_server.connector(), RICH)

    assert receipt.vendor == "smtp"
    assert receipt.vendor_id.startswith("<")
    assert receipt.vendor_id.endswith("@example.com>")
    assert {s.status for s in receipt.recipients.values()} == {"queued"}
    assert {s.vendor_id for s in receipt.recipients.values()} == {receipt.vendor_id}
    assert receipt.raw["reply"].startswith("250 2.0.0 Ok: queued as Q")
    assert caller.records[-1].vendor_status_code == 250


async def test_implicit_tls_with_auth_delivers(caller: Any, implicit_server: Any) -> None:
    await caller.send(implicit_server.connector(), RICH)

    [delivered] = implicit_server.outbox
    assert delivered.login == "mailer"


async def test_a_plain_server_without_auth_delivers(caller: Any, plain_server: Any) -> None:
    await caller.send(plain_server.connector(), RICH)

    [delivered] = plain_server.outbox
    assert (delivered.tls, delivered.login) == (False, None)


async def test_auth_login_is_used_when_the_server_offers_no_plain(
    caller: Any, start_server: Any
) -> None:
    server = start_server("starttls", auth_exclude_mechanism=["PLAIN"])

    await caller.send(server.connector(), RICH)

    assert [d.login for d in server.outbox] == ["mailer"]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_non_ascii_credentials_log_in_encoded_as_utf8(
    caller: Any, start_server: Any, mechanism: str
) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=True, auth_data=data)

    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    server = start_server("starttls", authenticator=authenticator, auth_exclude_mechanism=[other])
    table = server.connector()
    table["credentials"] = {"username": "literal:zoë", "password": "literal:pässwörd-✓-42"}

    await caller.send(table, RICH)

    assert logins == [("zoë".encode(), "pässwörd-✓-42".encode())]
    assert [d.login for d in server.outbox] == ["zoë"]


async def test_an_unverified_certificate_is_accepted_only_when_validation_is_off(
    caller: Any, starttls_server: Any
) -> None:
    table = starttls_server.connector(ca_file=None, validate_certs=False)

    await caller.send(table, RICH)

    assert len(starttls_server.outbox) == 1


async def test_an_inline_image_is_related_to_the_html_with_its_content_id(
    caller: Any, plain_server: Any
) -> None:
    logo = Attachment("logo.png", b"\x89PNG\r\n", "image/png", inline=True, content_id="logo")
    message = EmailMessage(
        sender="shop@example.com",
        to=["ada@example.com"],
        text="Logo attached",
        html='<img src="cid:logo">',
        attachments=[logo],
    )

    await caller.send(plain_server.connector(), message)

    mime = email.message_from_bytes(plain_server.outbox[0].content, policy=email.policy.default)
    html = mime.get_body(("html",))
    related = next(p for p in mime.walk() if p.get_content_type() == "multipart/related")
    image = next(p for p in mime.walk() if p.get_content_type() == "image/png")
    assert html in related.get_payload()
    assert (image["Content-ID"], image.get_content_disposition()) == ("<logo>", "inline")


@pytest.mark.parametrize(
    ("text", "order", "tree"),
    [
        (None, ["pdf", "logo"], ["mixed", "related", "html", "png", "pdf"]),
        (None, ["logo", "pdf"], ["mixed", "related", "html", "png", "pdf"]),
        (
            "Logo",
            ["pdf", "logo"],
            ["mixed", "alternative", "plain", "related", "html", "png", "pdf"],
        ),
    ],
    ids=["html-pdf-then-logo", "html-logo-then-pdf", "text-and-html-pdf-then-logo"],
)
async def test_inline_images_are_related_to_the_html_whatever_the_attachment_order(
    caller: Any, plain_server: Any, text: str | None, order: list[str], tree: list[str]
) -> None:
    attachments = {
        "pdf": Attachment("terms.pdf", b"%PDF-1.7", "application/pdf"),
        "logo": Attachment("logo.png", b"\x89PNG\r\n", "image/png", inline=True, content_id="logo"),
    }
    message = EmailMessage(
        sender="shop@example.com",
        to=["ada@example.com"],
        text=text,
        html='<img src="cid:logo">',
        attachments=[attachments[name] for name in order],
    )

    await caller.send(plain_server.connector(), message)

    mime = email.message_from_bytes(plain_server.outbox[0].content, policy=email.policy.default)
    assert [part.get_content_subtype() for part in mime.walk()] == tree
    image = next(p for p in mime.walk() if p.get_content_type() == "image/png")
    assert (image["Content-ID"], image.get_content_disposition()) == ("<logo>", "inline")


@pytest.mark.parametrize("attachments", [[], [Attachment("a.txt", b"a", "text/plain")]])
async def test_a_custom_content_header_arrives_on_the_message(
    caller: Any, plain_server: Any, received: Any, attachments: list[Attachment]
) -> None:
    message = EmailMessage(
        sender="shop@example.com",
        to=["ada@example.com"],
        text="Bonjour",
        attachments=attachments,
        headers={"Content-Language": "fr", "X-Order": "1042"},
    )

    await caller.send(plain_server.connector(), message)

    [got] = received(plain_server)
    assert (got.headers["content-language"], got.headers["x-order"]) == ("fr", "1042")
    assert _body_text(plain_server.outbox[0].content) == "Bonjour"


async def test_a_custom_content_transfer_encoding_is_refused_before_connecting(
    caller: Any, plain_server: Any
) -> None:
    message = EmailMessage(
        sender="shop@example.com",
        to=["ada@example.com"],
        text="Hi",
        headers={"Content-Transfer-Encoding": "base64"},
    )

    with pytest.raises(InvalidRequestError) as raised:
        await caller.send(plain_server.connector(), message)

    assert raised.value.code == "invalid_message"
    assert "Content-Transfer-Encoding" in str(raised.value)
    assert plain_server.connections == 0


def _body_text(content: bytes) -> str:
    mime = email.message_from_bytes(content, policy=email.policy.default)
    body = mime.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).strip()


async def test_a_non_ascii_envelope_address_is_refused_before_connecting(
    caller: Any, plain_server: Any
) -> None:
    message = EmailMessage(sender="shop@example.com", to=["zoë@example.com"], text="Hi")

    with pytest.raises(InvalidRequestError) as raised:
        await caller.send(plain_server.connector(), message)

    assert raised.value.code == "smtputf8_unsupported"
    assert plain_server.connections == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Date": "next Tuesday"},  # would go out as an empty Date
        {"Resent-To": "ada@example.com, bob <<"},  # would go out cut after ada
        {"Content-Disposition": 'inline; filename="a'},
    ],
)
async def test_a_custom_header_the_library_would_rewrite_is_refused_before_connecting(
    caller: Any, plain_server: Any, headers: dict[str, str]
) -> None:
    message = EmailMessage(
        sender="shop@example.com", to=["ada@example.com"], text="Hi", headers=headers
    )

    with pytest.raises(InvalidRequestError) as raised:
        await caller.send(plain_server.connector(), message)

    [name] = headers
    assert raised.value.code == "invalid_message"
    assert f"EmailMessage.headers[{name!r}]" in str(raised.value)
    assert plain_server.connections == 0
