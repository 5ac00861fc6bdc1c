"""SMTP's answers: replies, lost connections, the reply-code table (`ERRORS`), and the errors
they become. Pure: no I/O.

The rules (RFC 5321 reply classes, judged by the first digit as its section 4.2.1 says):

- ``2yz`` to MAIL FROM, RCPT TO and the message content (any of them, not only ``250``),
  ``3yz`` to DATA: the step succeeded and the dialogue goes on.
- ``421`` at any step: the server is closing the connection -> `VendorUnavailableError`.
- other ``4xx``: a transient refusal -> `VendorUnavailableError` (retryable).
- the codes of `ERRORS` (``530``, ``534``, ``535``, ``538``), and any ``5xx`` to AUTH ->
  `AuthenticationError`, saying what to do.
- other ``5xx`` at the greeting, EHLO or STARTTLS -> `VendorError` (permanent).
- other ``5xx`` to MAIL FROM, DATA or every RCPT TO -> `InvalidRequestError` (permanent).
- a refusal of some recipients is no error: the receipt reports them one by one.

A refusal *with a reply code* (``4yz``, ``5yz``) means the server did not take the message
(it takes responsibility only with its ``2yz`` to the end of the data), so every such
error carries ``maybe_processed=False`` and the pipeline may retry it.

A reply that is no SMTP reply (empty, garbled, without a three-digit code from 200 to 599,
too long: `MalformedReplyError`), or one of a class its step cannot have (a ``3yz`` to the
end of the data), is no refusal: the connection is out of step, so the driver drops it, and
the step counts as if the connection had been lost there. Only such a loss after the
message content went out leaves the outcome unknown (``maybe_processed=True``).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from nexus_connector_core import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    RecipientStatus,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
)

__all__ = [
    "ERRORS",
    "MAX_REPLY_LINE",
    "ConnectionLostError",
    "MalformedReplyError",
    "Reply",
    "ReplyKind",
    "caused_by",
    "is_reply_code",
    "lost_error",
    "refusal_error",
    "read_reply_line",
    "rejected",
    "session_error",
]

_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
#: The longest reply line and whole reply taken, as aiosmtplib bounds them (smtplib bounds
#: only the line, so a server could send continuation lines forever).
MAX_REPLY_LINE = 8192
MAX_REPLY = 4 * MAX_REPLY_LINE


class ReplyKind(NamedTuple):
    """What a reply code means beyond its class: the error to raise and what to do."""

    error: type[ConnectorError]
    hint: str


_CREDENTIALS = "check connectors.<name>.credentials username and password"

#: The reply codes that mean more than their class says (4yz: try again later; 5yz: this
#: request will not do), wherever they come (RFC 4954, RFC 3207): the account or the
#: connection's security is the problem, which no retry and no other message fixes.
ERRORS: Mapping[int, ReplyKind] = {
    530: ReplyKind(
        AuthenticationError,
        "the server wants authentication (or TLS) first: set connectors.<name>.credentials "
        'username and password, with options.tls = "starttls" or "implicit"',
    ),
    534: ReplyKind(
        AuthenticationError,
        "the server allows this account no mechanism this client speaks (PLAIN, LOGIN, "
        "CRAM-MD5): check the account at the provider (some want an app password)",
    ),
    535: ReplyKind(AuthenticationError, _CREDENTIALS),
    538: ReplyKind(
        AuthenticationError,
        'the server wants TLS before AUTH: set options.tls = "starttls" or "implicit"',
    ),
}
#: Any other 5yz to AUTH itself.
_AUTH_REFUSED = ReplyKind(AuthenticationError, _CREDENTIALS)


@dataclass(frozen=True, slots=True)
class Reply:
    """The server's answer to one step: its code and text (lines joined by spaces).

    `extensions` holds the ESMTP keywords (lower case) of an EHLO reply, empty otherwise.
    """

    code: int
    text: str
    extensions: frozenset[str] = frozenset()

    @property
    def positive(self) -> bool:
        """A 2yz reply: the step is done (RFC 5321 counts every 2yz, not only 250)."""
        return 200 <= self.code < 300

    @property
    def transient(self) -> bool:
        """A 4xx reply: the same step may succeed later."""
        return 400 <= self.code < 500

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 enhanced status code at the start of the text (``5.1.1``), if any."""
        match = _ENHANCED.match(self.text)
        return match.group(1) if match else None

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


class ConnectionLostError(Exception):
    """What a driver reports when a step got no reply: refused, reset, closed, timed out,
    or a TLS handshake that failed (`certificate`: the server's certificate did not verify,
    which retrying cannot fix).

    `sent` says whether the step's command had gone out whole before the loss; when it had
    not (a write that failed, a step never started because the attempt's time ran out), the
    server cannot have acted on it.
    """

    def __init__(
        self, detail: str, *, timeout: bool = False, certificate: bool = False, sent: bool = True
    ) -> None:
        super().__init__(detail)
        self.timeout = timeout
        self.certificate = certificate
        self.sent = sent

    @classmethod
    def from_exception(cls, exc: BaseException, *, sent: bool = True) -> ConnectionLostError:
        """The loss `exc` (a library or socket error) stands for, whatever wraps what."""
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        return cls(
            detail,
            timeout=caused_by(exc, TimeoutError),
            certificate=caused_by(exc, ssl.SSLCertVerificationError),
            sent=sent,
        )


