"""Replies that are no SMTP reply, and 2yz replies other than 250, against a raw-socket
server on 127.0.0.1 that sends them byte for byte (``scripted_server``), with the sync and
the async adapter.

Once the content went out, a reply that cannot be read is no refusal: the server may have
the message. Any 2yz to the content is the server taking it. A reply that cannot be read
puts the connection out of step, so it is dropped (aiosmtplib would otherwise hand the same
bad line out again as the answer to every later command).
"""

from __future__ import annotations

from typing import Any

import pytest

from nexus_connector_core import EmailMessage, VendorUnavailableError

RETRY = {"retry": {"max_attempts": 3, "base": 0.01, "jitter": "none"}}
ADA = "ada@example.com"
MESSAGE = EmailMessage(sender="shop@example.com", to=[ADA], subject="Hi", text="Hello")

#: Replies that are no SMTP reply.
UNREADABLE = {
    "garbled": b"garbage\r\n",
    "empty": b"\r\n",
    "no code": b"OK queued\r\n",
    "short code": b"25 ok\r\n",
    "space before the code": b" 250 ok\r\n",
    "signed code": b"+25 ok\r\n",
    "code out of range": b"650 ok\r\n",
    "garbled continuation": b"250-first\r\nsecond\r\n",
    "line too long": b"250 " + b"x" * 9000 + b"\r\n",
}


def messages(count: int) -> list[EmailMessage]:
    return [
        EmailMessage(
            sender="shop@example.com",
            to=[f"customer{i}@example.com"],
            subject=f"Order {i}",
            text=f"Order {i} has shipped.",
        )
        for i in range(count)
    ]


def subjects(server: Any) -> list[str]:
    return [line for c in server.received for line in c.decode().splitlines() if "Subject" in line]


# -- after the content: maybe processed, never "refused" ---------------------------------------


