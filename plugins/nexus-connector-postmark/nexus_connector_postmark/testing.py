"""A local Postmark for tests, an application's or the plugin's: real HTTP on 127.0.0.1,
Postmark's rules and answers.

`PostmarkDouble` is the default responder of a core `FaultServer`. It checks each request
the way Postmark documents it and answers in Postmark's formats; its ``outbox`` holds the
messages it accepted. Point a connector's ``options.base_url`` at the server, and give the
connector the double's token. In an application's test:

>>> from nexus_connector_core import ConnectorManager, EmailMessage
>>> from nexus_connector_core.testing import FaultServer
>>> from nexus_connector_postmark.testing import PostmarkDouble, postmark_error
>>> postmark = PostmarkDouble(server_token="app-test-token", inactive={"gone@example.com"})
>>> with FaultServer(default=postmark) as server:
...     email = {
...         "vendor": "postmark",
...         "credentials": {"server_token": "env:POSTMARK_SERVER_TOKEN"},
...         "options": {"base_url": server.url},
...     }
...     with ConnectorManager.from_config(
...         {"connectors": {"email": email}},
...         environ={"POSTMARK_SERVER_TOKEN": "app-test-token"},
...     ) as manager:
...         receipt = manager.email.send(  # in a real test: the application's own code
...             EmailMessage(
...                 sender="shop@example.com",
...                 to=["ada@example.com", "gone@example.com"],
...                 subject="Order 1042",
...                 text="Shipped today.",
...             )
...         )
>>> [(sent["To"], sent["Subject"]) for sent in postmark.outbox]
[('ada@example.com, gone@example.com', 'Order 1042')]
>>> receipt.recipients["gone@example.com"].status
'rejected'

Scripted faults come before the double's answers: ``server.script(postmark_error(429,
429, "Rate limit exceeded", retry_after=2))`` makes the next answer a rate limit, and
``Fault.reset_after_request()`` (`nexus_connector_core.testing`) an exchange whose outcome
the caller cannot know.

What it checks (https://postmarkapp.com/developer/api/email-api and api/overview):

- ``POST /email`` (one JSON object) or ``POST /email/batch`` (a JSON array of at most 500);
- ``X-Postmark-Server-Token`` equal to the token (else 401, ErrorCode 10);
- ``Accept`` and ``Content-Type`` of ``application/json`` (else 422, ErrorCode 409) and a body
  that parses as UTF-8 JSON (else 422, ErrorCode 402);
- each message: ``From`` and ``To`` present, a ``TextBody`` or ``HtmlBody``, addresses as
  comma-separated strings, at most 50 recipients over To, Cc and Bcc, every field of the
  documented type (``Headers`` of ``{Name, Value}``, ``Metadata`` of strings, ``Attachments``
  of ``{Name, Content (base64), ContentType[, ContentID]}``, ``TrackLinks`` one of its four
  values); else 422, ErrorCode 300. Unlike Postmark, which may ignore them, it also refuses
  field names Postmark does not document, so that a misspelt field fails a test.

Addresses in `inactive` (or at `inactive_domains`) behave as Postmark's suppressed
recipients: a message to only such addresses is refused (422, ErrorCode 406, "Found inactive
addresses: ..."); otherwise it is accepted with "Message OK, but will not deliver to these
inactive addresses: ...".
"""

from __future__ import annotations

import binascii
import json
import threading
import uuid
from base64 import b64decode
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

from nexus_connector_core.testing import Fault, ReceivedRequest

__all__ = ["MAX_RECIPIENTS", "PostmarkDouble", "postmark_error"]

#: Recipients Postmark accepts per message, over To, Cc and Bcc together.
MAX_RECIPIENTS = 50
_MAX_BATCH = 500
_INACTIVE_TAIL = (
    "Inactive recipients are ones that have generated a hard bounce, a spam complaint, "
    "or a manual suppression."
)
_STRINGS = ("From", "To", "Cc", "Bcc", "ReplyTo", "Subject", "TextBody", "HtmlBody", "Tag")
_FIELDS = frozenset(
    (*_STRINGS, "Headers", "Metadata", "Attachments", "MessageStream", "TrackOpens", "TrackLinks")
)
_TRACK_LINKS = frozenset({"None", "HtmlAndText", "HtmlOnly", "TextOnly"})
_ATTACHMENT_FIELDS = frozenset({"Name", "Content", "ContentType", "ContentID"})