class MalformedReplyError(ConnectionLostError):
    """A reply that is no SMTP reply: garbled, empty, without a reply code, or too long.

    The connection is out of step (a library may keep the bad line and hand it out as the
    answer to the next command), so the driver has closed it; the dialogue treats the step
    as one that lost its connection after the command went out.
    """

    @classmethod
    def unreadable(cls, reply: str | bytes) -> MalformedReplyError:
        """The error for `reply` (what came instead of a reply), shown cut and escaped."""
        shown = reply if len(reply) <= 80 else reply[:77]
        more = "..." if len(reply) > 80 else ""
        return cls(f"not an SMTP reply: {shown!r}{more}")


def is_reply_code(code: int) -> bool:
    """Whether `code` can be an SMTP reply code: three digits, the first from 2 to 5.

    Both libraries read a code as ``int(line[:3])``, which also takes ``" 25"`` or
    ``"+25"``; a code in this range can only come from three plain digits.
    """
    return 200 <= code <= 599


def read_reply_line(line: bytes, read: int) -> tuple[int, bool, bytes]:
    """One line of a reply, read as smtplib and aiosmtplib read it, strictly: its code,
    whether more lines follow (``250-``), and its text. `read` is the size of the reply
    so far, this line included.

    Raises `MalformedReplyError` for a line without a reply code, or a line or reply
    longer than `MAX_REPLY_LINE` / `MAX_REPLY`.

    >>> read_reply_line(b"250-smtp.example.com\\r\\n", 22)
    (250, True, b'smtp.example.com')
    """
    if len(line) > MAX_REPLY_LINE or read > MAX_REPLY:
        raise MalformedReplyError.unreadable(line)
    head = line[:3]
    if not (head.isdigit() and is_reply_code(int(head))):
        raise MalformedReplyError.unreadable(line)
    return int(head), line[3:4] == b"-", line[4:].strip(b" \t\r\n")


def caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `exc` or an exception in its cause or context chain is a `kind`.

    Both SMTP libraries re-raise socket errors as their own (smtplib turns a read timeout
    into ``SMTPServerDisconnected``), so the original is found down the chain.
    """
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, kind):
            return True
        current = current.__cause__ or current.__context__
    return False


def session_error(step: str, reply: Reply) -> ConnectorError:
    """The error for a refusal before any message was handed over (greeting, EHLO,
    STARTTLS, AUTH): the server has nothing, so a retry is always safe."""
    message = f"the SMTP server refused {step}: {reply}"
    kind = ERRORS.get(reply.code)
    if kind is None and step == "AUTH" and reply.code >= 500:
        kind = _AUTH_REFUSED
    if kind is not None:
        return kind.error(f"{message}; {kind.hint}", maybe_processed=False)
    if reply.transient:
        return VendorUnavailableError(message, status_code=reply.code, maybe_processed=False)
    return VendorError(
        message,
        code=reply.enhanced or str(reply.code),
        status_code=reply.code,
        vendor_message=reply.text,
        maybe_processed=False,
    )


def refusal_error(what: str, reply: Reply, *, code: str) -> ConnectorError:
    """The error for a message the server refused (its sender, every recipient or its
    content); `code` names which (``sender_refused``, ...)."""
    if reply.code in ERRORS:
        return session_error("the message: authentication is required", reply)
    message = f"the SMTP server refused {what}: {reply}"
    if reply.transient:
        return VendorUnavailableError(message, status_code=reply.code, maybe_processed=False)
    return InvalidRequestError(
        message,
        code=code,
        status_code=reply.code,
        vendor_message=reply.text,
        maybe_processed=False,
    )


def lost_error(step: str, lost: ConnectionLostError, *, maybe_processed: bool) -> ConnectorError:
    """The error for a step that got no reply; `maybe_processed` when the message content
    (or an earlier message of the call) had already gone out."""
    if lost.certificate:
        # Not VendorUnavailableError: the retry policy would try the same certificate again.
        return VendorError(
            f"the SMTP server's TLS certificate is not trusted at {step}: {lost}; set "
            "options.ca_file to the CA that issued it",
            code="certificate_untrusted",
            maybe_processed=False,
        )
    cls = VendorTimeoutError if lost.timeout else VendorUnavailableError
    what = "no answer in time" if lost.timeout else "connection lost"
    if isinstance(lost, MalformedReplyError):
        what = "unreadable reply (the connection was dropped)"
    unknown = " (the server may have accepted the message)" if maybe_processed else ""
    return cls(f"{what} at {step}: {lost}{unknown}", maybe_processed=maybe_processed)


def rejected(address: str, reply: Reply, vendor_id: str | None = None) -> RecipientStatus:
    """The status of a recipient the server refused, with its reply as the reason."""
    return RecipientStatus(address, "rejected", vendor_id, str(reply))
