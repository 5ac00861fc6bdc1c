"""Every Postmark error, over a real socket, becomes the library's most specific error, and
says whether Postmark may have acted on the request. The token never shows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from nexus_connector_postmark.testing import PostmarkDouble, postmark_error

from nexus_connector_core import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    EmailMessage,
    InvalidRequestError,
    RateLimitExceededError,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core.http import transport_error
from nexus_connector_core.testing import Fault, FaultServer

#: Retries off: these tests look at the error of one attempt.
ONE_ATTEMPT = {"retry": {"enabled": False}}


def message(*to: str) -> EmailMessage:
    return EmailMessage(sender="shop@example.com", to=list(to or ["ada@example.com"]), text="x")


def send(manager: Any, *to: str) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        manager.email.send(message(*to))
    return caught.value


def test_a_wrong_token_is_an_authentication_error(make_manager: Any) -> None:
    error = send(make_manager(ONE_ATTEMPT, token="pm-wrong-token-0000"))

    assert isinstance(error, AuthenticationError)
    assert "ErrorCode 10" in str(error)
    assert "credentials.server_token" in str(error)
    assert (error.connector, error.vendor, error.operation) == ("email", "postmark", "send")


def test_an_invalid_email_request_is_an_invalid_request_error_with_postmarks_code(
    make_manager: Any,
) -> None:
    error = send(make_manager(ONE_ATTEMPT), *[f"r{i}@example.com" for i in range(51)])

    assert isinstance(error, InvalidRequestError)
    assert (error.code, error.status_code) == ("300", 422)
    assert "at most 50" in str(error.vendor_message)
    assert error.maybe_processed is False


def test_a_message_to_only_inactive_recipients_names_them_and_sends_nothing(
    make_manager: Any, postmark: PostmarkDouble
) -> None:
    error = send(make_manager(ONE_ATTEMPT), "bounced@example.com", "complained@example.com")

    assert isinstance(error, InvalidRequestError)
    assert (error.code, error.status_code) == ("all_recipients_rejected", 422)
    assert "ErrorCode 406" in str(error)
    assert "every recipient is inactive (bounced@example.com, complained@example.com)" in str(error)
    assert postmark.outbox == []


def test_a_429_is_a_rate_limit_error_with_the_retry_after_postmark_asked_for(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    postmark_server.script(postmark_error(429, 429, "Rate limit exceeded.", retry_after=7))
    error = send(make_manager(ONE_ATTEMPT))

    assert isinstance(error, RateLimitExceededError)
    assert (error.status_code, error.retry_after, error.local) == (429, 7.0, False)
    assert (error.maybe_processed, error.retryable) == (False, True)


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_unavailable_and_may_have_been_processed(
    make_manager: Any, postmark_server: FaultServer, status: int
) -> None:
    postmark_server.script(postmark_error(status, 0, "Internal Server Error", retry_after=30))
    error = send(make_manager(ONE_ATTEMPT))

    assert isinstance(error, VendorUnavailableError)
    assert (error.status_code, error.retry_after) == (status, 30.0)
    assert error.maybe_processed is True


def test_maintenance_is_unavailable_and_surely_not_processed(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    postmark_server.script(postmark_error(422, 100, "Maintenance"))
    error = send(make_manager(ONE_ATTEMPT))

    assert isinstance(error, VendorUnavailableError)
    assert error.maybe_processed is False


def test_a_404_points_at_the_base_url(make_manager: Any, postmark_server: FaultServer) -> None:
    error = send(make_manager(ONE_ATTEMPT, base_url=f"{postmark_server.url}/v1"))

    assert type(error) is VendorError
    assert error.status_code == 404
    assert "options.base_url" in str(error)


def test_an_unreadable_success_may_have_sent_the_message(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    postmark_server.script(Fault.respond(200, b"<html>proxy page</html>"))
    error = send(make_manager(ONE_ATTEMPT))

    assert type(error) is VendorError
    assert error.maybe_processed is True


def test_a_refused_connection_surely_sent_nothing(make_manager: Any, closed_port: int) -> None:
    error = send(make_manager(ONE_ATTEMPT, base_url=f"http://127.0.0.1:{closed_port}"))

    assert isinstance(error, VendorUnavailableError)
    assert error.maybe_processed is False
    assert isinstance(error.__cause__, Exception)


def test_a_reset_after_the_request_was_read_may_have_sent_it(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    postmark_server.script(Fault.reset_after_request())
    error = send(make_manager(ONE_ATTEMPT))

    assert isinstance(error, VendorUnavailableError)
    assert error.maybe_processed is True


def test_the_attempt_timeout_reaches_the_transport(
    make_manager: Any, postmark_server: FaultServer
) -> None:
    postmark_server.script(Fault.stall(5.0))
    error = send(make_manager({**ONE_ATTEMPT, "timeout": 0.2}))

    assert isinstance(error, VendorTimeoutError)
    assert error.maybe_processed is True


def test_the_token_never_shows_in_errors_reprs_or_the_call_log(
    make_manager: Any, postmark_server: FaultServer, postmark: PostmarkDouble
) -> None:
    token = postmark.server_token
    # A proxy that echoes the token back in its error must not leak it either.
    postmark_server.script(postmark_error(422, 300, f"Invalid header value {token}"))
    manager = make_manager(ONE_ATTEMPT)
    error = send(manager)
    adapter = manager.connector("email").adapter

    shown = [str(error), repr(error), repr(adapter), repr(vars(adapter))]
    shown += [str(error.vendor_message)]  # type: ignore[attr-defined]
    shown += [repr(record) for record in manager.call_log]
    assert not [text for text in shown if token in text]
    assert "**********" in str(error)


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_token_with_a_line_break_is_a_config_error_that_sent_nothing_and_never_shows_it(
    make_manager: Any, postmark_server: FaultServer, postmark: PostmarkDouble, twin: str
) -> None:
    token = postmark.server_token + "\n"
    retry = {"retry": {"max_attempts": 3, "base": 0.01}}
    manager = make_manager(retry, async_=twin == "async", token=token)

    async def send() -> Any:
        result = manager.email.send(message())
        return await result if twin == "async" else result

    with pytest.raises(ConfigError) as caught:
        await send()

    error = caught.value  # from the core's header auth, before httpx sees the header
    assert (error.maybe_processed, error.retryable) == (False, False)
    assert "X-Postmark-Server-Token header contains a line break" in str(error)
    shown = [str(error), repr(error), repr(error.__cause__)]
    shown += [repr(record) for record in manager.call_log]
    assert not [text for text in shown if postmark.server_token in text]
    assert manager.call_log[-1].attempts == 1
    assert postmark_server.hits == 0


def test_a_transport_failure_never_quotes_httpxs_text_which_may_hold_the_token() -> None:
    token = "pm-server-token-echoed-1234"
    failure = httpx.ConnectError(f"proxy refused X-Postmark-Server-Token: {token}")

    error = transport_error(failure, vendor="Postmark", sent=False)

    assert isinstance(error, VendorUnavailableError)
    assert token not in str(error)
    assert "Postmark could not be reached (ConnectError)" in str(error)
