"""The SMTP conversation of one call, as one piece of logic both adapters drive.

`Dialogue.run` is a generator (like httpx's ``Auth.auth_flow``): it yields each step as a
command (`Connect`, `Ehlo`, `Mail`, `Data`, ...) and receives the server's `Reply`, or has a
`ConnectionLostError` thrown in when the step got none. It does no I/O, so the smtplib driver
(sync) and the aiosmtplib driver (async) share every decision: which step comes next,
which replies are errors, what each recipient's status is, and whether a failure may have
left a message at the server. A driver is a small loop::

    flow = dialogue.run()
    command = next(flow)
    while True:                       # until StopIteration carries the receipts
        try:
            reply = execute(command)  # the library call for this step
        except ConnectionLostError as lost:
            command = flow.throw(lost)
        else:
            command = flow.send(reply)

One call is one connection (reconnecting every `max_batch` messages of a batch): connect,
EHLO, STARTTLS and EHLO again, AUTH, then per message MAIL FROM, RCPT TO for each recipient,
DATA and, once the server says go ahead (354), the content; QUIT at the end. DATA and the
content are two steps so that a failure can tell whether the content had gone out: only
then may the server have the message.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from nexus_connector_core import (
    AuthenticationError,
    ConnectorError,
    EmailReceipt,
    RecipientStatus,
    Secret,
    VendorError,
    VendorUnavailableError,
)

from ._mime import OutgoingMessage
from ._options import TlsMode
from ._replies import ConnectionLostError, Reply, lost_error, refusal_error, rejected, session_error

__all__ = [
    "Command",
    "Connect",
    "Content",
    "Data",
    "Dialogue",
    "Ehlo",
    "Helo",
    "Login",
    "Mail",
    "Quit",
    "Rcpt",
    "Rset",
    "StartTls",
]

T = TypeVar("T")
Flow = Generator["Command", Reply, T]

#: Replies that accept a recipient: 250, or 251 "will forward".
_RECIPIENT_OK = frozenset({250, 251})
#: How many Message-IDs an error's note lists before it says "and N more".
_NOTE_IDS = 5
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Connect:
    """Open the connection (TLS from the start for implicit TLS); the reply is the greeting."""

    step: ClassVar[str] = "the greeting"


@dataclass(frozen=True, slots=True)
class Ehlo:
    """EHLO; the driver fills `Reply.extensions` from the answer."""

    step: ClassVar[str] = "EHLO"


@dataclass(frozen=True, slots=True)
class Helo:
    """HELO, for a server that does not know EHLO."""

    step: ClassVar[str] = "HELO"


@dataclass(frozen=True, slots=True)
class StartTls:
    """STARTTLS and the TLS handshake."""

    step: ClassVar[str] = "STARTTLS"


@dataclass(frozen=True, slots=True)
class Login:
    """AUTH with a mechanism both sides support (PLAIN or LOGIN, CRAM-MD5 when offered)."""

    username: str
    password: Secret = field(repr=False)
    step: ClassVar[str] = "AUTH"


@dataclass(frozen=True, slots=True)
class Mail:
    """MAIL FROM: starts one message's transaction."""

    sender: str
    step: ClassVar[str] = "MAIL FROM"


@dataclass(frozen=True, slots=True)
class Rcpt:
    """RCPT TO for one recipient."""

    recipient: str
    step: ClassVar[str] = "RCPT TO"


@dataclass(frozen=True, slots=True)
class Data:
    """DATA: asks to send the content; the server answers 354 to go ahead."""

    step: ClassVar[str] = "DATA"


@dataclass(frozen=True, slots=True)
class Content:
    """The message content after DATA's 354; the reply is the server's answer to the message."""

    content: bytes = field(repr=False)
    step: ClassVar[str] = "the message content"

    def wire(self) -> bytes:
        """The bytes that go out: CRLF line ends, a leading "." doubled (RFC 5321 4.5.2),
        and the "." line that ends the content."""
        data = _LEADING_DOT.sub(b"..", _LINE_END.sub(b"\r\n", self.content))
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        return data + b".\r\n"


