"""A verified webhook delivery, and how its body is decoded."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec

__all__ = ["WebhookEvent", "decode_body"]


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery that passed verification.

    Attributes:
        id: the message id (``webhook-id``, ``X-GitHub-Delivery``...), None if the scheme
            has none.
        timestamp: when the sender signed it (UTC), None if the scheme signs no time.
        body: the raw body, exactly as received.
        data: the body decoded: JSON as Python objects, a form as a dict (a field sent several
            times becomes a list), None when it is neither.
        verifier: the verifier's key (``github``, ``standard-webhooks``...).
    """

    id: str | None
    timestamp: datetime | None
    body: bytes
    data: Any
    verifier: str

    def __repr__(self) -> str:
        # The body can be large; its length says enough in logs and tracebacks.
        return (
            f"WebhookEvent(verifier={self.verifier!r}, id={self.id!r}, "
            f"timestamp={self.timestamp!r}, body=<{len(self.body)} bytes>)"
        )


def _form(text: str) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, strict_parsing=True):
        seen = fields.get(name)
        if seen is None:
            fields[name] = value
        elif isinstance(seen, list):
            seen.append(value)
        else:
            fields[name] = [seen, value]
    return fields


def decode_body(body: bytes, content_type: str | None) -> Any:
    """The body as JSON or form fields, by its content type (or its look, without one).

    >>> decode_body(b'{"a": 1}', "application/json")
    {'a': 1}
    >>> decode_body(b"a=1&b=2&b=3", None)
    {'a': '1', 'b': ['2', '3']}

    None when the body is empty or neither: the signature was valid, so the delivery is
    not rejected for it; `WebhookEvent.body` still holds the bytes.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    as_json = media == "application/json" or media.endswith("+json")
    as_form = media == "application/x-www-form-urlencoded"
    if not media:
        as_json = body.lstrip()[:1] in (b"{", b"[")
        as_form = not as_json and b"=" in body
    try:
        if as_json:
            return msgspec.json.decode(body)
        if as_form:
            return _form(body.decode("utf-8"))
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    return None
