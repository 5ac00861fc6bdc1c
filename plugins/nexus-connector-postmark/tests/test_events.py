"""Postmark webhook payloads (as its documentation shows them) become `PostmarkEvent`s."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from nexus_connector_postmark import PostmarkEvent, normalise_event

MESSAGE_ID = "883953f4-6105-42a2-a16a-77a8eac79483"

DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 23,
    "MessageStream": "outbound",
    "MessageID": MESSAGE_ID,
    "Recipient": "john@example.com",
    "Tag": "welcome-email",
    "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
    "Details": "Test delivery webhook details",
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
}
BOUNCE = {
    "RecordType": "Bounce",
    "ID": 42,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": MESSAGE_ID,
    "ServerID": 1234,
    "MessageStream": "outbound",
    "Description": (
        "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
    ),
    "Details": "Test bounce details",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2014-08-01T13:28:10.2735393-04:00",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
    "Metadata": {"user_id": "43"},
}
SPAM_COMPLAINT = {
    **BOUNCE,
    "RecordType": "SpamComplaint",
    "Type": "SpamComplaint",
    "TypeCode": 512,
    "Name": "Spam complaint",
    "Description": "The subscriber explicitly marked this message as spam.",
    "Details": "Test spam complaint details",
}
OPEN = {
    "RecordType": "Open",
    "MessageStream": "outbound",
    "FirstOpen": True,
    "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
    "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
    "Platform": "WebMail",
    "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5)",
    "ReadSeconds": 5,
    "Geo": {"CountryISOCode": "RS", "Country": "Serbia", "City": "Novi Sad"},
    "MessageID": MESSAGE_ID,
    "Metadata": {"a_key": "a_value"},
    "ReceivedAt": "2019-11-05T16:33:54.9070259Z",
    "Tag": "welcome-email",
    "Recipient": "john@example.com",
}
CLICK = {
    **OPEN,
    "RecordType": "Click",
    "ClickLocation": "HTML",
    "OriginalLink": "https://example.com/orders/1042",
}
UNSUBSCRIBE = {
    "RecordType": "SubscriptionChange",
    "MessageID": MESSAGE_ID,
    "ServerID": 23,
    "MessageStream": "outbound",
    "ChangedAt": "2020-02-01T10:53:34.416071Z",
    "Recipient": "bounced-address@wildbit.com",
    "Origin": "Recipient",
    "SuppressSending": True,
    "SuppressionReason": "HardBounce",
    "Tag": "my-tag",
    "Metadata": {"example": "value"},
}

UTC_20191105 = datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "kind", "recipient", "timestamp", "reason"),
    [
        (DELIVERY, "delivered", "john@example.com", UTC_20191105, None),
        (
            BOUNCE,
            "bounced",
            "john@example.com",
            datetime(2014, 8, 1, 13, 28, 10, 273539, tzinfo=timezone(timedelta(hours=-4))),
            "HardBounce: Test bounce details",
        ),
        (
            SPAM_COMPLAINT,
            "complained",
            "john@example.com",
            datetime(2014, 8, 1, 17, 28, 10, 273539, tzinfo=UTC),
            "SpamComplaint: Test spam complaint details",
        ),
        (OPEN, "opened", "john@example.com", UTC_20191105, None),
        (CLICK, "clicked", "john@example.com", UTC_20191105, None),
        (
            UNSUBSCRIBE,
            "unsubscribed",
            "bounced-address@wildbit.com",
            datetime(2020, 2, 1, 10, 53, 34, 416071, tzinfo=UTC),
            "HardBounce",
        ),
    ],
    ids=lambda value: value["RecordType"] if isinstance(value, dict) else None,
)
def test_each_record_type_is_normalised(
    payload: dict[str, Any], kind: str, recipient: str, timestamp: datetime, reason: str | None
) -> None:
    event = normalise_event(payload)

    assert (event.kind, event.record_type) == (kind, payload["RecordType"])
    assert (event.message_id, event.recipient, event.reason) == (MESSAGE_ID, recipient, reason)
    assert event.timestamp == timestamp
    assert event.timestamp.tzinfo is not None
    assert (event.tag, event.metadata) == (payload["Tag"], payload["Metadata"])
    assert event.raw == payload


def test_a_click_names_the_link() -> None:
    assert normalise_event(CLICK).url == "https://example.com/orders/1042"


def test_a_subscription_change_back_on_is_a_resubscription_without_reason() -> None:
    event = normalise_event({**UNSUBSCRIBE, "SuppressSending": False, "SuppressionReason": None})

    assert (event.kind, event.reason) == ("resubscribed", None)


def test_the_raw_json_body_is_accepted_as_well() -> None:
    assert normalise_event(json.dumps(DELIVERY).encode()) == normalise_event(DELIVERY)


def test_a_bounce_without_details_gives_its_description_as_the_reason() -> None:
    event = normalise_event({**BOUNCE, "Details": ""})

    assert event.reason == f"HardBounce: {BOUNCE['Description']}"


def test_a_record_type_this_version_does_not_know_is_kept_as_other() -> None:
    event = normalise_event({"RecordType": "Inbound", "MessageID": MESSAGE_ID, "Email": "x@y.z"})

    assert event == PostmarkEvent(
        kind="other",
        record_type="Inbound",
        message_id=MESSAGE_ID,
        recipient="x@y.z",
        raw={"RecordType": "Inbound", "MessageID": MESSAGE_ID, "Email": "x@y.z"},
    )


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"not json", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        ({"MessageID": MESSAGE_ID}, "no RecordType"),
        ({**DELIVERY, "Recipient": 42}, "Recipient should be a string, got int"),
        ({**DELIVERY, "DeliveredAt": "yesterday"}, "DeliveredAt is not an ISO 8601 time"),
        ({**UNSUBSCRIBE, "SuppressSending": "yes"}, "SuppressSending should be true or false"),
    ],
)
def test_a_malformed_payload_is_a_value_error_that_says_what_is_wrong(
    payload: Any, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        normalise_event(payload)
