"""The memory email vendor: outbox, per-recipient status, and misbehaving on request."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from nexus_connector_core._adapters import AdapterSettings
from nexus_connector_core._context import CallContext
from nexus_connector_core._email import (
    EMAIL,
    AsyncEmailAdapter,
    EmailAdapter,
    EmailBatch,
    EmailMessage,
)
from nexus_connector_core._errors import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    PaymentDeclinedError,
    RateLimitExceededError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.vendors.memory import (
    AsyncMemoryEmailAdapter,
    MemoryEmailAdapter,
    MemoryOptions,
)

MESSAGE_ID = re.compile(r"<[0-9a-f]{32}@memory\.nexus-connector>")


def settings(**options: Any) -> AdapterSettings:
    return AdapterSettings(
        connector="email", category="email", vendor="memory", options=MemoryOptions(**options)
    )


def context(clock: FakeClock, operation: str = "send", **kwargs: Any) -> CallContext:
    return CallContext("email", "memory", EMAIL.operation(operation), clock, **kwargs)


def message(*to: str, cc: tuple[str, ...] = (), bcc: tuple[str, ...] = ()) -> EmailMessage:
    return EmailMessage(
        sender="Shop <shop@example.com>", to=to, cc=cc, bcc=bcc, subject="Order", text="Shipped."
    )


@pytest.fixture
def adapter() -> MemoryEmailAdapter:
    return MemoryEmailAdapter(settings())


# --- the outbox -----------------------------------------------------------------------------------


def test_the_adapters_implement_the_email_protocols() -> None:
    assert isinstance(MemoryEmailAdapter(settings()), EmailAdapter)
    assert isinstance(AsyncMemoryEmailAdapter(settings()), AsyncEmailAdapter)


def test_send_returns_a_message_id_and_every_recipient_sent(
    adapter: MemoryEmailAdapter, clock: FakeClock
) -> None:
    receipt = adapter.send(
        message("ada@example.com", cc=("bob@example.com",), bcc=("eve@example.com",)),
        context(clock),
    )

    assert receipt.vendor == "memory"
    assert MESSAGE_ID.fullmatch(receipt.vendor_id)
    assert list(receipt.recipients) == ["ada@example.com", "bob@example.com", "eve@example.com"]
    assert {s.status for s in receipt.recipients.values()} == {"sent"}
    assert {s.vendor_id for s in receipt.recipients.values()} == {receipt.vendor_id}


def test_send_puts_the_message_in_the_outbox(adapter: MemoryEmailAdapter, clock: FakeClock) -> None:
    sent = message("ada@example.com")

    adapter.send(sent, context(clock))

    assert adapter.outbox == [sent]


def test_send_raw_is_the_vendors_response_with_the_submission_time(
    adapter: MemoryEmailAdapter, clock: FakeClock
) -> None:
    receipt = adapter.send(message("ada@example.com"), context(clock))

    assert receipt.raw == {
        "id": receipt.vendor_id,
        "submitted_at": "2026-01-01T00:00:00+00:00",
        "accepted": ["ada@example.com"],
        "rejected": {},
    }


def test_recipients_at_reject_example_are_reported_rejected_with_the_smtp_reason(
    adapter: MemoryEmailAdapter, clock: FakeClock
) -> None:
    receipt = adapter.send(message("ada@example.com", "bob@reject.example"), context(clock))

    assert receipt.recipients["ada@example.com"].status == "sent"
    assert list(receipt.rejected) == ["bob@reject.example"]
    assert receipt.rejected["bob@reject.example"].reason == "550 5.1.1 mailbox unavailable"


def test_send_with_every_recipient_rejected_raises_and_stores_nothing(
    adapter: MemoryEmailAdapter, clock: FakeClock
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        adapter.send(message("bob@reject.example", cc=("eve@REJECT.example",)), context(clock))

    assert caught.value.code == "all_recipients_rejected"
    assert "bob@reject.example" in caught.value.message
    assert adapter.outbox == []


def test_send_batch_returns_one_receipt_per_message_in_order(
    adapter: MemoryEmailAdapter, clock: FakeClock
) -> None:
    first, second = message("ada@example.com"), message("bob@example.com")

    batch = adapter.send_batch(EmailBatch([first, second]), context(clock, "send_batch"))

    assert batch.vendor == "memory"
    assert [list(r.recipients) for r in batch.receipts] == [
        ["ada@example.com"],
        ["bob@example.com"],
    ]
    assert batch.receipts[0].vendor_id != batch.receipts[1].vendor_id
    assert adapter.outbox == [first, second]


def test_send_batch_is_recorded_as_one_call(adapter: MemoryEmailAdapter, clock: FakeClock) -> None:
    batch = EmailBatch([message("ada@example.com"), message("bob@example.com")])

    adapter.send_batch(batch, context(clock, "send_batch"))

    assert adapter.calls == [("send_batch", batch)]


def test_send_batch_reports_a_fully_rejected_message_without_failing_the_others(
    adapter: MemoryEmailAdapter, clock: FakeClock
) -> None:
    good, refused = message("ada@example.com"), message("bob@reject.example")

    batch = adapter.send_batch(EmailBatch([good, refused]), context(clock, "send_batch"))

    assert batch.receipts[0].rejected == {}
    assert list(batch.receipts[1].rejected) == ["bob@reject.example"]
    assert adapter.outbox == [good]


def test_every_call_is_recorded_in_order_with_its_request(
    adapter: MemoryEmailAdapter, clock: FakeClock
) -> None:
    first, second = message("ada@example.com"), message("bob@example.com")

    adapter.send(first, context(clock))
    adapter.send(second, context(clock))

    assert adapter.calls == [("send", first), ("send", second)]


# --- misbehaving on request -----------------------------------------------------------------------


def test_fail_first_fails_that_many_calls_then_serves(clock: FakeClock) -> None:
    adapter = MemoryEmailAdapter(settings(fail_first=2))

    for _ in range(2):
        with pytest.raises(VendorUnavailableError):
            adapter.send(message("ada@example.com"), context(clock))
    receipt = adapter.send(message("ada@example.com"), context(clock))

    assert receipt.recipients["ada@example.com"].status == "sent"
    assert len(adapter.calls) == 3
    assert len(adapter.outbox) == 1


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        ("unavailable", VendorUnavailableError),
        ("timeout", VendorTimeoutError),
        ("rate_limited", RateLimitExceededError),
        ("auth", AuthenticationError),
        ("declined", PaymentDeclinedError),
        ("invalid", InvalidRequestError),
    ],
)
def test_failure_chooses_the_error_of_the_failing_calls(
    clock: FakeClock, failure: str, error: type[ConnectorError]
) -> None:
    adapter = MemoryEmailAdapter(settings(fail_first=1, failure=failure))

    with pytest.raises(error):
        adapter.send(message("ada@example.com"), context(clock))


def test_rate_limited_failure_carries_the_configured_retry_after(clock: FakeClock) -> None:
    adapter = MemoryEmailAdapter(settings(fail_first=1, failure="rate_limited", retry_after=7.5))

    with pytest.raises(RateLimitExceededError) as caught:
        adapter.send(message("ada@example.com"), context(clock))

    assert caught.value.retry_after == 7.5


def test_latency_waits_on_the_calls_clock(clock: FakeClock) -> None:
    adapter = MemoryEmailAdapter(settings(latency=0.25))

    adapter.send(message("ada@example.com"), context(clock))

    assert clock.sleeps == [0.25]


def test_latency_beyond_the_attempt_timeout_raises_vendor_timeout_after_the_timeout(
    clock: FakeClock,
) -> None:
    adapter = MemoryEmailAdapter(settings(latency=5.0))

    with pytest.raises(VendorTimeoutError):
        adapter.send(message("ada@example.com"), context(clock, timeout=1.0))

    assert clock.sleeps == [1.0]
    assert adapter.outbox == []


# --- the async twin -------------------------------------------------------------------------------


async def test_async_send_reports_each_recipient(clock: FakeClock) -> None:
    adapter = AsyncMemoryEmailAdapter(settings())

    receipt = await adapter.send(message("ada@example.com", "bob@reject.example"), context(clock))

    assert MESSAGE_ID.fullmatch(receipt.vendor_id)
    assert receipt.recipients["ada@example.com"].status == "sent"
    assert receipt.recipients["bob@reject.example"].status == "rejected"
    assert adapter.calls == [("send", adapter.outbox[0])]


async def test_async_send_with_every_recipient_rejected_raises(clock: FakeClock) -> None:
    adapter = AsyncMemoryEmailAdapter(settings())

    with pytest.raises(InvalidRequestError) as caught:
        await adapter.send(message("bob@reject.example"), context(clock))

    assert caught.value.code == "all_recipients_rejected"


async def test_async_send_batch_returns_one_receipt_per_message(clock: FakeClock) -> None:
    adapter = AsyncMemoryEmailAdapter(settings())
    batch = EmailBatch([message("ada@example.com"), message("bob@example.com")])

    result = await adapter.send_batch(batch, context(clock, "send_batch"))

    assert len(result.receipts) == 2
    assert adapter.calls == [("send_batch", batch)]


async def test_async_fail_first_fails_then_serves(clock: FakeClock) -> None:
    adapter = AsyncMemoryEmailAdapter(settings(fail_first=1, failure="timeout"))

    with pytest.raises(VendorTimeoutError):
        await adapter.send(message("ada@example.com"), context(clock))
    receipt = await adapter.send(message("ada@example.com"), context(clock))

    assert receipt.recipients["ada@example.com"].status == "sent"


async def test_async_latency_waits_on_the_clocks_asleep(clock: FakeClock) -> None:
    adapter = AsyncMemoryEmailAdapter(settings(latency=0.5))

    await adapter.send(message("ada@example.com"), context(clock))

    assert clock.sleeps == [0.5]


async def test_async_latency_beyond_the_timeout_raises_vendor_timeout(clock: FakeClock) -> None:
    adapter = AsyncMemoryEmailAdapter(settings(latency=3.0))

    with pytest.raises(VendorTimeoutError):
        await adapter.send(message("ada@example.com"), context(clock, timeout=2.0))

    assert clock.sleeps == [2.0]


# --- threads --------------------------------------------------------------------------------------


def test_one_adapter_serves_eight_threads_without_losing_a_message(clock: FakeClock) -> None:
    adapter = MemoryEmailAdapter(settings())
    ids: list[str] = []
    ids_lock = threading.Lock()

    def send_fifty() -> None:
        for _ in range(50):
            receipt = adapter.send(message("ada@example.com"), context(clock))
            with ids_lock:
                ids.append(receipt.vendor_id)

    threads = [threading.Thread(target=send_fifty) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(ids)) == 400
    assert len(adapter.calls) == 400
    assert len(adapter.outbox) == 400
