"""Sending one message: what reaches Postmark, byte for byte, and what the receipt says."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from nexus_connector_postmark import PostmarkOptions
from nexus_connector_postmark.testing import PostmarkDouble

from nexus_connector_core import Attachment, EmailMessage, InvalidRequestError
from nexus_connector_core.testing import Fault, FaultServer

PDF = b"%PDF-1.7\n\x00\xff binary \x01\x02"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def full_message() -> EmailMessage:
    return EmailMessage(
        sender="Ada's Shop <shop@example.com>",
        to=["ada@example.com", "Lovelace, Ada <ada.l@example.com>"],
        cc=["Accounts <accounts@example.com>"],
        bcc=["audit@example.com"],
        reply_to=["Support <support@example.com>"],
        subject="Your order #1042 — shipped",
        text="Shipped today. Grüße!",
        html='<p>Shipped today.</p><img src="cid:logo.png">',
        headers={"X-Order-Id": "1042", "List-Unsubscribe": "<mailto:unsub@example.com>"},
        tags=["order-shipped"],
        metadata={"order": "1042", "customer": "c_77"},
        attachments=[
            Attachment("invoice.pdf", PDF, "application/pdf"),
            Attachment("logo.png", PNG, "image/png", inline=True),
        ],
    )


def test_a_message_reaches_postmark_exactly_as_its_api_documents(
    make_manager: Any, postmark_server: FaultServer, postmark: PostmarkDouble
) -> None:
    make_manager().email.send(full_message())

    [request] = postmark_server.requests
    assert (request.method, request.path) == ("POST", "/email")
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-postmark-server-token"] == postmark.server_token
    assert request.json() == {
        "From": "Ada's Shop <shop@example.com>",
        "To": 'ada@example.com, "Lovelace, Ada" <ada.l@example.com>',
        "Cc": "Accounts <accounts@example.com>",
        "Bcc": "audit@example.com",
        "Subject": "Your order #1042 — shipped",
        "TextBody": "Shipped today. Grüße!",
        "HtmlBody": '<p>Shipped today.</p><img src="cid:logo.png">',
        "ReplyTo": "Support <support@example.com>",
        "Headers": [
            {"Name": "X-Order-Id", "Value": "1042"},
            {"Name": "List-Unsubscribe", "Value": "<mailto:unsub@example.com>"},
        ],
        "Tag": "order-shipped",
        "Metadata": {"order": "1042", "customer": "c_77"},
        "Attachments": [
            {
                "Name": "invoice.pdf",
                "Content": base64.b64encode(PDF).decode(),
                "ContentType": "application/pdf",
            },
            {
                "Name": "logo.png",
                "Content": base64.b64encode(PNG).decode(),
                "ContentType": "image/png",
                "ContentID": "cid:logo.png",
            },
        ],
    }


def test_attachments_arrive_with_their_bytes_intact(
    make_manager: Any, postmark: PostmarkDouble
) -> None:
    make_manager().email.send(full_message())

    [accepted] = postmark.outbox
    decoded = [base64.b64decode(a["Content"]) for a in accepted["Attachments"]]
    assert decoded == [PDF, PNG]


def test_a_given_content_id_names_the_inline_part(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    image = Attachment("logo.png", PNG, "image/png", inline=True, content_id="<brand-logo>")
    message = EmailMessage(
        sender="shop@example.com", to=["ada@example.com"], html="<img>", attachments=[image]
    )
    make_manager().email.send(message)

    assert postmark_server.requests[0].json()["Attachments"][0]["ContentID"] == "cid:brand-logo"


def test_the_receipt_carries_the_message_id_and_queues_every_recipient(
    make_manager: Any, postmark: PostmarkDouble
) -> None:
    receipt = make_manager().email.send(full_message())

    message_id = postmark.outbox[0]["MessageID"]
    assert receipt.vendor == "postmark"
    assert receipt.vendor_id == message_id
    assert (receipt.raw["MessageID"], receipt.raw["ErrorCode"]) == (message_id, 0)
    assert {email: s.status for email, s in receipt.recipients.items()} == {
        "ada@example.com": "queued",
        "ada.l@example.com": "queued",
        "accounts@example.com": "queued",
        "audit@example.com": "queued",
    }
    assert {s.vendor_id for s in receipt.recipients.values()} == {message_id}


def test_recipients_postmark_names_inactive_are_rejected_with_its_words(
    make_manager: Any, postmark: PostmarkDouble
) -> None:
    message = EmailMessage(
        sender="shop@example.com",
        to=["ada@example.com", "Bounced@Example.com"],
        subject="Hi",
        text="Hello",
    )
    receipt = make_manager().email.send(message)

    assert receipt.recipients["ada@example.com"].status == "queued"
    rejected = receipt.rejected["Bounced@Example.com"]
    assert rejected.status == "rejected"
    assert "inactive addresses: bounced@example.com" in str(rejected.reason)
    assert [m["To"] for m in postmark.outbox] == ["ada@example.com, Bounced@Example.com"]


def test_options_set_the_message_stream_and_tracking_of_every_message(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    options = {"message_stream": "broadcast", "track_opens": True, "track_links": "HtmlOnly"}
    manager = make_manager(options=options)
    manager.email.send(EmailMessage(sender="a@example.com", to=["b@example.com"], html="<p>"))

    sent = postmark_server.requests[0].json()
    assert (sent["MessageStream"], sent["TrackOpens"], sent["TrackLinks"]) == (
        "broadcast",
        True,
        "HtmlOnly",
    )


def test_settings_left_out_are_left_out_of_the_request(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    make_manager().email.send(EmailMessage(sender="a@example.com", to=["b@example.com"], text="x"))

    assert postmark_server.requests[0].json() == {
        "From": "a@example.com",
        "To": "b@example.com",
        "TextBody": "x",
    }


def test_the_base_url_defaults_to_postmarks_api() -> None:
    assert PostmarkOptions().base_url == "https://api.postmarkapp.com"


def test_base_url_replaces_the_origin_and_postmarks_paths_are_appended(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    accepted = {
        "To": "b@example.com",
        "SubmittedAt": "2026-01-01T00:00:00.1234567-05:00",
        "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
        "ErrorCode": 0,
        "Message": "OK",
    }
    with FaultServer(default=Fault.respond(200, accepted)) as proxy:
        manager = make_manager(base_url=f"{proxy.url}/postmark-proxy")
        receipt = manager.email.send(
            EmailMessage(sender="a@example.com", to=["b@example.com"], text="x")
        )

    assert [(r.method, r.path) for r in proxy.requests] == [("POST", "/postmark-proxy/email")]
    assert receipt.vendor_id == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
    assert postmark_server.hits == 0


def test_more_than_one_tag_is_refused_before_anything_is_sent(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    message = EmailMessage(
        sender="a@example.com", to=["b@example.com"], text="x", tags=["one", "two"]
    )
    with pytest.raises(InvalidRequestError) as caught:
        make_manager().email.send(message)

    assert caught.value.code == "too_many_tags"
    assert caught.value.maybe_processed is False
    assert postmark_server.hits == 0


async def test_the_async_adapter_sends_the_same_request_and_reads_the_same_receipt(
    make_manager: Any, postmark_server: FaultServer, postmark: PostmarkDouble
) -> None:
    manager = make_manager(async_=True)
    receipt = await manager.email.send(full_message())

    sync_manager = make_manager()
    sync_manager.email.send(full_message())
    first, second = (r.json() for r in postmark_server.requests)
    assert first == second
    assert receipt.vendor_id == postmark.outbox[0]["MessageID"]
    assert set(receipt.recipients) == {
        "ada@example.com",
        "ada.l@example.com",
        "accounts@example.com",
        "audit@example.com",
    }
