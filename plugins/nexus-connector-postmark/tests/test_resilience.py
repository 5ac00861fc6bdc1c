"""The pipeline and Postmark together: an email send is not idempotent and Postmark honours
no idempotency keys, so a send is retried only when Postmark surely did not act on it (a
429, a refused connection), after the wait Postmark asked for; never after a 5xx or a
reset, which could send the message twice. Waits run on a fake clock."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

import pytest
from nexus_connector_postmark.testing import PostmarkDouble, postmark_error

from nexus_connector_core import (
    EmailMessage,
    RateLimitExceededError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock, Fault, FaultServer

RETRY = {"retry": {"max_attempts": 3, "base": 0.1, "max_delay": 1.0}}


def message() -> EmailMessage:
    return EmailMessage(sender="shop@example.com", to=["ada@example.com"], text="x")


def test_a_429_is_retried_after_the_retry_after_postmark_sent(
    make_manager: Any, postmark_server: FaultServer, postmark: PostmarkDouble, clock: FakeClock
) -> None:
    postmark_server.script(postmark_error(429, 429, "Rate limit exceeded.", retry_after=7))
    receipt = make_manager(RETRY, clock=clock).email.send(message())

    assert postmark_server.hits == 2
    assert clock.sleeps == [7.0]
    assert [m["MessageID"] for m in postmark.outbox] == [receipt.vendor_id]


def test_a_retry_after_given_as_an_http_date_is_honoured(
    make_manager: Any, postmark_server: FaultServer, clock: FakeClock
) -> None:
    when = formatdate(clock.time() + 5, usegmt=True)
    postmark_server.script(postmark_error(429, 429, "Rate limit exceeded.", retry_after=when))
    make_manager(RETRY, clock=clock).email.send(message())

    assert clock.sleeps == [5.0]


def test_a_retry_after_beyond_the_configured_maximum_is_not_waited_for(
    make_manager: Any, postmark_server: FaultServer, clock: FakeClock
) -> None:
    postmark_server.script(postmark_error(429, 429, "Rate limit exceeded.", retry_after=3600))
    with pytest.raises(RateLimitExceededError) as caught:
        make_manager(RETRY, clock=clock).email.send(message())

    assert caught.value.retry_after == 3600.0
    assert (postmark_server.hits, clock.sleeps) == (1, [])


async def test_the_async_pipeline_retries_a_429_after_its_retry_after(
    make_manager: Any, postmark_server: FaultServer, postmark: PostmarkDouble, clock: FakeClock
) -> None:
    postmark_server.script(postmark_error(429, 429, "Rate limit exceeded.", retry_after=2))
    receipt = await make_manager(RETRY, async_=True, clock=clock).email.send(message())

    assert (postmark_server.hits, clock.sleeps) == (2, [2.0])
    assert receipt.vendor_id == postmark.outbox[0]["MessageID"]


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_after_sending_is_not_retried(
    make_manager: Any, postmark_server: FaultServer, clock: FakeClock, status: int
) -> None:
    postmark_server.script(postmark_error(status, 0, "Service Unavailable", retry_after=1))
    with pytest.raises(VendorUnavailableError) as caught:
        make_manager(RETRY, clock=clock).email.send(message())

    assert caught.value.status_code == status
    assert (postmark_server.hits, clock.sleeps) == (1, [])


def test_a_reset_after_the_request_is_not_retried(
    make_manager: Any, postmark_server: FaultServer, clock: FakeClock
) -> None:
    postmark_server.script(Fault.reset_after_request())
    with pytest.raises(VendorUnavailableError):
        make_manager(RETRY, clock=clock).email.send(message())

    assert (postmark_server.hits, clock.sleeps) == (1, [])


def test_a_refused_connection_is_retried_since_nothing_was_sent(
    make_manager: Any, closed_port: int, clock: FakeClock
) -> None:
    manager = make_manager(RETRY, clock=clock, base_url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(VendorUnavailableError) as caught:
        manager.email.send(message())

    assert caught.value.maybe_processed is False
    assert len(clock.sleeps) == 2
    assert manager.call_log[-1].attempts == 3


async def test_the_async_pipeline_does_not_retry_a_503(
    make_manager: Any, postmark_server: FaultServer, clock: FakeClock
) -> None:
    postmark_server.script(postmark_error(503, 0, "Service Unavailable"))
    with pytest.raises(VendorUnavailableError):
        await make_manager(RETRY, async_=True, clock=clock).email.send(message())

    assert (postmark_server.hits, clock.sleeps) == (1, [])
