"""Twilio's refusals as the library's errors: the class a caller catches, Twilio's code, and
whether the pipeline may retry (a 429 is never processed; a 5xx may have sent the text)."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

import httpx
import pytest
from nexus_connector_twilio._answers import ERRORS
from nexus_connector_twilio.testing import ACCOUNT_SID, FAULTS, MAGIC_TO, RETRY_AFTER

from nexus_connector_core import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    InvalidRequestError,
    ObjectNotFoundError,
    RateLimitExceededError,
    SmsMessage,
    VendorError,
    VendorUnavailableError,
)
from nexus_connector_core.http import (
    Redactor,
    answer_error,
    error_fields,
    json_body,
    transport_error,
)
from nexus_connector_core.testing import FakeClock, Fault, FaultServer

TO = "+14155550100"
NOW = 1_767_225_600.0


def _answer(status: int, body: Any = None, **headers: str) -> httpx.Response:
    names = {name.replace("_", "-"): value for name, value in headers.items()}
    if body is None or isinstance(body, bytes):
        return httpx.Response(status, content=body or b"", headers=names)
    return httpx.Response(status, json=body, headers=names)


def vendor_error(response: httpx.Response, now: float, redact: Redactor | None = None) -> Any:
    """What the adapter raises for an error answer (HttpVendor.error_for with Twilio's table)."""
    code, message = error_fields(json_body(response))
    return answer_error(
        response, vendor="Twilio", code=code, message=message, now=now, table=ERRORS, redact=redact
    )


def _twilio_body(status: int, code: int, message: str) -> dict[str, Any]:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return {"code": code, "message": message, "more_info": more_info, "status": status}


# -- through the local Twilio ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", "21211"),  # invalid number
        ("+15005550002", "21612"),  # cannot route
        ("+15005550003", "21408"),  # region not enabled
        ("+15005550004", "21610"),  # unsubscribed
        ("+15005550009", "21614"),  # not a mobile number
    ],
)
def test_twilios_test_numbers_are_invalid_requests_with_their_codes(
    make_manager: Any, to: str, code: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        make_manager().sms.send(SmsMessage(to, "Hi"))

    error = caught.value
    assert (error.code, error.status_code, error.vendor_message) == (
        code,
        400,
        MAGIC_TO[to][1],
    )
    assert not error.maybe_processed  # Twilio created no message
    assert f"Twilio answered 400, code {code}" in str(error)


def test_a_wrong_auth_token_is_an_authentication_error_that_shows_no_secret(
    make_manager: Any, twilio_server: FaultServer, environ: dict[str, str]
) -> None:
    environ["TWILIO_AUTH_TOKEN"] = "not-the-auth-token-123"

    with pytest.raises(AuthenticationError) as caught:
        make_manager().sms.send(SmsMessage(TO, "Hi"))

    text = str(caught.value)
    assert "check the account_sid and auth_token" in text
    assert "not-the-auth-token-123" not in text
    assert twilio_server.hits == 1


def test_an_unknown_message_is_not_found_and_the_account_sid_is_not_shown(
    make_manager: Any,
) -> None:
    with pytest.raises(ObjectNotFoundError) as caught:
        make_manager().sms.get_status("SM" + "0" * 32)

    error = caught.value
    assert (error.code, error.status_code) == ("20404", 404)
    assert "<account_sid>" in error.message
    assert ACCOUNT_SID not in str(error)


async def test_a_rate_limited_send_waits_for_retry_after_then_succeeds(
    make_manager: Any, twilio_server: FaultServer, clock: FakeClock
) -> None:
    twilio_server.script(FAULTS["rate_limited"])
    resilience = {"retry": {"max_attempts": 2, "base": 0.01, "jitter": "none"}}
    sms = make_manager(async_=True, resilience=resilience).sms

    receipt = await sms.send(SmsMessage(TO, "Hi"))

    assert receipt.status == "queued"
    assert [r.fault.status_code for r in twilio_server.requests if r.fault] == [429, 201]
    assert clock.sleeps == [RETRY_AFTER]


# -- the mapping itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (400, 21211, InvalidRequestError),
        (400, 21617, InvalidRequestError),
        (400, 29999, InvalidRequestError),  # a code Twilio adds later: still the caller's fix
        (401, 20003, AuthenticationError),
        (403, 20003, AuthenticationError),
        (404, 20404, ObjectNotFoundError),
        (429, 20429, RateLimitExceededError),
        (400, 14107, RateLimitExceededError),  # too many messages between two numbers
        (429, 14107, RateLimitExceededError),
        (400, 21611, RateLimitExceededError),  # the sender's queue is full
        (500, 20500, VendorUnavailableError),
        (503, 20503, VendorUnavailableError),
    ],
)
def test_each_answer_maps_to_the_most_specific_error(
    status: int, code: int, error_type: type[ConnectorError]
) -> None:
    error = vendor_error(_answer(status, _twilio_body(status, code, "Twilio says so")), NOW)

    assert type(error) is error_type
    assert "Twilio says so" in error.message
    assert error.maybe_processed == (status >= 500)
    assert error.retryable == (error_type in (RateLimitExceededError, VendorUnavailableError))


