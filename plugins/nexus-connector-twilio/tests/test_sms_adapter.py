"""The twilio SMS adapters over real sockets: the requests they make, as Twilio documents
them, and how they read Twilio's answers and failed exchanges."""

from __future__ import annotations

import base64
import inspect
import re
import socket
from typing import Any

import pytest
from nexus_connector_twilio._answers import STATES, read_status
from nexus_connector_twilio.testing import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SENDER,
    UNREACHABLE,
    form_of,
    sends,
)

from nexus_connector_core import (
    InvalidRequestError,
    ObjectNotFoundError,
    SmsMessage,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core.testing import FakeClock, Fault, FaultServer

TO = "+14155550100"
SID = re.compile(r"SM[0-9a-f]{32}")
MESSAGING_SERVICE_SID = "MG" + "fedcba9876543210" * 2


async def send(sms: Any, message: SmsMessage) -> Any:
    """Send through a sync or an async connector alike."""
    result = sms.send(message)
    return await result if inspect.isawaitable(result) else result


def _form(server: FaultServer, index: int = -1) -> dict[str, list[str]]:
    return form_of(sends(server.requests)[index])


# -- what a send request looks like ------------------------------------------------------------


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
async def test_send_posts_a_form_to_the_accounts_messages_resource(
    make_manager: Any, twilio_server: FaultServer, async_: bool
) -> None:
    sms = make_manager(async_=async_).sms

    await send(sms, SmsMessage(TO, "Your code is 481516"))

    [request] = twilio_server.requests
    assert (request.method, request.path) == (
        "POST",
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
    )
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert _form(twilio_server) == {"To": [TO], "From": [SENDER], "Body": ["Your code is 481516"]}


def test_every_request_authenticates_with_the_account_sid_and_the_auth_token(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    sms = make_manager().sms

    sms.get_status(sms.send(SmsMessage(TO, "Hi")).vendor_id)

    pair = f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()
    expected = "Basic " + base64.b64encode(pair).decode()
    assert [r.headers["authorization"] for r in twilio_server.requests] == [expected] * 2


def test_the_messages_own_sender_wins_over_the_default_sender(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    make_manager().sms.send(SmsMessage(TO, "Hi", sender="Shop"))

    assert _form(twilio_server)["From"] == ["Shop"]


def test_a_messaging_service_picks_the_sender_when_none_is_named(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    options = {"sender": None, "messaging_service_sid": MESSAGING_SERVICE_SID}

    receipt = make_manager(options=options).sms.send(SmsMessage(TO, "Hi"))

    form = _form(twilio_server)
    assert form["MessagingServiceSid"] == [MESSAGING_SERVICE_SID]
    assert "From" not in form
    assert (receipt.status, receipt.segments) == ("queued", None)  # Twilio says "accepted", 0


def test_the_status_callback_is_sent_with_every_message(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    callback = "https://example.com/twilio/status?tenant=7"

    make_manager(options={"status_callback": callback}).sms.send(SmsMessage(TO, "Hi"))

    assert _form(twilio_server)["StatusCallback"] == [callback]


def test_a_message_with_no_sender_at_all_is_refused_before_any_request(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    sms = make_manager(options={"sender": None}).sms

    with pytest.raises(InvalidRequestError, match="names no sender"):
        sms.send(SmsMessage(TO, "Hi"))

    assert twilio_server.hits == 0


def test_a_base_url_with_a_path_keeps_it_before_the_api_version(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    twilio_server.script(Fault.respond(404, {"code": 20404, "message": "no", "status": 404}))
    sms = make_manager(options={"base_url": f"{twilio_server.url}/twilio-proxy"}).sms

    with pytest.raises(ObjectNotFoundError):
        sms.send(SmsMessage(TO, "Hi"))

    [request] = twilio_server.requests
    assert request.path == f"/twilio-proxy/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


# -- reading Twilio's answers ------------------------------------------------------------------


def test_the_receipt_reads_twilios_message_resource(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    body = "a" * 200  # GSM-7, over 160 characters: two segments

    receipt = make_manager().sms.send(SmsMessage(TO, body))

    assert SID.fullmatch(receipt.vendor_id)
    assert (receipt.vendor, receipt.to, receipt.status, receipt.segments) == (
        "twilio",
        TO,
        "queued",
        2,
    )
    assert receipt.raw["sid"] == receipt.vendor_id
    assert receipt.raw["num_segments"] == "2"


def test_get_status_fetches_the_message_by_its_sid(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    sms = make_manager().sms
    sid = sms.send(SmsMessage(TO, "Hi")).vendor_id

    status = sms.get_status(sid)

    request = twilio_server.requests[-1]
    assert (request.method, request.path, request.body) == (
        "GET",
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        b"",
    )
    assert (status.vendor_id, status.status) == (sid, "sending")


def test_a_delivery_failure_keeps_twilios_code_and_says_what_it_means(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    sms = make_manager().sms
    sid = sms.send(SmsMessage(UNREACHABLE, "Hi")).vendor_id

    statuses = [sms.get_status(sid) for _ in range(4)]

    final = statuses[-1]
    assert [s.status for s in statuses] == ["sending", "sent", "undelivered", "undelivered"]
    assert (final.error_code, final.error_message) == ("30003", "Unreachable destination handset")
    assert final.raw["error_code"] == 30003


@pytest.mark.parametrize(("twilio_status", "state"), sorted(STATES.items()))
def test_each_twilio_status_is_one_of_the_sms_states(twilio_status: str, state: str) -> None:
    status = read_status({"sid": "SM" + "0" * 32, "status": twilio_status}, "twilio")

    assert status.status == state


def test_a_status_twilio_adds_later_reads_as_unknown() -> None:
    status = read_status({"sid": "SM" + "0" * 32, "status": "teleported"}, "twilio")

    assert status.status == "unknown"


def test_a_malformed_message_id_is_not_found_without_a_request(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    with pytest.raises(ObjectNotFoundError, match="not a Twilio message SID"):
        make_manager().sms.get_status("../../Calls/CA123")

    assert twilio_server.hits == 0


def test_a_2xx_answer_that_is_not_a_message_is_an_error_that_may_have_sent(
    make_manager: Any, twilio_server: FaultServer
) -> None:
    twilio_server.script(Fault.respond(201, b"<html>created</html>"))

    with pytest.raises(VendorError) as caught:
        make_manager().sms.send(SmsMessage(TO, "Hi"))

    assert caught.value.maybe_processed


# -- failed exchanges --------------------------------------------------------------------------

RETRY = {
    "retry": {"max_attempts": 2, "backoff": "fixed", "base": 0.5, "jitter": "none"},
    "circuit_breaker": {"enabled": False},
}


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
async def test_a_refused_connection_is_retried_even_for_a_send(
    make_manager: Any, clock: FakeClock, closed_port: int, async_: bool
) -> None:
    options = {"base_url": f"http://127.0.0.1:{closed_port}"}
    sms = make_manager(async_=async_, options=options, resilience=RETRY).sms

    with pytest.raises(VendorUnavailableError) as caught:
        await send(sms, SmsMessage(TO, "Hi"))

    assert not caught.value.maybe_processed  # it never reached Twilio
    assert clock.sleeps == [0.5]


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
async def test_a_reset_after_the_request_arrived_is_not_retried_for_a_send(
    make_manager: Any, twilio_server: FaultServer, clock: FakeClock, async_: bool
) -> None:
    twilio_server.script(Fault.reset_after_request())
    sms = make_manager(async_=async_, resilience=RETRY).sms

    with pytest.raises(VendorUnavailableError) as caught:
        await send(sms, SmsMessage(TO, "Hi"))

    assert caught.value.maybe_processed
    assert (twilio_server.hits, clock.sleeps) == (1, [])


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
async def test_an_attempt_gives_up_after_the_connectors_timeout(
    make_manager: Any, twilio_server: FaultServer, async_: bool
) -> None:
    twilio_server.script(Fault.stall(5.0))
    sms = make_manager(async_=async_, resilience={"timeout": 0.2, "retry": {"enabled": False}}).sms

    with pytest.raises(VendorTimeoutError) as caught:
        await send(sms, SmsMessage(TO, "Hi"))

    assert caught.value.maybe_processed  # the request was read: Twilio may have it
