"""The whole mapping from Postmark's answers to errors, as a table (no sockets needed)."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_postmark._answers import Answer, error_for, inactive_addresses

from nexus_connector_core import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    RateLimitExceededError,
    VendorError,
    VendorUnavailableError,
)
from nexus_connector_core.http import Redactor

NOW = 1_767_225_600.0


@pytest.mark.parametrize(
    ("status", "body", "error", "maybe_processed"),
    [
        (401, {"ErrorCode": 10, "Message": "Bad or missing API token"}, AuthenticationError, False),
        (403, {"Message": "Forbidden by the IP allow-list"}, AuthenticationError, False),
        (422, {"ErrorCode": 10, "Message": "Bad or missing API token"}, AuthenticationError, False),
        (429, {"ErrorCode": 429, "Message": "Rate limit exceeded"}, RateLimitExceededError, False),
        (422, {"ErrorCode": 429, "Message": "Rate limit exceeded"}, RateLimitExceededError, False),
        (422, {"ErrorCode": 300, "Message": "Invalid email request"}, InvalidRequestError, False),
        (422, {"ErrorCode": 406, "Message": "Inactive recipient"}, InvalidRequestError, False),
        (422, {"ErrorCode": 409, "Message": "JSON required"}, InvalidRequestError, False),
        (413, None, InvalidRequestError, False),
        (422, {"ErrorCode": 100, "Message": "Maintenance"}, VendorUnavailableError, False),
        (503, {"ErrorCode": 100, "Message": "Maintenance"}, VendorUnavailableError, False),
        (404, None, VendorError, False),
        (500, {"ErrorCode": 0, "Message": "Internal Server Error"}, VendorUnavailableError, True),
        (503, None, VendorUnavailableError, True),
    ],
)
def test_each_answer_maps_to_the_most_specific_error(
    status: int, body: Any, error: type[ConnectorError], maybe_processed: bool
) -> None:
    mapped = error_for(Answer(status, body, None, NOW))

    assert type(mapped) is error
    assert mapped.maybe_processed is maybe_processed


def test_an_invalid_request_carries_postmarks_code_and_message() -> None:
    mapped = error_for(Answer(422, {"ErrorCode": 300, "Message": "Invalid 'To' address."}))

    assert isinstance(mapped, InvalidRequestError)
    assert (mapped.code, mapped.status_code) == ("300", 422)
    assert mapped.vendor_message == "Invalid 'To' address."


def test_retry_after_is_read_in_seconds_or_as_an_http_date() -> None:
    seconds = error_for(Answer(429, None, "12", NOW))
    date = error_for(Answer(503, None, "Thu, 01 Jan 2026 00:00:30 GMT", NOW))

    assert getattr(seconds, "retry_after", None) == 12.0
    assert getattr(date, "retry_after", None) == 30.0


def test_a_redacted_value_never_reaches_the_message() -> None:
    refused = Answer(401, {"ErrorCode": 10, "Message": "token tok-123 refused"})
    mapped = error_for(refused, redact=Redactor(["tok-123"]))

    assert "tok-123" not in str(mapped)
    assert "token ********** refused" in str(mapped)


@pytest.mark.parametrize(
    ("text", "addresses"),
    [
        (
            "You tried to send to recipient(s) that have been marked as inactive.\n"
            "Found inactive addresses: a@x.example, b@y.example.\n"
            "Inactive recipients are ones that have generated a hard bounce or a spam complaint.",
            {"a@x.example", "b@y.example"},
        ),
        (
            "Message OK, but will not deliver to these inactive addresses: c@z.example. "
            "Inactive recipients are ones that have generated a hard bounce, a spam complaint, "
            "or a manual suppression.",
            {"c@z.example"},
        ),
        ("Found inactive addresses: D@Example.com.", {"d@example.com"}),
        ("OK", set()),
    ],
    ids=["406", "accepted-with-inactive", "no-tail", "none"],
)
def test_inactive_addresses_are_read_from_postmarks_messages(
    text: str, addresses: set[str]
) -> None:
    assert inactive_addresses(text) == addresses
