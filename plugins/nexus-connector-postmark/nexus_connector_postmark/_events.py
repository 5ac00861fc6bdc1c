"""Postmark webhook payloads, normalised into one small struct whatever their RecordType.

Postmark posts one JSON object per event, its kind in ``RecordType``
(https://postmarkapp.com/developer/webhooks/webhooks-overview):

=====================  =============  ==================  =============  ===================
RecordType             kind           recipient from      time from      reason from
=====================  =============  ==================  =============  ===================
Delivery               delivered      Recipient           DeliveredAt    (none)
Bounce                 bounced        Email               BouncedAt      Type, Details
SpamComplaint          complained     Email               BouncedAt      Type, Details
Open                   opened         Recipient           ReceivedAt     (none)
Click                  clicked        Recipient           ReceivedAt     (none); url: OriginalLink
SubscriptionChange     unsubscribed   Recipient           ChangedAt      SuppressionReason
                       (SuppressSending true) or resubscribed (false)
anything else          other          Recipient or Email  (none)         (none)
=====================  =============  ==================  =============  ===================

Every kind takes ``MessageID`` (the id `send` returned as ``vendor_id``), ``Tag`` and
``Metadata``; `raw` keeps the whole payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

__all__ = ["EventKind", "PostmarkEvent", "normalise_event"]

#: What happened to a message, in Postmark-neutral words.
EventKind = Literal[
    "delivered",
    "bounced",
    "complained",
    "opened",
    "clicked",
    "unsubscribed",
    "resubscribed",
    "other",
]


class PostmarkEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One Postmark webhook event, normalised.

    Attributes:
        kind: what happened (see `EventKind`); ``other`` for a RecordType this version does
            not know (Inbound, or one Postmark adds later).
        record_type: Postmark's ``RecordType``, as sent.
        message_id: Postmark's ``MessageID``: the `vendor_id` of the receipt of the send.
        recipient: the address the event is about.
        timestamp: when it happened (timezone-aware), if the payload says.
        reason: why, for bounces, spam complaints and suppressions (Postmark's words).
        url: the link clicked, for ``clicked``.
        tag: the message's ``Tag``, if it had one.
        metadata: the message's ``Metadata``.
        raw: the payload as Postmark sent it.
    """

    kind: EventKind
    record_type: str
    message_id: str | None = None
    recipient: str | None = None
    timestamp: datetime | None = None
    reason: str | None = None
    url: str | None = None
    tag: str | None = None
    metadata: Mapping[str, Any] = {}
    raw: Any = None


def normalise_event(payload: Mapping[str, Any] | bytes | str) -> PostmarkEvent:
    """A Postmark webhook payload (decoded, or the raw JSON body) as a `PostmarkEvent`.

    >>> event = normalise_event(b'{"RecordType": "Delivery", "MessageID": "883953f4", '
    ...     b'"Recipient": "ada@example.com", "DeliveredAt": "2024-05-01T10:00:00Z"}')
    >>> event.kind, event.recipient, event.timestamp.isoformat()
    ('delivered', 'ada@example.com', '2024-05-01T10:00:00+00:00')

    With the ``postmark`` webhook verifier: ``normalise_event(verify("postmark", ...).data)``.

    Raises `ValueError` when the payload is not a JSON object with a ``RecordType``, or a
    field it reads has the wrong type; absent fields are None.
    """
    data = _decode(payload)
    record_type = data.get("RecordType")
    if not isinstance(record_type, str) or not record_type:
        raise ValueError("not a Postmark webhook payload: no RecordType")
    read = _Reader(data, record_type)
    common: dict[str, Any] = {
        "record_type": record_type,
        "message_id": read.text("MessageID") or read.text("MessageId"),
        "tag": read.text("Tag"),
        "metadata": read.mapping("Metadata"),
        "raw": data,
    }
    if record_type == "Delivery":
        return PostmarkEvent(
            kind="delivered",
            recipient=read.text("Recipient"),
            timestamp=read.time("DeliveredAt"),
            **common,
        )
    if record_type in ("Bounce", "SpamComplaint"):
        return PostmarkEvent(
            kind="bounced" if record_type == "Bounce" else "complained",
            recipient=read.text("Email"),
            timestamp=read.time("BouncedAt"),
            reason=_reason(read.text("Type"), read.text("Details") or read.text("Description")),
            **common,
        )
    if record_type in ("Open", "Click"):
        return PostmarkEvent(
            kind="opened" if record_type == "Open" else "clicked",
            recipient=read.text("Recipient"),
            timestamp=read.time("ReceivedAt"),
            url=read.text("OriginalLink"),
            **common,
        )
    if record_type == "SubscriptionChange":
        suppressed = read.flag("SuppressSending")
        return PostmarkEvent(
            kind="unsubscribed" if suppressed else "resubscribed",
            recipient=read.text("Recipient"),
            timestamp=read.time("ChangedAt"),
            reason=read.text("SuppressionReason") if suppressed else None,
            **common,
        )
    return PostmarkEvent(
        kind="other", recipient=read.text("Recipient") or read.text("Email"), **common
    )


def _decode(payload: Mapping[str, Any] | bytes | str) -> Mapping[str, Any]:
    if isinstance(payload, bytes | str):
        try:
            payload = msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            raise ValueError(f"not a Postmark webhook payload: invalid JSON ({exc})") from None
    if not isinstance(payload, Mapping):
        raise ValueError(
            f"not a Postmark webhook payload: expected a JSON object, got {type(payload).__name__}"
        )
    return payload


def _reason(kind: str | None, detail: str | None) -> str | None:
    parts = [part for part in (kind, detail) if part]
    return ": ".join(parts) or None


class _Reader:
    """Typed reads of a payload's fields: absent or null is None, a wrong type an error."""

    def __init__(self, data: Mapping[str, Any], record_type: str) -> None:
        self.data = data
        self.record_type = record_type

    def _get(self, field: str, kind: type | tuple[type, ...], expected: str) -> Any:
        value = self.data.get(field)
        if value is not None and not isinstance(value, kind):
            raise ValueError(
                f"Postmark {self.record_type} event: {field} should be {expected}, got "
                f"{type(value).__name__}"
            )
        return value

    def text(self, field: str) -> str | None:
        value: str | None = self._get(field, str, "a string")
        return value or None

    def flag(self, field: str) -> bool:
        return bool(self._get(field, bool, "true or false"))

    def mapping(self, field: str) -> Mapping[str, Any]:
        value: Mapping[str, Any] | None = self._get(field, Mapping, "an object")
        return value or {}

    def time(self, field: str) -> datetime | None:
        text = self.text(field)
        if text is None:
            return None
        try:
            # Postmark writes ISO 8601 with seven fractional digits and an offset or "Z".
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"Postmark {self.record_type} event: {field} is not an ISO 8601 time: {text!r}"
            ) from None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
