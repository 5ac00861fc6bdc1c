"""How SMTP replies and lost connections become errors, and which ones the pipeline retries.

Email send is not idempotent and SMTP has no idempotency key: a call is retried only when
the server surely does not have the message (a reply code refusing it, a connection that
failed before the content went out), never when the outcome is unknown.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from nexus_connector_core import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    EmailMessage,
    InvalidRequestError,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
)

RETRY = {"retry": {"max_attempts": 3, "base": 0.01, "jitter": "none"}}
ADA, BOB, CY = "ada@example.com", "bob@example.com", "cy@example.com"
MESSAGE = EmailMessage(sender="shop@example.com", to=[ADA, BOB, CY], subject="Hi", text="Hello")


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port


# -- 421 and other transient refusals: retried, delivered once -------------------------------


@pytest.mark.parametrize(
    "stage", ["greeting", "mail", "data"], ids=["421-greeting", "421-mail", "421-data"]
)
async def test_a_421_is_retried_and_the_message_arrives_once(
    caller: Any, starttls_server: Any, stage: str
) -> None:
    starttls_server.fail(stage, "421 4.3.2 Service not available, closing channel")

    receipt = await caller.send(starttls_server.connector(), MESSAGE, resilience=RETRY)

    assert set(receipt.recipients) == {ADA, BOB, CY}
    assert caller.records[-1].attempts == 2
    assert starttls_server.connections == 2
    assert len(starttls_server.outbox) == 1


async def test_a_421_without_retries_is_vendor_unavailable_and_unprocessed(
    caller: Any, starttls_server: Any
) -> None:
    starttls_server.fail("greeting", "421 4.3.2 Service not available")

    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send(starttls_server.connector(), MESSAGE)

    error = raised.value
    assert (error.status_code, error.retryable, error.maybe_processed) == (421, True, False)
    assert "421 4.3.2 Service not available" in str(error)
    assert caller.records[-1].vendor_status_code == 421


async def test_a_451_to_the_content_is_retried_as_the_server_did_not_take_it(
    caller: Any, plain_server: Any
) -> None:
    plain_server.fail("data", "451 4.3.0 Temporary local problem")

    await caller.send(plain_server.connector(), MESSAGE, resilience=RETRY)

    assert caller.records[-1].attempts == 2
    assert len(plain_server.outbox) == 1


async def test_a_refused_connection_is_retried_and_then_reported_unprocessed(
    caller: Any, plain_server: Any, closed_port: int
) -> None:
    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send(plain_server.connector(port=closed_port), MESSAGE, resilience=RETRY)

    assert raised.value.maybe_processed is False
    assert caller.records[-1].attempts == 3


# -- per-recipient refusals ------------------------------------------------------------------


async def test_a_550_for_one_of_three_recipients_is_reported_for_that_recipient_only(
    caller: Any, starttls_server: Any
) -> None:
    starttls_server.fail("rcpt", "550 5.1.1 <bob@example.com>: no such user", address=BOB)

    receipt = await caller.send(starttls_server.connector(), MESSAGE)

    assert receipt.rejected[BOB].reason == "550 5.1.1 <bob@example.com>: no such user"
    assert receipt.recipients[ADA].status == receipt.recipients[CY].status == "queued"
    assert list(receipt.rejected) == [BOB]
    assert receipt.raw["refused"] == {BOB: "550 5.1.1 <bob@example.com>: no such user"}
    assert starttls_server.outbox[0].recipients == (ADA, CY)


async def test_a_452_for_one_recipient_is_reported_with_its_temporary_reason(
    caller: Any, plain_server: Any
) -> None:
    plain_server.fail("rcpt", "452 4.2.2 Mailbox full", address=CY)

    receipt = await caller.send(plain_server.connector(), MESSAGE)

    assert receipt.rejected[CY].reason == "452 4.2.2 Mailbox full"
    assert plain_server.outbox[0].recipients == (ADA, BOB)


async def test_a_452_for_every_recipient_is_unavailable_and_retried(
    caller: Any, plain_server: Any
) -> None:
    for address in (ADA, BOB, CY):
        plain_server.fail("rcpt", "452 4.3.1 Insufficient system storage", address=address)

    receipt = await caller.send(plain_server.connector(), MESSAGE, resilience=RETRY)

    assert {s.status for s in receipt.recipients.values()} == {"queued"}
    assert caller.records[-1].attempts == 2


async def test_every_recipient_refused_is_invalid_request_and_not_retried(
    caller: Any, plain_server: Any
) -> None:
    for address in (ADA, BOB, CY):
        plain_server.fail("rcpt", "550 5.1.1 no such user", address=address)

    with pytest.raises(InvalidRequestError) as raised:
        await caller.send(plain_server.connector(), MESSAGE, resilience=RETRY)

    error = raised.value
    assert (error.code, error.status_code, error.maybe_processed) == (
        "all_recipients_rejected",
        550,
        False,
    )
    assert caller.records[-1].attempts == 1
    assert plain_server.outbox == []


# -- permanent refusals of the message -------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "reply", "code"),
    [
        ("mail", "553 5.7.1 Sender address rejected", "sender_refused"),
        ("data", "554 5.6.0 Message rejected as spam", "message_refused"),
    ],
)
async def test_a_5xx_to_the_sender_or_content_is_invalid_request_and_not_retried(
    caller: Any, plain_server: Any, stage: str, reply: str, code: str
) -> None:
    plain_server.fail(stage, reply)

    with pytest.raises(InvalidRequestError) as raised:
        await caller.send(plain_server.connector(), MESSAGE, resilience=RETRY)

    assert (raised.value.code, raised.value.vendor_message) == (code, reply[4:])
    assert caller.records[-1].attempts == 1


# -- unknown outcome: never retried ----------------------------------------------------------


async def test_a_connection_lost_after_the_content_is_not_retried(
    caller: Any, plain_server: Any
) -> None:
    plain_server.drop_after_data()

    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send(plain_server.connector(), MESSAGE, resilience=RETRY)

    assert raised.value.maybe_processed is True
    assert "may have accepted the message" in str(raised.value)
    assert caller.records[-1].attempts == 1
    assert len(plain_server.outbox) == 1


async def test_no_answer_to_the_content_in_time_is_a_timeout_maybe_processed(
    caller: Any, plain_server: Any
) -> None:
    plain_server.stall("data", 1.0)

    with pytest.raises(VendorTimeoutError) as raised:
        await caller.send(plain_server.connector(timeout=0.2), MESSAGE, resilience=RETRY)

    assert raised.value.maybe_processed is True
    assert caller.records[-1].attempts == 1


async def test_a_connection_lost_at_data_before_the_content_is_retried(
    caller: Any, plain_server: Any
) -> None:
    plain_server.drop_at_data_command()

    receipt = await caller.send(plain_server.connector(), MESSAGE, resilience=RETRY)

    assert set(receipt.recipients) == {ADA, BOB, CY}
    assert caller.records[-1].attempts == 2
    assert len(plain_server.outbox) == 1


async def test_a_connection_lost_at_data_says_the_message_was_not_sent(
    caller: Any, plain_server: Any
) -> None:
    plain_server.drop_at_data_command()

    with pytest.raises(VendorUnavailableError) as raised:
        await caller.send(plain_server.connector(), MESSAGE)

    assert (raised.value.retryable, raised.value.maybe_processed) == (True, False)
    assert "may have accepted" not in str(raised.value)


async def test_no_go_ahead_to_data_in_time_is_a_timeout_that_is_retried(
    caller: Any, plain_server: Any
) -> None:
    plain_server.stall("data_command", 1.0)

    await caller.send(plain_server.connector(timeout=0.2), MESSAGE, resilience=RETRY)

    assert caller.records[-1].attempts == 2
    assert len(plain_server.outbox) == 1


async def test_no_answer_before_the_content_is_a_timeout_that_is_retried(
    caller: Any, plain_server: Any
) -> None:
    plain_server.stall("mail", 1.0)

    await caller.send(plain_server.connector(timeout=0.2), MESSAGE, resilience=RETRY)

    assert caller.records[-1].attempts == 2
    assert len(plain_server.outbox) == 1


async def test_the_attempt_timeout_bounds_a_sync_call_across_its_steps(
    make_manager: Any, plain_server: Any
) -> None:
    plain_server.stall("mail", 1.0)
    manager = make_manager(
        plain_server.connector(), resilience={"timeout": 0.2, "retry": {"enabled": False}}
    )

    with pytest.raises(VendorTimeoutError) as raised:
        manager.email.send(MESSAGE)

    assert raised.value.maybe_processed is False


async def test_the_attempt_timeout_running_out_before_the_content_says_not_sent(
    caller: Any, plain_server: Any
) -> None:
    plain_server.stall("data_command", 1.0)

    with pytest.raises(VendorTimeoutError) as raised:
        await caller.send(
            plain_server.connector(),
            MESSAGE,
            resilience={"timeout": 0.2, "retry": {"enabled": False}},
        )

    assert raised.value.maybe_processed is False
    assert plain_server.outbox == []


# -- authentication and TLS ------------------------------------------------------------------


async def test_wrong_credentials_are_an_authentication_error_never_retried(
    caller: Any, starttls_server: Any
) -> None:
    table = starttls_server.connector()
    table["credentials"] = {"username": "env:SMTP_USERNAME", "password": "literal:wrong-password"}

    with pytest.raises(AuthenticationError) as raised:
        await caller.send(table, MESSAGE, resilience=RETRY)

    assert "535" in str(raised.value)
    assert "wrong-password" not in str(raised.value)
    assert caller.records[-1].attempts == 1
    assert starttls_server.outbox == []


async def test_a_refused_non_ascii_password_never_shows(caller: Any, starttls_server: Any) -> None:
    password = "pässwörd-wrong-✓"
    table = starttls_server.connector()
    table["credentials"] = {"username": "literal:mailer", "password": f"literal:{password}"}

    with pytest.raises(AuthenticationError) as raised:
        await caller.send(table, MESSAGE, resilience=RETRY)

    shown = [str(raised.value), repr(raised.value), repr(caller.records[-1])]
    shown += [repr(cause) for cause in (raised.value.__cause__, raised.value.__context__)]
    assert not [text for text in shown if password in text]
    assert caller.records[-1].attempts == 1


async def test_starttls_required_but_not_offered_fails_without_sending(
    caller: Any, plain_server: Any
) -> None:
    with pytest.raises(VendorError) as raised:
        await caller.send(plain_server.connector(tls="starttls"), MESSAGE, resilience=RETRY)

    assert raised.value.code == "starttls_unavailable"
    assert caller.records[-1].attempts == 1
    assert plain_server.outbox == []


@pytest.mark.parametrize("server", ["starttls_server", "implicit_server"])
async def test_an_untrusted_certificate_is_not_retried(
    caller: Any, request: pytest.FixtureRequest, server: str
) -> None:
    tls_server = request.getfixturevalue(server)

    with pytest.raises(VendorError) as raised:
        await caller.send(tls_server.connector(ca_file=None), MESSAGE, resilience=RETRY)

    assert (raised.value.code, raised.value.maybe_processed) == ("certificate_untrusted", False)
    assert "options.ca_file" in str(raised.value)
    assert caller.records[-1].attempts == 1
    assert tls_server.outbox == []


async def test_credentials_over_a_plain_connection_are_refused_unless_allowed(
    caller: Any, plain_server: Any
) -> None:
    table = plain_server.connector()
    table["credentials"] = {"username": "env:SMTP_USERNAME", "password": "env:SMTP_PASSWORD"}

    with pytest.raises(ConfigError) as raised:
        await caller.send(table, MESSAGE)

    assert raised.value.path == "connectors.email.options.tls"
    assert plain_server.connections == 0


# -- a call cancelled mid-way ----------------------------------------------------------------


async def test_a_call_cancelled_before_the_content_went_out_frees_its_key(
    make_manager: Any, plain_server: Any
) -> None:
    manager = make_manager(plain_server.connector(), async_=True)
    plain_server.stall("mail", 1.0)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(manager.email.send(MESSAGE, idempotency_key="order-1"), 0.3)
    receipt = await manager.email.send(MESSAGE, idempotency_key="order-1")

    assert set(receipt.recipients) == {ADA, BOB, CY}
    assert len(plain_server.outbox) == 1


async def test_a_call_cancelled_after_the_content_went_out_keeps_its_key_in_doubt(
    make_manager: Any, plain_server: Any
) -> None:
    manager = make_manager(plain_server.connector(), async_=True)
    plain_server.stall("data", 1.0)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(manager.email.send(MESSAGE, idempotency_key="order-1"), 0.3)
    with pytest.raises(ConnectorError) as raised:
        await manager.email.send(MESSAGE, idempotency_key="order-1")

    assert raised.value.maybe_processed is True
    assert plain_server.connections == 1
