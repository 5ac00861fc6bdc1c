"""How an `EmailMessage` of the email contract becomes an SMTP envelope and MIME bytes.

The MIME tree, outermost first (parts appear only when the message has them)::

    multipart/mixed                      regular attachments
    └── multipart/alternative            text and html together
        ├── text/plain
        └── multipart/related            inline attachments with a content_id
            ├── text/html
            └── image/png ...

Bodies are 7-bit clean (quoted-printable or base64) so that any server takes them without
8BITMIME; non-ASCII display names and subjects are RFC 2047 encoded. Bcc recipients are in
the envelope only, never in a header.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

from nexus_connector_core import Attachment, EmailAddress, EmailMessage, InvalidRequestError

__all__ = ["OutgoingMessage", "build_outgoing"]

#: CRLF line ends, RFC 2047 headers, and no 8-bit bodies.
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
#: The address headers, and the fields they show (bcc is deliberately absent).
_ADDRESS_HEADERS: tuple[tuple[str, Literal["to", "cc", "reply_to"]], ...] = (
    ("To", "to"),
    ("Cc", "cc"),
    ("Reply-To", "reply_to"),
)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message as SMTP sends it.

    Attributes:
        message_id: the Message-ID header, angle brackets included; the receipt's vendor_id.
        sender: the envelope sender (MAIL FROM).
        recipients: every envelope recipient (RCPT TO) once, in to, cc, bcc order.
        content: the message as sent after DATA.
    """

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    content: bytes


def build_outgoing(message: EmailMessage, *, now: float) -> OutgoingMessage:
    """The envelope and MIME bytes of `message`, dated `now` (seconds since the epoch).

    Raises `InvalidRequestError` (never retried) for what no SMTP server could take: an
    address SMTP cannot carry without SMTPUTF8, or a header value with a line break.
    """
    sender = message.from_address.email
    recipients = _envelope_recipients(message)
    for address in (sender, *recipients):
        if not address.isascii():
            raise InvalidRequestError(
                f"{address!r} has non-ASCII characters, which SMTP carries only with the "
                "SMTPUTF8 extension; this adapter does not support it",
                code="smtputf8_unsupported",
                maybe_processed=False,
            )
    try:
        mime = _mime(message, now)
    except (ValueError, TypeError) as exc:
        raise InvalidRequestError(
            f"the message cannot be written as MIME: {exc}",
            code="invalid_message",
            maybe_processed=False,
        ) from exc
    return OutgoingMessage(
        message_id=str(mime["Message-ID"]),
        sender=sender,
        recipients=recipients,
        content=mime.as_bytes(),
    )


def _envelope_recipients(message: EmailMessage) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for address in message.recipients:
        if address.email.lower() not in seen:
            seen.add(address.email.lower())
            out.append(address.email)
    return tuple(out)


def _header_address(address: EmailAddress) -> Address:
    return Address(display_name=address.name or "", addr_spec=address.email)


def _mime(message: EmailMessage, now: float) -> MimeMessage:
    mime = MimeMessage(policy=_POLICY)
    mime["From"] = _header_address(message.from_address)
    for header, field in _ADDRESS_HEADERS:
        addresses = message.addresses(field)
        if addresses:
            mime[header] = [_header_address(a) for a in addresses]
    mime["Subject"] = message.subject
    for name, value in message.headers.items():
        mime[name] = value
    if "Date" not in mime:
        mime["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    if "Message-ID" not in mime:
        domain = message.from_address.email.rpartition("@")[2]
        mime["Message-ID"] = make_msgid(domain=domain)
    _set_bodies(mime, message)
    return mime


def _set_bodies(mime: MimeMessage, message: EmailMessage) -> None:
    if message.text is not None:
        mime.set_content(message.text)
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html")
    elif message.html is not None:
        mime.set_content(message.html, subtype="html")
    html_part = mime.get_body(("html",)) if message.html is not None else None
    for attachment in message.attachments:
        maintype, subtype, params = _content_type(attachment.content_type)
        if attachment.inline and attachment.content_id and isinstance(html_part, MimeMessage):
            html_part.add_related(
                attachment.content,
                maintype,
                subtype,
                cid=f"<{attachment.content_id.strip('<>')}>",
                filename=attachment.filename,
                disposition="inline",
                params=params,
            )
        else:
            _attach(mime, attachment, maintype, subtype, params)


def _attach(
    mime: MimeMessage, attachment: Attachment, maintype: str, subtype: str, params: dict[str, str]
) -> None:
    cid = f"<{attachment.content_id.strip('<>')}>" if attachment.content_id else None
    mime.add_attachment(
        attachment.content,
        maintype,
        subtype,
        filename=attachment.filename,
        disposition="inline" if attachment.inline else "attachment",
        cid=cid,
        params=params,
    )


def _content_type(value: str) -> tuple[str, str, dict[str, str]]:
    """``("text", "csv", {"charset": "utf-8"})`` from ``text/csv; charset=utf-8``."""
    kind, *rest = value.split(";")
    maintype, _, subtype = kind.strip().lower().partition("/")
    if not maintype or not subtype or "/" in subtype:
        maintype, subtype = "application", "octet-stream"
    params = {}
    for param in rest:
        key, _, val = param.partition("=")
        if key.strip() and val.strip():
            params[key.strip().lower()] = val.strip().strip('"')
    return maintype, subtype, params
