"""The reply-code table (`ERRORS`): the codes that mean more than their class say what to
do, wherever they come, and leave the server with nothing (a retry is safe)."""

from __future__ import annotations

import pytest
from nexus_connector_smtp._answers import ERRORS, Reply, refusal_error, session_error

from nexus_connector_core import AuthenticationError, InvalidRequestError


@pytest.mark.parametrize("code", sorted(ERRORS))
@pytest.mark.parametrize("step", ["the greeting", "EHLO", "STARTTLS", "AUTH"])
def test_a_code_of_the_table_is_its_error_with_its_hint_at_any_session_step(
    code: int, step: str
) -> None:
    error = session_error(step, Reply(code, "5.7.0 no"))

    assert type(error) is ERRORS[code].error
    assert str(error).endswith(ERRORS[code].hint)
    assert error.maybe_processed is False


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_a_code_of_the_table_refusing_a_message_is_no_invalid_request(code: int) -> None:
    error = refusal_error("the sender", Reply(code, "5.7.0 no"), code="sender_refused")

    assert type(error) is ERRORS[code].error
    assert not isinstance(error, InvalidRequestError)


def test_a_server_wanting_tls_before_auth_says_which_option_to_set() -> None:
    error = session_error("AUTH", Reply(538, "5.7.11 Encryption required"))

    assert isinstance(error, AuthenticationError)
    assert 'options.tls = "starttls" or "implicit"' in str(error)


def test_any_other_permanent_refusal_of_auth_points_at_the_credentials() -> None:
    error = session_error("AUTH", Reply(554, "5.7.0 Go away"))

    assert isinstance(error, AuthenticationError)
    assert "credentials username and password" in str(error)
