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
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_LETDIG = r"[A-Za-z0-9\u0080-\U0010ffff]"
_LABEL = rf"{_LETDIG}(?:[A-Za-z0-9\-\u0080-\U0010ffff]*{_LETDIG})?"
_ADDR_SPEC = re.compile(
    rf"{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])"
)
_NAME_ADDR = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^<>]*)>\s*')


class EmailAddress(msgspec.Struct, frozen=True):
    """A mailbox: `email` is ``local@domain``, `name` the optional display name.

    >>> EmailAddress.parse('"Ada Lovelace" <ada@example.com>')
    EmailAddress(email='ada@example.com', name='Ada Lovelace')
    """

    email: str
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.email, str) or not _ADDR_SPEC.fullmatch(self.email):
            raise ValueError(f"not an email address: {self.email!r}; expected local@domain")

    @classmethod
    def parse(cls, value: str | EmailAddress) -> EmailAddress:
        """Read ``a@b.example``, ``Name <a@b.example>`` or ``"Name" <a@b.example>``."""
        if isinstance(value, EmailAddress):
            return value
        if not isinstance(value, str):
            raise ValueError(f"an email address must be a string or EmailAddress, got {value!r}")
        text = value.strip()
        if _ADDR_SPEC.fullmatch(text):
            return cls(text)
        match = _NAME_ADDR.fullmatch(text)
        if match is None:
            raise ValueError(f"not an email address: {value!r}; expected 'Name <local@domain>'")
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
    """A file attached to a message; `inline` with a `content_id` for images in the HTML."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"
    inline: bool = False
    content_id: str | None = None


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
        for name in self.headers:
            if not name or any(c in name for c in ":\r\n ") or name.lower() in _RESERVED_HEADERS:
                raise ValueError(
                    f"EmailMessage.headers: {name!r} cannot be set as a custom header; "
                    "use the message's own fields for sender, recipients and subject"
                )
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


class RecipientStatus(msgspec.Struct, frozen=True):
    """What the vendor said about one recipient.

    `status` is ``queued`` (accepted for delivery), ``sent``, ``rejected`` (refused by the
    vendor or the receiving server) or ``unknown``; `reason` carries the vendor's words.
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