class _RefusedError(Exception):
    """A message Postmark would refuse: its ErrorCode and Message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def postmark_error(
    status: int, error_code: int, message: str, *, retry_after: float | str | None = None
) -> Fault:
    """An answer in Postmark's error format, ``{"ErrorCode": ..., "Message": ...}``.

    >>> dict(postmark_error(429, 429, "Rate limit exceeded", retry_after=3).headers)
    {'Content-Type': 'application/json', 'Retry-After': '3'}
    """
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Fault.respond(status, {"ErrorCode": error_code, "Message": message}, headers)


class PostmarkDouble:
    """Answers ``/email`` and ``/email/batch`` requests like Postmark (see the module).

    Attributes:
        server_token: the only token accepted.
        inactive: addresses treated as suppressed (compared case-insensitively).
        inactive_domains: domains all of whose addresses are treated as suppressed.
        outbox: every message accepted, in order: its JSON object plus ``"MessageID"``.
    """

    def __init__(
        self,
        *,
        server_token: str,
        inactive: Iterable[str] = (),
        inactive_domains: Iterable[str] = (),
    ) -> None:
        self.server_token = server_token
        self.inactive = {address.lower() for address in inactive}
        self.inactive_domains = {domain.lower() for domain in inactive_domains}
        self.outbox: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def is_inactive(self, address: str) -> bool:
        """Whether the double will not deliver to `address` (a bare ``local@domain``)."""
        address = address.lower()
        return address in self.inactive or address.rpartition("@")[2] in self.inactive_domains

    def __call__(self, request: ReceivedRequest) -> Fault:
        """The answer to one request."""
        if request.method != "POST" or request.path not in ("/email", "/email/batch"):
            return Fault.respond(
                404, {"Message": f"no such endpoint: {request.method} {request.path}"}
            )
        token = request.headers.get("x-postmark-server-token", "")
        if not token or token.lower() != self.server_token.lower():
            return postmark_error(401, 10, "Request does not contain a valid Server API token.")
        try:
            body = _json_body(request)
            if request.path == "/email":
                return Fault.respond(200, self._accept(_message_object(body)))
            return Fault.respond(200, self._batch(body))
        except _RefusedError as refused:
            return postmark_error(422, refused.code, refused.message)

    def _batch(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            raise _RefusedError(
                403, "Incompatible JSON: /email/batch takes a JSON array of messages."
            )
        if len(body) > _MAX_BATCH:
            raise _RefusedError(
                410, f"Too many batch messages: {len(body)} (at most {_MAX_BATCH})."
            )
        results = []
        for item in body:
            try:
                results.append(self._accept(_message_object(item)))
            except _RefusedError as refused:
                results.append({"ErrorCode": refused.code, "Message": refused.message})
        return results

    def _accept(self, message: dict[str, Any]) -> dict[str, Any]:
        recipients = _check_message(message)
        inactive = [address for address in recipients if self.is_inactive(address)]
        if inactive and len(inactive) == len(recipients):
            raise _RefusedError(
                406,
                "You tried to send to recipient(s) that have been marked as inactive. Found "
                f"inactive addresses: {', '.join(a.lower() for a in inactive)}. {_INACTIVE_TAIL}",
            )
        text = "OK"
        if inactive:
            text = (
                "Message OK, but will not deliver to these inactive addresses: "
                f"{', '.join(a.lower() for a in inactive)}. {_INACTIVE_TAIL}"
            )
        message_id = str(uuid.uuid4())
        with self._lock:
            self.outbox.append({**message, "MessageID": message_id})
        return {
            "To": message["To"],
            "SubmittedAt": datetime.now(UTC).isoformat(),
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": text,
        }


def _json_body(request: ReceivedRequest) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    accept = request.headers.get("accept", "").lower()
    if content_type != "application/json" or "application/json" not in accept:
        raise _RefusedError(
            409, "JSON required: set the Accept and Content-Type headers to application/json."
        )
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _RefusedError(402, "Invalid JSON: the request body does not parse.") from None


def _message_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _RefusedError(403, "Incompatible JSON: a message is a JSON object.")
    return value


def _check_message(message: Mapping[str, Any]) -> list[str]:
    """Postmark's rules for one message; its recipients' addresses, To then Cc then Bcc."""
    unknown = sorted(set(message) - _FIELDS)
    if unknown:
        raise _RefusedError(300, f"Invalid email request: unknown field(s) {', '.join(unknown)}.")
    for field in _STRINGS:
        if field in message and not isinstance(message[field], str):
            raise _RefusedError(300, f"Invalid email request: '{field}' must be a string.")
    for field in ("From", "To"):
        if not message.get(field):
            raise _RefusedError(300, f"Invalid email request: '{field}' is required.")
    if not (message.get("TextBody") or message.get("HtmlBody")):
        raise _RefusedError(300, "Provide either email TextBody or HtmlBody or both.")
    _addresses(message, "From")
    _addresses(message, "ReplyTo")
    recipients = [a for field in ("To", "Cc", "Bcc") for a in _addresses(message, field)]
    if len(recipients) > MAX_RECIPIENTS:
        raise _RefusedError(
            300, f"Invalid email request: {len(recipients)} recipients, at most {MAX_RECIPIENTS}."
        )
    _check_extras(message)
    return recipients


def _addresses(message: Mapping[str, Any], field: str) -> list[str]:
    value = message.get(field)
    if not value:
        return []
    parsed = getaddresses([value])
    if not parsed or any("@" not in address for _, address in parsed):
        raise _RefusedError(300, f"Invalid '{field}' address: '{value}'.")
    return [address for _, address in parsed]


def _check_extras(message: Mapping[str, Any]) -> None:
    headers = message.get("Headers", [])
    if not isinstance(headers, list) or not all(
        isinstance(h, dict) and set(h) == {"Name", "Value"} and _all_strings(h.values())
        for h in headers
    ):
        raise _RefusedError(300, "Invalid email request: Headers must be a list of {Name, Value}.")
    metadata = message.get("Metadata", {})
    if not isinstance(metadata, dict) or not _all_strings([*metadata, *metadata.values()]):
        raise _RefusedError(300, "Invalid metadata content: keys and values must be strings.")
    if len(message.get("Tag") or "") > 1000:
        raise _RefusedError(300, "Invalid email request: Tag is longer than 1000 characters.")
    if "TrackOpens" in message and not isinstance(message["TrackOpens"], bool):
        raise _RefusedError(300, "Invalid email request: TrackOpens must be true or false.")
    if "TrackLinks" in message and message["TrackLinks"] not in _TRACK_LINKS:
        raise _RefusedError(
            300, f"Invalid email request: TrackLinks must be one of {sorted(_TRACK_LINKS)}."
        )
    if "MessageStream" in message and not isinstance(message["MessageStream"], str):
        raise _RefusedError(300, "Invalid email request: MessageStream must be a string.")
    attachments = message.get("Attachments", [])
    if not isinstance(attachments, list):
        raise _RefusedError(300, "Invalid email request: Attachments must be a list.")
    for attachment in attachments:
        _check_attachment(attachment)


def _check_attachment(attachment: Any) -> None:
    if (
        not isinstance(attachment, dict)
        or not set(attachment) <= _ATTACHMENT_FIELDS
        or not {"Name", "Content", "ContentType"} <= set(attachment)
        or not _all_strings(attachment.values())
    ):
        raise _RefusedError(
            300, "Invalid attachment: expected {Name, Content, ContentType[, ContentID]} strings."
        )
    try:
        b64decode(attachment["Content"], validate=True)
    except (binascii.Error, ValueError):
        raise _RefusedError(
            300, f"Invalid attachment content: {attachment['Name']} is not base64."
        ) from None


def _all_strings(values: Iterable[Any]) -> bool:
    return all(isinstance(value, str) for value in values)
