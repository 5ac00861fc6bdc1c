"""send_batch: one connection for many messages, each message independent of the others."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_connector_core import EmailMessage, VendorUnavailableError

RETRY = {"retry": {"max_attempts": 3, "base": 0.01, "jitter": "none"}}


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


async def test_a_batch_of_100_goes_over_one_connection_in_order(
    caller: Any, starttls_server: Any
) -> None:
    batch = await caller.send_batch(starttls_server.connector(), messages(100))

    assert starttls_server.connections == 1
    assert [sent.message["Subject"] for sent in starttls_server.outbox] == [
        f"Order {i}" for i in range(100)
    ]
    assert [list(r.recipients) for r in batch.receipts] == [
        [f"customer{i}@example.com"] for i in range(100)
    ]
    assert batch.raw == [r.raw for r in batch.receipts]


async def test_a_batch_longer_than_max_batch_opens_a_connection_per_chunk(
    caller: Any, plain_server: Any
) -> None:
    batch = await caller.send_batch(plain_server.connector(max_batch=30), messages(100))

    assert plain_server.connections == 4
    assert len(batch.receipts) == len(plain_server.outbox) == 100


async def test_a_message_refused_in_a_batch_gets_rejections_and_the_rest_go(
    caller: Any, plain_server: Any
) -> None:
    plain_server.fail("mail", "451 4.3.0 Try this one later")
    plain_server.fail("rcpt", "550 5.1.1 no such user", address="customer2@example.com")

    batch = await caller.send_batch(plain_server.connector(), messages(4))

    assert [set(r.rejected) for r in batch.receipts] == [
        {"customer0@example.com"},
        set(),
        {"customer2@example.com"},
        set(),
    ]
    assert batch.receipts[0].rejected["customer0@example.com"].reason == (
        "451 4.3.0 Try this one later"
    )
    assert [d.recipients for d in plain_server.outbox] == [
        ("customer1@example.com",),
        ("customer3@example.com",),
    ]
    assert plain_server.connections == 1


async def test_a_failure_after_some_messages_went_is_not_retried(
    caller: Any, plain_server: Any
) -> None:
    # The server shuts down at the third message: the first two are already its.
    plain_server.fail("rcpt", "421 4.3.2 Shutting down", address="customer2@example.com")

    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send_batch(plain_server.connector(), messages(5), resilience=RETRY)

    error = raised.value
    assert (error.status_code, error.maybe_processed) == (421, True)
    assert "2 of 5 messages were accepted" in "\n".join(error.__notes__)
    assert caller.records[-1].attempts == 1
    assert len(plain_server.outbox) == 2


async def test_a_batch_that_fails_before_any_message_went_is_retried(
    caller: Any, plain_server: Any
) -> None:
    plain_server.fail("greeting", "421 4.3.2 Try again later")

    batch = await caller.send_batch(plain_server.connector(), messages(3), resilience=RETRY)

    assert len(batch.receipts) == 3
    assert caller.records[-1].attempts == 2
    assert len(plain_server.outbox) == 3