@pytest.mark.parametrize("reply", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_an_unreadable_reply_to_the_content_is_maybe_processed_and_not_retried(
    caller: Any, scripted_server: Any, reply: bytes
) -> None:
    scripted_server.answer("content", reply)

    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send(scripted_server.connector(), MESSAGE, resilience=RETRY)

    error = raised.value
    assert error.maybe_processed is True
    assert "unreadable reply" in str(error)
    assert "may have accepted the message" in str(error)
    assert caller.records[-1].attempts == 1
    assert len(scripted_server.received) == 1


async def test_a_3yz_to_the_content_is_no_answer_and_maybe_processed(
    caller: Any, scripted_server: Any
) -> None:
    scripted_server.answer("content", b"354 go ahead\r\n")

    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send(scripted_server.connector(), MESSAGE, resilience=RETRY)

    assert raised.value.maybe_processed is True
    assert caller.records[-1].attempts == 1


@pytest.mark.parametrize("reply", [b"251 2.1.5 will forward\r\n", b"200 ok\r\n", b"252 ok\r\n"])
async def test_any_2yz_to_the_content_is_the_server_taking_the_message(
    caller: Any, scripted_server: Any, reply: bytes
) -> None:
    scripted_server.answer("content", reply)

    receipt = await caller.send(scripted_server.connector(), MESSAGE)

    assert receipt.recipients[ADA].status == "queued"
    assert receipt.raw["reply"] == reply.decode().strip()


@pytest.mark.parametrize("step", ["mail", "rcpt"])
async def test_any_2yz_to_the_sender_or_a_recipient_lets_the_message_go(
    caller: Any, scripted_server: Any, step: str
) -> None:
    scripted_server.answer(step, b"252 2.1.5 cannot verify, will try\r\n")

    receipt = await caller.send(scripted_server.connector(), MESSAGE)

    assert receipt.recipients[ADA].status == "queued"
    assert len(scripted_server.received) == 1


# -- before the content: nothing was sent, so it is retried ------------------------------------


@pytest.mark.parametrize("step", ["greeting", "ehlo", "mail", "rcpt", "data"])
async def test_an_unreadable_reply_before_the_content_is_retried_by_both_twins(
    caller: Any, scripted_server: Any, step: str
) -> None:
    scripted_server.answer(step, b"garbage\r\n")

    receipt = await caller.send(scripted_server.connector(), MESSAGE, resilience=RETRY)

    assert receipt.recipients[ADA].status == "queued"
    assert caller.records[-1].attempts == 2
    assert scripted_server.connections == 2
    assert len(scripted_server.received) == 1


@pytest.mark.parametrize("step", ["greeting", "ehlo"])
async def test_a_garbled_greeting_or_ehlo_is_unavailable_and_unprocessed_in_both_twins(
    caller: Any, scripted_server: Any, step: str
) -> None:
    scripted_server.answer(step, b"\x00\x01 nonsense\r\n")

    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send(scripted_server.connector(), MESSAGE)

    error = raised.value
    assert (type(error), error.retryable, error.maybe_processed) == (
        VendorUnavailableError,
        True,
        False,
    )
    assert "not an SMTP reply" in str(error)


async def test_a_reply_of_endless_continuation_lines_is_cut_off_as_unreadable(
    caller: Any, scripted_server: Any
) -> None:
    scripted_server.answer("content", b"250-more\r\n" * 5000 + b"250 done\r\n")

    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send(scripted_server.connector(), MESSAGE)

    assert raised.value.maybe_processed is True


# -- in a batch: the connection is dropped and the rest go over a new one ----------------------


async def test_an_unreadable_reply_to_a_batch_message_marks_it_unknown_not_rejected(
    caller: Any, scripted_server: Any
) -> None:
    scripted_server.answer("content", b"garbage\r\n")

    batch = await caller.send_batch(scripted_server.connector(), messages(3), resilience=RETRY)

    first, *rest = batch.receipts
    status = first.recipients["customer0@example.com"]
    assert (status.status, first.rejected) == ("unknown", {})
    assert list(first.unknown) == ["customer0@example.com"]
    assert "may have accepted the message" in (status.reason or "")
    assert first.raw["unknown"] == ["customer0@example.com"]
    assert [r.recipients[f"customer{i}@example.com"].status for i, r in enumerate(rest, 1)] == [
        "queued",
        "queued",
    ]
    assert caller.records[-1].attempts == 1


async def test_a_malformed_reply_breaks_the_connection_so_the_next_message_is_really_sent(
    caller: Any, scripted_server: Any
) -> None:
    # aiosmtplib kept the bad line and read it again as the answer to message 2's MAIL
    # FROM: message 2 was reported rejected though it never went out.
    scripted_server.answer("content", b"garbage\r\n")

    batch = await caller.send_batch(scripted_server.connector(), messages(2))

    assert batch.receipts[1].recipients["customer1@example.com"].status == "queued"
    assert subjects(scripted_server) == ["Subject: Order 0", "Subject: Order 1"]
    assert scripted_server.connections == 2


async def test_an_unreadable_reply_before_a_batch_messages_content_says_it_was_not_sent(
    caller: Any, scripted_server: Any
) -> None:
    scripted_server.answer("mail", b"250 OK\r\n")  # message 0
    scripted_server.answer("mail", b"garbage\r\n")  # message 1

    batch = await caller.send_batch(scripted_server.connector(), messages(3))

    status = batch.receipts[1].recipients["customer1@example.com"]
    assert status.status == "rejected"
    assert (status.reason or "").startswith("not sent: ")
    assert subjects(scripted_server) == ["Subject: Order 0", "Subject: Order 2"]
    assert scripted_server.connections == 2


async def test_a_batch_failure_after_an_unknown_message_is_maybe_processed_and_says_so(
    caller: Any, scripted_server: Any
) -> None:
    scripted_server.answer("content", b"garbage\r\n")
    scripted_server.answer("greeting", b"220 scripted.test ESMTP\r\n")
    scripted_server.answer("greeting", b"421 4.3.2 Shutting down\r\n")  # the reconnection

    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send_batch(scripted_server.connector(), messages(2), resilience=RETRY)

    error = raised.value
    assert error.maybe_processed is True
    assert "1 may have been (the answer unreadable" in "\n".join(error.__notes__)
    assert caller.records[-1].attempts == 1
