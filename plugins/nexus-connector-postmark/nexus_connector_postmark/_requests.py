"""Each operation as the HTTP request Postmark expects (pure: no I/O, shared by both adapters
and the tests):

- send: ``POST /email`` (`EMAIL_PATH`) with one message object, `message_payload`;
- send_batch: ``POST /email/batch`` (`BATCH_PATH`) with an array of at most `MAX_BATCH`
  message objects, `batch_payload`.

Both carry ``Accept`` and ``Content-Type: application/json`` (set by the adapter). Field
names and encodings are Postmark's (https://postmarkapp.com/developer/api/email-api):

- ``From``, ``To``, ``Cc``, ``Bcc`` and ``ReplyTo`` are strings of comma-separated
  addresses, each ``a@b.example`` or ``Name <a@b.example>`` (names with punctuation quoted);
- ``TextBody`` and ``HtmlBody``: at least one;
- ``Headers`` a list of ``{"Name", "Value"}``; ``Tag`` one string; ``Metadata`` an object of
  strings;
- ``Attachments`` a list of ``{"Name", "Content" (base64), "ContentType"}``, plus
  ``"ContentID": "cid:<id>"`` for an inline image the HTML refers to as ``cid:<id>``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Literal

from nexus_connector_core import (
    Attachment,
    EmailAddress,
    EmailBatch,
    EmailMessage,
    InvalidRequestError,
)

from ._options import PostmarkOptions

__all__ = ["EMAIL_PATH", "BATCH_PATH", "MAX_BATCH", "batch_payload", "message_payload"]

#: Postmark's paths, appended to ``options.base_url``.
EMAIL_PATH = "/email"
BATCH_PATH = "/email/batch"
#: Messages Postmark accepts in one batch call.
MAX_BATCH = 500

_RECIPIENT_FIELDS: tuple[tuple[Literal["to", "cc", "bcc"], str], ...] = (
    ("to", "To"),
    ("cc", "Cc"),
    ("bcc", "Bcc"),
)


def message_payload(message: EmailMessage, options: PostmarkOptions) -> dict[str, Any]:
    """The JSON object Postmark expects for `message`.

    >>> message_payload(EmailMessage(sender="shop@example.com", to=["ada@example.com"],
    ...                              subject="Hi", text="Hello"), PostmarkOptions())
    {'From': 'shop@example.com', 'To': 'ada@example.com', 'Subject': 'Hi', 'TextBody': 'Hello'}

    Raises `InvalidRequestError` (before anything is sent, so ``maybe_processed`` is
    false) for what Postmark cannot carry: more than one tag.
    """
    payload: dict[str, Any] = {"From": str(message.from_address)}
    for field, name in _RECIPIENT_FIELDS:
        if addresses := message.addresses(field):
            payload[name] = _address_list(addresses)
    if message.subject:
        payload["Subject"] = message.subject
    if message.text is not None:
        payload["TextBody"] = message.text
    if message.html is not None:
        payload["HtmlBody"] = message.html
    if reply_to := message.addresses("reply_to"):
        payload["ReplyTo"] = _address_list(reply_to)
    if message.headers:
        payload["Headers"] = [{"Name": k, "Value": v} for k, v in message.headers.items()]
    if message.tags:
        payload["Tag"] = _one_tag(message.tags)
    if message.metadata:
        payload["Metadata"] = dict(message.metadata)
    if message.attachments:
        payload["Attachments"] = [_attachment(a) for a in message.attachments]
    if options.message_stream is not None:
        payload["MessageStream"] = options.message_stream
    if options.track_opens is not None:
        payload["TrackOpens"] = options.track_opens
    if options.track_links is not None:
        payload["TrackLinks"] = options.track_links
    return payload


def batch_payload(batch: EmailBatch, options: PostmarkOptions) -> list[dict[str, Any]]:
    """The JSON array for ``/email/batch``: one object per message, in order."""
    if len(batch.messages) > MAX_BATCH:
        raise InvalidRequestError(
            f"Postmark accepts at most {MAX_BATCH} messages per batch call, got "
            f"{len(batch.messages)}; split the batch",
            code="batch_too_large",
            maybe_processed=False,
        )
    return [message_payload(message, options) for message in batch.messages]


def _address_list(addresses: Sequence[EmailAddress]) -> str:
    # EmailAddress renders a display name with commas or dots in quotes, so joining on
    # ", " never splits one address in two.
    return ", ".join(str(address) for address in addresses)


def _one_tag(tags: Sequence[str]) -> str:
    if len(tags) > 1:
        raise InvalidRequestError(
            f"Postmark takes one Tag per message, got {len(tags)} ({', '.join(tags)}); "
            "send one tag and put the rest in metadata",
            code="too_many_tags",
            maybe_processed=False,
        )
    return tags[0]


def _attachment(attachment: Attachment) -> dict[str, str]:
    item = {
        "Name": attachment.filename,
        "Content": base64.b64encode(attachment.content).decode("ascii"),
        "ContentType": attachment.content_type,
    }
    if attachment.inline or attachment.content_id:
        # Postmark's examples name inline parts "cid:<id>", the id being the file name
        # unless one is given; the HTML refers to them as <img src="cid:<id>">.
        content_id = (attachment.content_id or attachment.filename).strip("<>")
        item["ContentID"] = content_id if content_id.startswith("cid:") else f"cid:{content_id}"
    return item
