"""The message as SMTP sees it: how an `EmailMessage` of the email contract becomes an SMTP
envelope (MAIL FROM, RCPT TO) and MIME bytes (the content after DATA). Pure: no I/O.

The MIME tree, outermost first (parts appear only when the message has them)::

    multipart/mixed                      regular attachments
    └── multipart/alternative            text and html together
        ├── text/plain
        └── multipart/related            inline attachments with a content_id
            ├── text/html
            └── image/png ...

Bodies are 7-bit clean (quoted-printable or base64) so that any server takes them without
8BITMIME; non-ASCII display names and subjects are RFC 2047 encoded. Bcc recipients are in
the envelope only, never in a header. Custom headers go on the outermost part, Content-*
ones (Content-Language ...) included, except those that describe the structure above,
which the adapter writes itself.
"""

from __future__ import annotations

import email.policy
from collections.abc import Callable
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
#: Headers that describe the MIME structure: a custom value would contradict it.
_STRUCTURE_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})


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
    address SMTP cannot carry without SMTPUTF8; a custom header that would contradict the
    MIME structure (Content-Type, Content-Transfer-Encoding, MIME-Version); and a custom
    header the standard library would send other than given (a ``Date`` it cannot read
    goes out empty, an address list it cannot parse cut). Control characters and line
    breaks never get here: `EmailMessage` refuses them for every vendor.
    """
    for name in message.headers:
        if name.lower() in _STRUCTURE_HEADERS:
            raise InvalidRequestError(
                f"EmailMessage.headers: {name!r} cannot be set: the SMTP adapter writes the "
                "MIME structure, and this header with it, from the bodies and attachments",
                code="invalid_message",
                maybe_processed=False,
            )
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
    custom = {name.lower() for name in message.headers}
    if "date" not in custom:
        mime["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    if "message-id" not in custom:
        domain = message.from_address.email.rpartition("@")[2]
        mime["Message-ID"] = make_msgid(domain=domain)
    _set_bodies(mime, message)
    # Only now: set_content() drops every Content-* header set before it, and each step
    # that wraps the root in a multipart moves them down into the part it wraps.
    for name, value in message.headers.items():
        _add_custom_header(mime, name, value)
    return mime


def _add_custom_header(mime: MimeMessage, name: str, value: str) -> None:
    """Add one custom header, refusing a value the standard library could not read: it
    parses Date, Message-ID, address and Content-Disposition headers and would write its
    reading of them (an empty Date, a list cut at the first bad address), not the value."""
    mime[name] = value
    defects = mime.get_all(name, [])[-1].defects
    if defects:
        problems = "; ".join(dict.fromkeys(str(defect) for defect in defects))
        shown = value if len(value) <= 60 else f"{value[:57]}..."
        raise InvalidRequestError(
            f"EmailMessage.headers[{name!r}]: {shown!r} is not a valid {name} header "
            f"({problems}); the SMTP adapter would not send it as given",
            code="invalid_message",
            maybe_processed=False,
        )


def _set_bodies(mime: MimeMessage, message: EmailMessage) -> None:
    if message.text is not None:
        mime.set_content(message.text)
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html")
    elif message.html is not None:
        mime.set_content(message.html, subtype="html")
    html_part = mime.get_body(("html",)) if message.html is not None else None
    regular: list[Attachment] = []
    # Inline images join the html before any regular attachment wraps the root in
    # multipart/mixed: html_part must still be the part that holds the html.
    for attachment in message.attachments:
        if attachment.inline and attachment.content_id and isinstance(html_part, MimeMessage):
            _add(html_part.add_related, attachment, disposition="inline")
        else:
            regular.append(attachment)
    for attachment in regular:
        _add(
            mime.add_attachment,
            attachment,
            disposition="inline" if attachment.inline else "attachment",
        )


def _add(add: Callable[..., None], attachment: Attachment, *, disposition: str) -> None:
    """`attachment` added by `add` (``add_related`` or ``add_attachment`` of a part)."""
    maintype, subtype, params = _content_type(attachment.content_type)
    add(
        attachment.content,
        maintype,
        subtype,
        filename=attachment.filename,
        disposition=disposition,
        cid=f"<{attachment.content_id.strip('<>')}>" if attachment.content_id else None,
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
