"""Sending a batch: one ``/email/batch`` request, one receipt per message, in order; a
message Postmark refuses gets a receipt of rejections instead of failing the batch."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_postmark.testing import PostmarkDouble

from nexus_connector_core import AuthenticationError, EmailMessage, InvalidRequestError
from nexus_connector_core.testing import FaultServer


def message(*to: str, subject: str = "Hi") -> EmailMessage:
    return EmailMessage(sender="shop@example.com", to=list(to), subject=subject, text="Hello")


def test_a_batch_is_one_request_with_one_receipt_per_message_in_order(
    make_manager: Any, postmark_server: FaultServer, postmark: PostmarkDouble
) -> None:
    batch = [message("ada@example.com", subject="1"), message("bob@example.com", subject="2")]
    receipt = make_manager().email.send_batch(batch)

    [request] = postmark_server.requests
    assert (request.method, request.path) == ("POST", "/email/batch")
    assert request.headers["x-postmark-server-token"] == postmark.server_token
    assert request.json() == [
        {"From": "shop@example.com", "To": "ada@example.com", "Subject": "1", "TextBody": "Hello"},
        {"From": "shop@example.com", "To": "bob@example.com", "Subject": "2", "TextBody": "Hello"},
    ]
    assert receipt.vendor == "postmark"
    assert [r.vendor_id for r in receipt.receipts] == [m["MessageID"] for m in postmark.outbox]
    assert [list(r.recipients) for r in receipt.receipts] == [
        ["ada@example.com"],
        ["bob@example.com"],
    ]
    assert receipt.raw == [r.raw for r in receipt.receipts]


def test_a_message_postmark_refuses_gets_rejected_recipients_and_the_others_go_out(
    make_manager: Any, postmark: PostmarkDouble
) -> None:
    too_many = [f"r{i}@example.com" for i in range(51)]
    batch = [
        message("ada@example.com"),
        message("bounced@example.com", "complained@example.com"),
        message(*too_many),
    ]
    receipt = make_manager().email.send_batch(batch)

    sent, inactive, refused = receipt.receipts
    assert sent.recipients["ada@example.com"].status == "queued"
    assert inactive.vendor_id == ""
    assert {s.status for s in inactive.recipients.values()} == {"rejected"}
    reason = inactive.recipients["bounced@example.com"].reason
    assert reason is not None
    assert reason.startswith("ErrorCode 406: ")
    assert "bounced@example.com, complained@example.com" in reason
    assert len(refused.rejected) == 51
    assert str(refused.rejected["r0@example.com"].reason).startswith("ErrorCode 300: ")
    assert [m["To"] for m in postmark.outbox] == ["ada@example.com"]


def test_an_empty_batch_sends_nothing(make_manager: Any, postmark_server: FaultServer) -> None:
    receipt = make_manager().email.send_batch([])

    assert list(receipt.receipts) == []
    assert postmark_server.hits == 0


def test_more_than_500_messages_are_refused_before_anything_is_sent(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        make_manager().email.send_batch([message("ada@example.com")] * 501)

    assert caught.value.code == "batch_too_large"
    assert postmark_server.hits == 0


def test_an_error_of_the_whole_request_fails_the_batch(make_manager: Any) -> None:
    with pytest.raises(AuthenticationError):
        make_manager(token="pm-not-the-right-token").email.send_batch([message("ada@example.com")])


async def test_the_async_adapter_sends_batches_too(
    make_manager: Any, postmark: PostmarkDouble
) -> None:
    receipt = await make_manager(async_=True).email.send_batch(
        [message("ada@example.com"), message("bounced@example.com")]
    )

    assert [r.vendor_id for r in receipt.receipts] == [postmark.outbox[0]["MessageID"], ""]
    assert receipt.receipts[1].rejected["bounced@example.com"].status == "rejected"