def test_a_429_carries_retry_after_in_seconds() -> None:
    error = vendor_error(_answer(429, _twilio_body(429, 20429, "Too Many"), Retry_After="3"), NOW)

    assert isinstance(error, RateLimitExceededError)
    assert (error.retry_after, error.status_code, error.local) == (3.0, 429, False)


def test_a_429_carries_retry_after_given_as_a_date() -> None:
    later = formatdate(NOW + 7, usegmt=True)

    error = vendor_error(_answer(429, _twilio_body(429, 20429, "Too Many"), Retry_After=later), NOW)

    assert isinstance(error, RateLimitExceededError)
    assert error.retry_after == 7.0


def test_a_5xx_keeps_its_status_and_retry_after() -> None:
    error = vendor_error(_answer(503, None, Retry_After="10"), NOW)

    assert isinstance(error, VendorUnavailableError)
    assert (error.status_code, error.retry_after) == (503, 10.0)


def test_an_answer_that_is_not_twilios_json_still_says_what_happened() -> None:
    error = vendor_error(_answer(502, b"<html>Bad gateway</html>"), NOW)

    assert isinstance(error, VendorUnavailableError)
    assert error.message == "Twilio answered 502: Bad Gateway"


def test_a_refusal_keeps_twilios_code_and_message_for_the_caller() -> None:
    body = _twilio_body(400, 21610, "Attempt to send to unsubscribed recipient")

    error = vendor_error(_answer(400, body), NOW)

    assert isinstance(error, VendorError)
    assert (error.code, error.vendor_message) == ("21610", body["message"])
    assert error.message == (
        "Twilio answered 400, code 21610: Attempt to send to unsubscribed recipient "
        "(the recipient replied STOP; only their START lifts it)"
    )


def test_credentials_quoted_in_twilios_message_are_replaced_by_their_name() -> None:
    body = _twilio_body(404, 20404, "The requested resource /Accounts/AC42/Messages was not found")

    error = vendor_error(_answer(404, body), NOW, Redactor(named={"account_sid": "AC42"}))

    assert "/Accounts/<account_sid>/Messages" in error.message
    assert "AC42" not in str(error)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (14107, "SMS send rate limit exceeded"),
        (21611, "This 'From' number has exceeded the maximum number of queued messages"),
    ],
)
async def test_a_send_over_twilios_pace_limits_is_retried(
    make_manager: Any, twilio_server: FaultServer, clock: FakeClock, code: int, message: str
) -> None:
    twilio_server.script(Fault.respond(400, _twilio_body(400, code, message)))
    resilience = {"retry": {"max_attempts": 2, "base": 0.5, "jitter": "none"}}

    receipt = make_manager(resilience=resilience).sms.send(SmsMessage(TO, "Hi"))

    assert receipt.status == "queued"
    assert [r.fault.status_code for r in twilio_server.requests if r.fault] == [400, 201]
    assert clock.sleeps == [0.5]


def test_a_pace_limit_is_the_vendors_not_our_own_limiter() -> None:
    body = _twilio_body(400, 21611, "This 'From' number has exceeded the maximum queue")

    error = vendor_error(_answer(400, body), NOW)

    assert isinstance(error, RateLimitExceededError)
    assert (error.local, error.status_code, error.maybe_processed) == (False, 400, False)
    assert "send slower, or through a messaging service" in error.message


def test_a_request_httpx_cannot_build_is_a_config_error_that_quotes_no_header() -> None:
    token = "twilio-auth-token-with-newline"
    failure = httpx.LocalProtocolError(f"Illegal header value b'{token}\\n'")

    error = transport_error(failure, vendor="Twilio")

    assert isinstance(error, ConfigError)
    assert (error.maybe_processed, error.retryable) == (False, False)
    assert token not in str(error)
    assert "could not be built" in str(error)


def test_a_transport_failure_quotes_no_path_holding_the_account_sid() -> None:
    sid = "AC" + "0123456789abcdef" * 2
    failure = httpx.ConnectError(f"proxy refused /2010-04-01/Accounts/{sid}/Messages.json")

    error = transport_error(failure, vendor="Twilio", sent=False)

    assert isinstance(error, VendorUnavailableError)
    assert sid not in str(error)
