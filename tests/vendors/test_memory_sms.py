"""The memory SMS vendor: Twilio-like ids, segment counting and a lifecycle per lookup."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from nexus_connector_core._adapters import AdapterSettings
from nexus_connector_core._context import CallContext
from nexus_connector_core._errors import (
    ObjectNotFoundError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core._sms import (
    SMS,
    AsyncSmsAdapter,
    SmsAdapter,
    SmsMessage,
    SmsStatusRequest,
)
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.vendors.memory import (
    AsyncMemorySmsAdapter,
    MemoryOptions,
    MemorySmsAdapter,
)
from nexus_connector_core.vendors.memory.sms import sms_segments

SID = re.compile(r"SM[0-9a-f]{32}")
REACHABLE = "+14155550100"
UNREACHABLE = "+15550001234"


def settings(**options: Any) -> AdapterSettings:
    return AdapterSettings(
        connector="sms", category="sms", vendor="memory", options=MemoryOptions(**options)
    )


def context(clock: FakeClock, operation: str = "send", **kwargs: Any) -> CallContext:
    return CallContext("sms", "memory", SMS.operation(operation), clock, **kwargs)


@pytest.fixture
def adapter() -> MemorySmsAdapter:
    return MemorySmsAdapter(settings())


def status(adapter: MemorySmsAdapter, sid: str, clock: FakeClock) -> str:
    return adapter.get_status(SmsStatusRequest(sid), context(clock, "get_status")).status


# --- send -----------------------------------------------------------------------------------------


def test_the_adapters_implement_the_sms_protocols() -> None:
    assert isinstance(MemorySmsAdapter(settings()), SmsAdapter)
    assert isinstance(AsyncMemorySmsAdapter(settings()), AsyncSmsAdapter)


def test_send_queues_the_message_with_a_twilio_like_sid(
    adapter: MemorySmsAdapter, clock: FakeClock
) -> None:
    receipt = adapter.send(SmsMessage(REACHABLE, "Your code is 1234"), context(clock))

    assert receipt.vendor == "memory"
    assert SID.fullmatch(receipt.vendor_id)
    assert receipt.status == "queued"
    assert receipt.to == REACHABLE
    assert receipt.segments == 1


def test_send_raw_looks_like_twilios_message_resource(
    adapter: MemorySmsAdapter, clock: FakeClock
) -> None:
    receipt = adapter.send(SmsMessage(REACHABLE, "Hi", sender="Shop"), context(clock))

    assert receipt.raw["sid"] == receipt.vendor_id
    assert receipt.raw["from"] == "Shop"
    assert receipt.raw["num_segments"] == "1"
    assert receipt.raw["date_created"] == "Thu, 01 Jan 2026 00:00:00 +0000"


def test_send_keeps_the_message_in_the_outbox(adapter: MemorySmsAdapter, clock: FakeClock) -> None:
    sent = SmsMessage(REACHABLE, "Hi")

    adapter.send(sent, context(clock))

    assert adapter.outbox == [sent]
    assert adapter.calls == [("send", sent)]


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é£Ø¿" * 40, 1),  # accented letters of the GSM basic set stay GSM-7
        ("€" * 80, 1),  # the extension table costs two septets each
        ("€" * 81, 2),
        ("ś" * 70, 1),  # outside GSM-7: UCS-2
        ("ś" * 71, 2),
        ("ś" * 134, 2),
        ("ś" * 135, 3),
        ("😀" * 35, 1),  # an emoji is two UTF-16 units
        ("😀" * 36, 2),
    ],
)
def test_segments_follow_the_gsm7_and_ucs2_limits(body: str, segments: int) -> None:
    assert sms_segments(body) == segments


def test_send_reports_the_segments_of_a_long_unicode_body(
    adapter: MemorySmsAdapter, clock: FakeClock
) -> None:
    receipt = adapter.send(SmsMessage(REACHABLE, "Zażółć " * 12), context(clock))

    assert receipt.segments == 2


# --- get_status -----------------------------------------------------------------------------------


def test_each_status_lookup_moves_a_message_one_step_to_delivered(
    adapter: MemorySmsAdapter, clock: FakeClock
) -> None:
    sid = adapter.send(SmsMessage(REACHABLE, "Hi"), context(clock)).vendor_id

    seen = [status(adapter, sid, clock) for _ in range(3)]

    assert seen == ["sent", "delivered", "delivered"]


def test_a_message_to_an_unreachable_number_ends_failed_with_30003(
    adapter: MemorySmsAdapter, clock: FakeClock
) -> None:
    sid = adapter.send(SmsMessage(UNREACHABLE, "Hi"), context(clock)).vendor_id
    assert status(adapter, sid, clock) == "sent"

    final = adapter.get_status(SmsStatusRequest(sid), context(clock, "get_status"))

    assert final.status == "failed"
    assert final.error_code == "30003"
    assert final.error_message == "Unreachable destination handset"
    assert final.raw["error_code"] == 30003


def test_a_delivered_message_carries_no_error(adapter: MemorySmsAdapter, clock: FakeClock) -> None:
    sid = adapter.send(SmsMessage(REACHABLE, "Hi"), context(clock)).vendor_id
    status(adapter, sid, clock)

    final = adapter.get_status(SmsStatusRequest(sid), context(clock, "get_status"))

    assert (final.status, final.error_code, final.error_message) == ("delivered", None, None)


def test_get_status_of_an_unknown_id_raises_object_not_found(
    adapter: MemorySmsAdapter, clock: FakeClock
) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        adapter.get_status(SmsStatusRequest("SM" + "0" * 32), context(clock, "get_status"))

    assert caught.value.status_code == 404


# --- misbehaving on request -----------------------------------------------------------------------


def test_fail_first_applies_to_send(clock: FakeClock) -> None:
    adapter = MemorySmsAdapter(settings(fail_first=1))

    with pytest.raises(VendorUnavailableError):
        adapter.send(SmsMessage(REACHABLE, "Hi"), context(clock))

    assert adapter.outbox == []
    assert len(adapter.calls) == 1


def test_fail_first_applies_to_get_status(clock: FakeClock) -> None:
    adapter = MemorySmsAdapter(settings(fail_first=2))
    with pytest.raises(VendorUnavailableError):
        adapter.send(SmsMessage(REACHABLE, "Hi"), context(clock))

    with pytest.raises(VendorUnavailableError):
        adapter.get_status(SmsStatusRequest("SM" + "0" * 32), context(clock, "get_status"))

    assert [operation for operation, _ in adapter.calls] == ["send", "get_status"]


def test_latency_beyond_the_timeout_raises_vendor_timeout(clock: FakeClock) -> None:
    adapter = MemorySmsAdapter(settings(latency=2.0))

    with pytest.raises(VendorTimeoutError):
        adapter.send(SmsMessage(REACHABLE, "Hi"), context(clock, timeout=0.5))

    assert clock.sleeps == [0.5]


# --- the async twin -------------------------------------------------------------------------------


async def test_async_send_and_get_status_follow_the_same_lifecycle(clock: FakeClock) -> None:
    adapter = AsyncMemorySmsAdapter(settings())

    receipt = await adapter.send(SmsMessage(UNREACHABLE, "Hi"), context(clock))
    first = await adapter.get_status(SmsStatusRequest(receipt.vendor_id), context(clock))
    second = await adapter.get_status(SmsStatusRequest(receipt.vendor_id), context(clock))

    assert (receipt.status, first.status, second.status) == ("queued", "sent", "failed")
    assert [operation for operation, _ in adapter.calls] == ["send", "get_status", "get_status"]


async def test_async_get_status_of_an_unknown_id_raises_object_not_found(clock: FakeClock) -> None:
    adapter = AsyncMemorySmsAdapter(settings())

    with pytest.raises(ObjectNotFoundError):
        await adapter.get_status(SmsStatusRequest("SM" + "0" * 32), context(clock))


async def test_async_latency_waits_on_the_clock(clock: FakeClock) -> None:
    adapter = AsyncMemorySmsAdapter(settings(latency=0.2))

    await adapter.send(SmsMessage(REACHABLE, "Hi"), context(clock))

    assert clock.sleeps == [0.2]


# --- threads --------------------------------------------------------------------------------------


def test_one_adapter_serves_eight_threads_with_distinct_sids(clock: FakeClock) -> None:
    adapter = MemorySmsAdapter(settings())
    sids: list[str] = []
    sids_lock = threading.Lock()

    def send_fifty() -> None:
        for _ in range(50):
            sid = adapter.send(SmsMessage(REACHABLE, "Hi"), context(clock)).vendor_id
            with sids_lock:
                sids.append(sid)

    threads = [threading.Thread(target=send_fifty) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(sids)) == 400
    assert len(adapter.calls) == 400
    assert all(status(adapter, sid, clock) == "sent" for sid in sids)
