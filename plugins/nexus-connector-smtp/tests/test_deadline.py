"""A call ends by its deadline on the wall clock, however slowly the server answers: the
socket's timeout bounds each read, not the reply, so a server trickling a reply one byte at a
time would otherwise hold a sync call for as long as it likes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from nexus_connector_core import SYSTEM_CLOCK, Clock, EmailMessage, VendorUnavailableError

MESSAGE = EmailMessage(sender="shop@example.com", to=["ada@example.com"], subject="Hi", text="x")
LIMITS = {"timeout": 1.0, "deadline": 2.0, "retry": {"max_attempts": 3, "base": 0.0}}
REPLIES = {
    "greeting": b"220 smtp.example ESMTP at last\r\n",
    "ehlo": b"250 smtp.example at last\r\n",
    "content": b"250 2.0.0 Ok: queued as 12345 after a long while\r\n",
}


@pytest.fixture
def clock() -> Clock:
    """The real clock: the deadline is the wall clock's here, as in production."""
    return SYSTEM_CLOCK


@pytest.mark.parametrize("step", ["content", "ehlo", "greeting"])
async def test_a_reply_trickled_a_byte_at_a_time_cannot_hold_a_call_past_its_deadline(
    caller: Any, scripted_server: Any, step: str
) -> None:
    # 0.4 s a byte: every read gets a byte well within the 1 s timeout; the reply, 40 s.
    scripted_server.answer(
        step,
        b"250 2.0.0 Ok: queued as 12345 after a long while\r\n"
        if step == "content"
        else b"220 smtp.example ESMTP slow\r\n"
        if step == "greeting"
        else b"250 smtp.example\r\n",
        trickle=0.4,
        times=3,
    )

    started = time.monotonic()
    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send(scripted_server.connector(), MESSAGE, resilience=LIMITS)
    took = time.monotonic() - started

    assert took < 2.2
    # After the content went out, the server may have the message; before, it surely has not.
    assert raised.value.maybe_processed is (step == "content")
