"""The email category: messages, receipts and the adapter protocol email vendors implement."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from ._context import CallContext
from ._operations import Category, Operation

__all__ = [
    "AsyncEmailAdapter",
    "Attachment",
    "EMAIL",
    "EmailAdapter",
    "EmailAddress",
    "EmailBatch",
    "EmailBatchReceipt",
    "EmailMessage",
    "EmailReceipt",
    "RecipientStatus",
]

# RFC 5322 dot-atom local part and a domain of letter-digit-hyphen labels (non-ASCII
# allowed for internationalised mail) or an address literal. Narrower than the RFC on
# purpose: comments, quoted local parts and route syntax (``a(b)@x``, ``a:b@x``) are
# rewritten differently by every SMTP library, so the envelope would not be the address.
# Non-ASCII is what RFC 6532 allows but the C1 controls and the Unicode line and paragraph
# separators (see `_CONTROL`).
# Each class is written as what it leaves out: a class of ranges up to U+10FFFF takes
# ~20 ms to compile (at import), its complement ~1 ms, and they match the same characters
# (tests/test_email_address_classes.py checks every code point).
#: atext (RFC 5322): ASCII letters, digits and ``!#$%&'*+/=?^_`{|}~-``, or non-ASCII.
_ATEXT = r'[^\x00-\x20"(),.:;<>@\[\\\]\x7f-\x9f\u2028\u2029]'
#: A letter or digit, ASCII or not.
_LETDIG = r"[^\x00-/:-@\[-`{-\x9f\u2028\u2029]"
#: A letter, digit or hyphen, ASCII or not.
_LETDIG_HYPHEN = r"[^\x00-,./:-@\[-`{-\x9f\u2028\u2029]"
_LABEL = rf"{_LETDIG}(?:{_LETDIG_HYPHEN}*{_LETDIG})?"
_ADDR_SPEC = re.compile(
    rf"{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])"
)
_NAME_ADDR = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^<>]*)>\s*')

#: What no header may carry: the C0 controls (CR and LF included), DEL, the C1 controls
#: (U+0085 is a line break to some parsers) and the Unicode line and paragraph separators
#: (Python's ``str.splitlines`` breaks on them). `_CONTROL_BUT_TAB` is the rule for free
#: text (subject, display names, custom header values), where a tab is folding white space
#: (RFC 5322 WSP) and so legitimate; names, ids, file names and content types are tokens,
#: where a tab is refused too.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_TAB = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
#: RFC 5322 field-name: printable ASCII but the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")
#: RFC 5322 msg-id, ASCII only: ``<dot-atom-text@dot-atom-text>`` or an address literal on
#: the right.
_ATOM_ASCII = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+"
_DOT_ATOM_ASCII = rf"{_ATOM_ASCII}(?:\.{_ATOM_ASCII})*"
_MSG_ID = re.compile(rf"<{_DOT_ATOM_ASCII}@(?:{_DOT_ATOM_ASCII}|\[[!-Z^-~]*\])>")
#: A Message-ID cannot be folded: the header must fit one line of 998 characters.
_MAX_MESSAGE_ID = 998 - len("Message-ID: ")
#: A Content-ID (and the ``cid:`` URL the HTML refers to it by): printable ASCII without
#: spaces or angle brackets, optionally inside one pair of them.
_CONTENT_ID = re.compile(r"<[!-;=?-~]+>|[!-;=?-~]+")


def _check_text(value: object, where: str, *, tab: bool = False) -> None:
    """Raise `ValueError` naming `where` unless `value` is a string without a character
    no email header may carry (`_CONTROL`); ``tab=True`` lets a tab through (free text)."""
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {type(value).__name__}")
    found = (_CONTROL_BUT_TAB if tab else _CONTROL).search(value)
    if found is None:
        return
    char = found.group()
    allowed = " (a tab is the one allowed here)" if tab else ""
    raise ValueError(
        f"{where} holds the control character {char!r} (U+{ord(char):04X}) at index "
        f"{found.start()}; email headers cannot carry control characters or line "
        f"breaks{allowed}: remove it"
    )


def _shown(value: str) -> str:
    """`value` for an error message: its repr, cut to a readable length."""
    return repr(value) if len(value) <= 60 else f"{value[:57]!r}..."


class EmailAddress(msgspec.Struct, frozen=True):
    """A mailbox: `email` is ``local@domain``, `name` the optional display name.

    >>> EmailAddress.parse('"Ada Lovelace" <ada@example.com>')
    EmailAddress(email='ada@example.com', name='Ada Lovelace')
    """

    email: str
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.email, str) or not _ADDR_SPEC.fullmatch(self.email):
            shown = _shown(self.email) if isinstance(self.email, str) else repr(self.email)
            raise ValueError(f"not an email address: {shown}; expected local@domain")
        if self.name is not None:
            _check_text(self.name, "EmailAddress.name", tab=True)

    @classmethod
    def parse(cls, value: str | EmailAddress) -> EmailAddress:
        """Read ``a@b.example``, ``Name <a@b.example>`` or ``"Name" <a@b.example>``."""
        if isinstance(value, EmailAddress):
            return value
        if not isinstance(value, str):
            raise ValueError(
                f"an email address must be a string or EmailAddress, got {type(value).__name__}"
            )
        text = value.strip()
        if _ADDR_SPEC.fullmatch(text):
            return cls(text)
        match = _NAME_ADDR.fullmatch(text)
        if match is None:
            raise ValueError(
                f"not an email address: {_shown(value)}; expected 'Name <local@domain>'"
            )
        quoted, bare, addr = match.groups()
        name = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare.strip()
        return cls(addr.strip(), name or None)

    def __str__(self) -> str:
        if not self.name:
            return self.email
        if re.search(r'[()<>\[\]:;@\\,."]', self.name):
            escaped = self.name.replace("\\", "\\\\").replace('"', '\\"')
            return f'"{escaped}" <{self.email}>'
        return f"{self.name} <{self.email}>"


AddressLike = str | EmailAddress


class Attachment(msgspec.Struct, frozen=True):
    """A file attached to a message; `inline` with a `content_id` for images in the HTML.

    `filename`, `content_type` and `content_id` go into MIME headers, so none may hold a
    control character (a tab included); `content_id` is one token of printable ASCII
    without spaces or angle brackets (``logo``, ``logo@example.com``, ``<logo>``), as the
    HTML's ``cid:`` URL must spell it.
    """

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"
    inline: bool = False
    content_id: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.filename, "Attachment.filename")
        _check_text(self.content_type, "Attachment.content_type")
        if self.content_id is not None:
            _check_text(self.content_id, "Attachment.content_id")
            if not _CONTENT_ID.fullmatch(self.content_id):
                raise ValueError(
                    f"Attachment.content_id {_shown(self.content_id)} is not a Content-ID: "
                    "use printable ASCII without spaces or angle brackets (logo, "
                    "logo@example.com), optionally inside one pair of <>"
                )


def _addresses(values: Sequence[AddressLike] | AddressLike, field: str) -> tuple[EmailAddress, ...]:
    if isinstance(values, str | EmailAddress):
        values = (values,)
    out = []
    for i, value in enumerate(values):
        try:
            out.append(EmailAddress.parse(value))
        except ValueError as exc:
            raise ValueError(f"EmailMessage.{field}[{i}]: {exc}") from None
    return tuple(out)


class EmailMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One email. Addresses may be strings (``"Ada <ada@example.com>"``) or `EmailAddress`.

    >>> EmailMessage(sender="shop@example.com", to=["ada@example.com"],
    ...              subject="Your order", text="Shipped today.")  # doctest: +ELLIPSIS
    EmailMessage(sender=EmailAddress(email='shop@example.com', name=None), ...)

    Addresses are parsed when the message is made, so a bad one fails here, not at the
    vendor; afterwards every address field holds `EmailAddress` values (see `recipients`).

    What goes into a header is checked here too, for every vendor, with a `ValueError`
    naming the field: the subject, display names and custom header values may hold no
    control character and no line break (a tab is allowed: it is folding white space in
    RFC 5322, and header values copied from other mail carry it); header names are
    printable ASCII without ``:``; a custom ``Message-ID`` is exactly one
    ``<left@right>``, as the receipt's `vendor_id` is that id.
    """

    sender: AddressLike
    to: Sequence[AddressLike] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    cc: Sequence[AddressLike] = ()
    bcc: Sequence[AddressLike] = ()
    reply_to: Sequence[AddressLike] = ()
    attachments: Sequence[Attachment] = ()
    headers: Mapping[str, str] = {}
    tags: Sequence[str] = ()
    metadata: Mapping[str, str] = {}

    def __post_init__(self) -> None:
        set_ = msgspec.structs.force_setattr
        try:
            set_(self, "sender", EmailAddress.parse(self.sender))
        except ValueError as exc:
            raise ValueError(f"EmailMessage.sender: {exc}") from None
        for field in ("to", "cc", "bcc", "reply_to"):
            set_(self, field, _addresses(getattr(self, field), field))
        if not (self.to or self.cc or self.bcc):
            raise ValueError("EmailMessage needs at least one recipient in to, cc or bcc")
        if self.text is None and self.html is None:
            raise ValueError("EmailMessage needs a body: text, html or both")
        _check_text(self.subject, "EmailMessage.subject", tab=True)
        for name, value in self.headers.items():
            _check_header(name, value)
        set_(self, "attachments", tuple(self.attachments))
        set_(self, "tags", tuple(self.tags))

    @property
    def from_address(self) -> EmailAddress:
        """The sender as an `EmailAddress`."""
        return self.sender  # type: ignore[return-value]  # parsed in __post_init__

    def addresses(self, field: Literal["to", "cc", "bcc", "reply_to"]) -> tuple[EmailAddress, ...]:
        """The addresses of one field as `EmailAddress` values."""
        return getattr(self, field)  # type: ignore[no-any-return]

    @property
    def recipients(self) -> tuple[EmailAddress, ...]:
        """Every envelope recipient: to, then cc, then bcc."""
        return self.addresses("to") + self.addresses("cc") + self.addresses("bcc")


_RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "reply-to", "sender", "content-type", "mime-version"}
)


def _check_header(name: object, value: object) -> None:
    """Refuse a custom header no vendor could send as given (`ValueError` naming it)."""
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        shown = _shown(name) if isinstance(name, str) else repr(name)
        raise ValueError(
            f"EmailMessage.headers: {shown} cannot be set as a custom header: a "
            "header name is printable ASCII without spaces or ':' (X-Order-Id)"
        )
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(
            f"EmailMessage.headers: {name!r} cannot be set as a custom header; "
            "use the message's own fields for sender, recipients and subject"
        )
    where = f"EmailMessage.headers[{_shown(name)}]"
    _check_text(value, where, tab=True)
    assert isinstance(value, str)  # checked just above
    if name.lower() == "message-id" and (
        len(value) > _MAX_MESSAGE_ID or not _MSG_ID.fullmatch(value)
    ):
        raise ValueError(
            f"{where} {_shown(value)} is not one Message-ID: expected <left@right> alone "
            f"(ASCII, no spaces, at most {_MAX_MESSAGE_ID} characters), e.g. "
            "<order-1042@shop.example.com>"
        )


class RecipientStatus(msgspec.Struct, frozen=True):
    """What the vendor said about one recipient.

    `status` is ``queued`` (accepted for delivery), ``sent``, ``rejected`` (refused by the
    vendor or the receiving server, or surely not sent) or ``unknown`` (the vendor may have
    taken the message but its answer could not be read: resending may duplicate it);
    `reason` carries the vendor's words.
    """

    email: str
    status: Literal["queued", "sent", "rejected", "unknown"]
    vendor_id: str | None = None
    reason: str | None = None


class EmailReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """The result of sending one message."""

    vendor: str
    vendor_id: str
    recipients: Mapping[str, RecipientStatus] = {}
    raw: Any = None

    @property
    def rejected(self) -> dict[str, RecipientStatus]:
        """The recipients the vendor refused, by address."""
        return {k: v for k, v in self.recipients.items() if v.status == "rejected"}

    @property
    def unknown(self) -> dict[str, RecipientStatus]:
        """The recipients whose outcome the vendor left unknown (it may have taken the
        message, but its answer could not be read), by address: resending may duplicate."""
        return {k: v for k, v in self.recipients.items() if v.status == "unknown"}


class EmailBatch(msgspec.Struct, frozen=True):
    """Several messages sent in one operation (over one connection where the vendor allows)."""

    messages: Sequence[EmailMessage]


class EmailBatchReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """One receipt per message of a batch, in order."""

    vendor: str
    receipts: Sequence[EmailReceipt]
    raw: Any = None


@runtime_checkable
class EmailAdapter(Protocol):
    """What a synchronous email vendor adapter implements."""

    def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt: ...

    def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt: ...


@runtime_checkable
class AsyncEmailAdapter(Protocol):
    """What an asynchronous email vendor adapter implements."""

    async def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt: ...

    async def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt: ...


EMAIL_SEND = Operation("send", "email", EmailMessage, EmailReceipt, idempotent=False)
EMAIL_SEND_BATCH = Operation("send_batch", "email", EmailBatch, EmailBatchReceipt, idempotent=False)

#: The email category and its operations.
EMAIL = Category(
    "email",
    (EMAIL_SEND, EMAIL_SEND_BATCH),
)
