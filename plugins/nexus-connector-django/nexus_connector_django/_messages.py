"""A Django email message as the email contract's `EmailMessage` (pure: nothing is sent).

What maps to what:

- ``from_email`` -> ``sender`` (a ``From`` in ``headers`` wins, as with django-anymail);
  ``to``, ``cc``, ``bcc``, ``reply_to`` as given (a ``Reply-To`` header wins);
- ``body`` -> ``text``, or ``html`` when ``content_subtype`` is ``"html"``; an
  ``EmailMultiAlternatives`` alternative of ``text/html`` -> ``html`` (``text/plain`` ->
  ``text``); any other alternative is refused: the contract carries text and html;
- attachments, as ``(filename, content, mimetype)`` or MIME parts: text content is sent as
  UTF-8 (``charset=utf-8`` added to its type); a MIME part with a ``Content-ID`` and no
  ``Content-Disposition: attachment`` is an inline attachment (an image the HTML shows by
  ``cid:``); an attachment without a file name is named after its Content-ID, else
  ``attachment``, with the extension of its type (``logo.png``), as some vendors require one;
- other ``headers`` pass through (``Message-ID``, ``List-Unsubscribe``...); ``To`` and
  ``Cc`` headers that differ from the envelope cannot be expressed and are refused;
- ``message.tags`` and ``message.metadata`` (attributes you may set, as with
  django-anymail) -> ``tags`` and ``metadata``.

Whatever cannot be sent as given is a `ValueError` naming the field, raised before anything
is sent.
"""

from __future__ import annotations

import email.message
import email.policy
import mimetypes
import re
from collections.abc import Sequence
from email.mime.base import MIMEBase
from typing import Any

from django.core.mail import EmailMessage as DjangoEmailMessage, EmailMultiAlternatives

from nexus_connector_core import Attachment, EmailMessage

__all__ = ["to_email_message"]

_TEXT_CHARSET = "utf-8"


def to_email_message(message: DjangoEmailMessage) -> EmailMessage:
    """`message` as an `EmailMessage`; `ValueError` naming what cannot be sent as given."""
    headers = {str(name): str(value) for name, value in message.extra_headers.items()}
    sender = _pop(headers, "From") or message.from_email
    reply_to = _pop(headers, "Reply-To")
    for name in ("To", "Cc"):
        if _pop(headers, name) is not None:
            raise ValueError(
                f"Django message header {name!r}: a {name} header apart from the recipients "
                f"cannot be sent through Nexus Connector; put the addresses in "
                f"message.{name.lower()}"
            )
    text, html = _bodies(message)
    tags: Any = getattr(message, "tags", ())
    metadata: Any = getattr(message, "metadata", {})
    return EmailMessage(
        sender=sender,
        to=_listed(message.to),
        cc=_listed(message.cc),
        bcc=_listed(message.bcc),
        reply_to=[reply_to] if reply_to is not None else _listed(message.reply_to),
        subject=str(message.subject or ""),
        text=text,
        html=html,
        attachments=[_attachment(a, i) for i, a in enumerate(message.attachments)],
        headers=headers,
        tags=[str(tag) for tag in tags],
        metadata={str(key): str(value) for key, value in dict(metadata).items()},
    )


def _pop(headers: dict[str, str], name: str) -> str | None:
    """Remove and return the header `name`, matched without regard to case."""
    for key in list(headers):
        if key.lower() == name.lower():
            return headers.pop(key)
    return None


def _listed(addresses: Sequence[Any]) -> list[str]:
    return [str(address) for address in addresses if address]


def _bodies(message: DjangoEmailMessage) -> tuple[str | None, str | None]:
    text: str | None = None
    html: str | None = None
    body = str(message.body or "")
    if message.content_subtype == "html":
        html = body
    elif message.content_subtype == "plain":
        text = body
    else:
        raise ValueError(
            f"Django message content_subtype {message.content_subtype!r}: the body is sent "
            "as text ('plain') or html ('html')"
        )
    alternatives = message.alternatives if isinstance(message, EmailMultiAlternatives) else []
    for index, alternative in enumerate(alternatives):
        content, mimetype = alternative[0], str(alternative[1]).lower()
        value = content.decode(_TEXT_CHARSET) if isinstance(content, bytes) else str(content)
        if mimetype == "text/html" and html is None:
            html = value
        elif mimetype == "text/plain" and not text:
            text = value
        else:
            raise ValueError(
                f"Django message alternatives[{index}] ({mimetype}): the email contract "
                "carries one text and one html body; send anything else as an attachment"
            )
    if text == "" and html is not None:
        text = None  # an empty body beside the html alternative: Django sends no text part
    return text, html


def _attachment(attachment: Any, index: int) -> Attachment:
    where = f"Django message attachments[{index}]"
    if isinstance(attachment, MIMEBase | email.message.Message):
        return _mime_attachment(attachment, where)
    filename, content, mimetype = attachment
    content_type = str(mimetype or "application/octet-stream")
    if isinstance(content, DjangoEmailMessage):  # message/rfc822
        content = content.message().as_bytes(policy=email.policy.SMTP)
    elif isinstance(content, email.message.Message):
        content = content.as_bytes(policy=email.policy.SMTP)
    elif isinstance(content, str):
        content = content.encode(_TEXT_CHARSET)
        if "charset=" not in content_type.lower():
            content_type = f"{content_type}; charset={_TEXT_CHARSET}"
    if not isinstance(content, bytes | bytearray | memoryview):
        raise ValueError(f"{where}: content must be bytes or str, got {type(content).__name__}")
    try:
        return Attachment(
            filename=str(filename or _name(None, content_type)),
            content=bytes(content),
            content_type=content_type,
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _name(content_id: str | None, content_type: str) -> str:
    """A file name for an attachment that has none: ``logo.png`` for ``<logo>``, image/png."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "", (content_id or "").partition("@")[0]) or "attachment"
    extension = mimetypes.guess_extension(content_type.partition(";")[0].strip()) or ""
    return stem + extension


def _mime_attachment(part: email.message.Message, where: str) -> Attachment:
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload(0)
        assert isinstance(inner, email.message.Message)
        content = inner.as_bytes(policy=email.policy.SMTP)
    elif part.is_multipart():
        raise ValueError(
            f"{where}: a multipart MIME part ({content_type}) cannot be attached; attach "
            "its parts one by one"
        )
    else:
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset()
    if charset:
        content_type = f"{content_type}; charset={charset}"
    content_id = part.get("Content-ID")
    disposition = part.get_content_disposition()
    inline = disposition == "inline" or (content_id is not None and disposition is None)
    try:
        return Attachment(
            filename=part.get_filename() or _name(content_id, content_type),
            content=content,
            content_type=content_type,
            inline=inline,
            content_id=str(content_id).strip() if content_id is not None else None,
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