@dataclass(frozen=True, slots=True)
class Rset:
    """RSET: abandon the current transaction."""

    step: ClassVar[str] = "RSET"


@dataclass(frozen=True, slots=True)
class Quit:
    """QUIT; its reply and failure do not matter."""

    step: ClassVar[str] = "QUIT"


Command = Connect | Ehlo | Helo | StartTls | Login | Mail | Rcpt | Data | Content | Rset | Quit


class Dialogue:
    """The conversation that sends `messages` (see the module docstring).

    With ``batch=False`` (``send``) a refused message raises: `InvalidRequestError` for a
    permanent refusal (``sender_refused``, ``all_recipients_rejected``,
    ``message_refused``), `VendorUnavailableError` for a transient one. With ``batch=True``
    (``send_batch``) messages are independent, as the memory vendor's are: a refused
    message gets a receipt whose recipients are all ``rejected`` with the server's reply,
    and the next message goes on. Failures of the connection itself (lost, 421, AUTH)
    end the call either way; once a message of the call was accepted, such an error says
    ``maybe_processed`` (retrying would send that message again) and lists what went.

    Attributes:
        last_code: the last reply code, for the integration log.
    """

    def __init__(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        vendor: str,
        tls: TlsMode,
        login: Login | None,
        max_batch: int,
        batch: bool,
    ) -> None:
        self._messages = messages
        self._vendor = vendor
        self._tls = tls
        self._login = login
        self._max_batch = max_batch
        self._batch = batch
        self._accepted: list[str] = []
        self.last_code: int | None = None

    def run(self) -> Flow[list[EmailReceipt]]:
        """The whole call: every message's receipt, in order."""
        receipts: list[EmailReceipt] = []
        try:
            for start in range(0, len(self._messages), self._max_batch):
                yield from self._open()
                for outgoing in self._messages[start : start + self._max_batch]:
                    receipts.append((yield from self._transaction(outgoing)))
                yield from self._quit()
        except ConnectorError as error:
            if self._accepted:
                self._note_accepted(error)
            raise
        return receipts

    def probe(self) -> Flow[None]:
        """Connect, greet, upgrade to TLS and log in, then quit: a health check."""
        yield from self._open()
        yield from self._quit()

    # -- the connection -----------------------------------------------------------------

    def _ask(self, command: Command) -> Flow[Reply]:
        """Send one step; a reply, or the error for a lost connection or a 421."""
        try:
            reply = yield command
        except ConnectionLostError as lost:
            # Only content that went out whole, its final "." included, may have been
            # taken: a connection lost any earlier is an unfinished transaction, of which
            # the server keeps nothing (RFC 5321).
            delivered = isinstance(command, Content) and lost.sent
            raise lost_error(command.step, lost, maybe_processed=delivered) from lost
        self.last_code = reply.code
        if reply.code == 421:
            raise VendorUnavailableError(
                f"the SMTP server is closing the connection at {command.step}: {reply}",
                status_code=421,
                maybe_processed=False,
            )
        return reply

    def _open(self) -> Flow[None]:
        greeting = yield from self._ask(Connect())
        if greeting.code != 220:
            raise session_error(Connect.step, greeting)
        hello = yield from self._hello()
        if self._tls == "starttls":
            if "starttls" not in hello.extensions:
                raise VendorError(
                    "the SMTP server does not offer STARTTLS; use options.tls = "
                    '"implicit" if it speaks TLS from the start (port 465), or, on a trusted '
                    'network only, options.tls = "none"',
                    code="starttls_unavailable",
                    maybe_processed=False,
                )
            reply = yield from self._ask(StartTls())
            if reply.code != 220:
                raise session_error(StartTls.step, reply)
            hello = yield from self._hello()
        if self._login is not None:
            if "auth" not in hello.extensions:
                raise AuthenticationError(
                    "the SMTP server offers no AUTH on this connection (some offer it only "
                    "over TLS); remove the credentials or check options.tls",
                    maybe_processed=False,
                )
            reply = yield from self._ask(self._login)
            if reply.code != 235:
                raise session_error(Login.step, reply)

    def _hello(self) -> Flow[Reply]:
        reply = yield from self._ask(Ehlo())
        if reply.code in (500, 502):  # a server that predates ESMTP
            reply = yield from self._ask(Helo())
            step = Helo.step
        else:
            step = Ehlo.step
        if reply.code != 250:
            raise session_error(step, reply)
        return reply

    def _quit(self) -> Flow[None]:
        # The messages are the server's already: a rude goodbye changes nothing.
        with contextlib.suppress(ConnectionLostError):
            yield Quit()

    # -- one message ----------------------------------------------------------------------

    def _transaction(self, outgoing: OutgoingMessage) -> Flow[EmailReceipt]:
        message_id = outgoing.message_id
        reply = yield from self._ask(Mail(outgoing.sender))
        if reply.code != 250:
            statuses = {r: rejected(r, reply, message_id) for r in outgoing.recipients}
            error = refusal_error(f"the sender {outgoing.sender}", reply, code="sender_refused")
            return (yield from self._refused(outgoing, statuses, error))
        statuses = {}
        refusals: list[Reply] = []
        for recipient in outgoing.recipients:
            reply = yield from self._ask(Rcpt(recipient))
            if reply.code in _RECIPIENT_OK:
                statuses[recipient] = RecipientStatus(recipient, "queued", message_id)
            else:
                statuses[recipient] = rejected(recipient, reply, message_id)
                refusals.append(reply)
        if len(refusals) == len(outgoing.recipients):
            # A transient refusal among them makes the whole message worth retrying.
            reply = next((r for r in refusals if r.transient), refusals[0])
            error = refusal_error(
                f"every recipient ({', '.join(outgoing.recipients)})",
                reply,
                code="all_recipients_rejected",
            )
            return (yield from self._refused(outgoing, statuses, error))
        reply = yield from self._ask(Data())
        if reply.code == 354:
            reply = yield from self._ask(Content(outgoing.content))
            if reply.code == 250:
                self._accepted.append(message_id)
                return self._receipt(outgoing, statuses, reply)
        statuses = {r: rejected(r, reply, message_id) for r in outgoing.recipients}
        error = refusal_error("the message", reply, code="message_refused")
        return (yield from self._refused(outgoing, statuses, error))

    def _refused(
        self, outgoing: OutgoingMessage, statuses: dict[str, RecipientStatus], error: ConnectorError
    ) -> Flow[EmailReceipt]:
        if not self._batch or isinstance(error, AuthenticationError):
            yield from self._quit()
            raise error
        # In a batch the other messages still go: forget this transaction and carry on.
        yield from self._ask(Rset())
        return self._receipt(outgoing, statuses, None)

    def _receipt(
        self, outgoing: OutgoingMessage, statuses: dict[str, RecipientStatus], reply: Reply | None
    ) -> EmailReceipt:
        raw: dict[str, Any] = {
            "message_id": outgoing.message_id,
            "reply": str(reply) if reply else None,
            "accepted": [a for a, s in statuses.items() if s.status != "rejected"],
            "refused": {a: s.reason for a, s in statuses.items() if s.status == "rejected"},
        }
        return EmailReceipt(
            vendor=self._vendor, vendor_id=outgoing.message_id, recipients=statuses, raw=raw
        )

    def _note_accepted(self, error: ConnectorError) -> None:
        """Mark `error` as not safely retryable and say which messages went out."""
        error.maybe_processed = True
        ids = ", ".join(self._accepted[:_NOTE_IDS])
        more = len(self._accepted) - _NOTE_IDS
        if more > 0:
            ids += f" and {more} more"
        error.add_note(
            f"{len(self._accepted)} of {len(self._messages)} messages were accepted before "
            f"this failure (Message-ID {ids}); sending the batch again would repeat them"
        )
