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

One call is one connection (reconnecting every `max_batch` messages of a batch, and after
a reply that put the connection out of step): connect, EHLO, STARTTLS and EHLO again,
AUTH, then per message MAIL FROM, RCPT TO for each recipient, DATA and, once the server
says go ahead (354), the content; QUIT at the end. DATA and the content are two steps so
that a failure can tell whether the content had gone out: only then may the server have
the message.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from nexus_connector_core import (
    AuthenticationError,
    ConnectorError,
    EmailReceipt,
    RecipientStatus,
    Secret,
    VendorError,
    VendorUnavailableError,
)

from ._answers import (
    ConnectionLostError,
    MalformedReplyError,
    Reply,
    lost_error,
    refusal_error,
    rejected,
    session_error,
)
from ._options import TlsMode
from ._requests import OutgoingMessage

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
    go_on: ClassVar[int] = 2


@dataclass(frozen=True, slots=True)
class Rcpt:
    """RCPT TO for one recipient; any 2yz accepts it (250, 251 "will forward", ...)."""

    recipient: str
    step: ClassVar[str] = "RCPT TO"
    go_on: ClassVar[int] = 2


@dataclass(frozen=True, slots=True)
class Data:
    """DATA: asks to send the content; the server answers 354 to go ahead."""

    step: ClassVar[str] = "DATA"
    go_on: ClassVar[int] = 3


@dataclass(frozen=True, slots=True)
class Content:
    """The message content after DATA's 354; the reply is the server's answer to the
    message: any 2yz takes responsibility for it."""

    content: bytes = field(repr=False)
    step: ClassVar[str] = "the message content"
    go_on: ClassVar[int] = 2

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
    go_on: ClassVar[int] = 2


@dataclass(frozen=True, slots=True)
class Quit:
    """QUIT; its reply and failure do not matter."""

    step: ClassVar[str] = "QUIT"


Command = Connect | Ehlo | Helo | StartTls | Login | Mail | Rcpt | Data | Content | Rset | Quit
#: The steps of one message's transaction. Each says in `go_on` which reply class (first
#: digit) lets the dialogue go on; 4yz and 5yz refuse; any other class is no answer to
#: that step (see `Dialogue._ask`).
MessageStep = Mail | Rcpt | Data | Content | Rset


class _OutOfStepError(Exception):
    """A message step got no readable answer (`MalformedReplyError`, or a reply of a class
    the step cannot have): `error` is what ``send`` raises; ``send_batch`` reports the
    message instead and goes on over a new connection. `delivered`: the content had gone
    out, so the server may have the message."""

    def __init__(self, error: ConnectorError, *, delivered: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.delivered = delivered


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

    A reply that puts the connection out of step (`MalformedReplyError`, or a class the
    step cannot have) is not a refusal. ``send`` raises `VendorUnavailableError`,
    ``maybe_processed`` when the content had gone out; ``send_batch`` reports that message
    (its recipients ``unknown`` when the content had gone out, else ``rejected`` with a
    reason that says it was not sent) and goes on over a new connection.

    Attributes:
        last_code: the last reply code, for the integration log.
        content_sent: whether a message content of the call started going out (set before
            its first byte): until then the server cannot have a message of the call, for
            the adapter's ``ctx.request_sent``.
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
        self._unknown: list[str] = []
        self._connected = False
        self._on_connection = 0
        self.last_code: int | None = None
        self.content_sent = False

    def run(self) -> Flow[list[EmailReceipt]]:
        """The whole call: every message's receipt, in order."""
        receipts: list[EmailReceipt] = []
        try:
            for outgoing in self._messages:
                if self._on_connection == self._max_batch:
                    yield from self._quit()
                if not self._connected:
                    yield from self._open()
                receipts.append((yield from self._transaction(outgoing)))
                self._on_connection += 1
            yield from self._quit()
        except ConnectorError as error:
            if self._accepted or self._unknown:
                self._note_sent(error)
            raise
        return receipts

    def probe(self) -> Flow[None]:
        """Connect, greet, upgrade to TLS and log in, then quit: a health check."""
        yield from self._open()
        yield from self._quit()

    # -- the connection -----------------------------------------------------------------

    def _ask(self, command: Command) -> Flow[Reply]:
        """Send one step; a reply, or the error for a lost connection or a 421 (raised as
        `_OutOfStepError` at a message step that got no readable answer)."""
        try:
            reply = yield command
        except ConnectionLostError as lost:
            raise self._failure(command, lost) from lost
        self.last_code = reply.code
        if reply.code == 421:
            raise VendorUnavailableError(
                f"the SMTP server is closing the connection at {command.step}: {reply}",
                status_code=421,
                maybe_processed=False,
            )
        if isinstance(command, MessageStep) and reply.code // 100 not in (command.go_on, 4, 5):
            # No answer to this step (a 3yz to the content): what the server did with the
            # command is unknown, and what it says next would answer the wrong one.
            garbled = MalformedReplyError(f"a {reply.code} reply, which {command.step} cannot have")
            raise self._failure(command, garbled) from garbled
        return reply

    def _failure(self, command: Command, lost: ConnectionLostError) -> Exception:
        """What a step that got no (readable) reply raises."""
        # Only content that went out whole, its final "." included, may have been taken:
        # a connection lost any earlier is an unfinished transaction, of which the server
        # keeps nothing (RFC 5321).
        delivered = isinstance(command, Content) and lost.sent
        error = lost_error(command.step, lost, maybe_processed=delivered)
        if isinstance(lost, MalformedReplyError):
            self._connected = False  # the driver drops it; the next message reconnects
            if isinstance(command, MessageStep):
                return _OutOfStepError(error, delivered=delivered)
        return error

    def _open(self) -> Flow[None]:
        self._connected, self._on_connection = True, 0
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
        if not self._connected:
            return
        self._connected = False
        # The messages are the server's already: a rude goodbye changes nothing.
        with contextlib.suppress(ConnectionLostError):
            yield Quit()

    # -- one message ----------------------------------------------------------------------

    def _transaction(self, outgoing: OutgoingMessage) -> Flow[EmailReceipt]:
        message_id = outgoing.message_id
        statuses: dict[str, RecipientStatus] = {}
        try:
            reply = yield from self._ask(Mail(outgoing.sender))
            if not reply.positive:
                statuses = {r: rejected(r, reply, message_id) for r in outgoing.recipients}
                error = refusal_error(f"the sender {outgoing.sender}", reply, code="sender_refused")
                return (yield from self._refused(outgoing, statuses, error))
            refusals: list[Reply] = []
            for recipient in outgoing.recipients:
                reply = yield from self._ask(Rcpt(recipient))
                if reply.positive:
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
            if reply.code // 100 == 3:
                self.content_sent = True
                reply = yield from self._ask(Content(outgoing.content))
                if reply.positive:
                    self._accepted.append(message_id)
                    return self._receipt(outgoing, statuses, reply)
        except _OutOfStepError as broken:
            return self._out_of_step(outgoing, statuses, broken)
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
        with contextlib.suppress(_OutOfStepError):  # then the next message reconnects
            yield from self._ask(Rset())
        return self._receipt(outgoing, statuses, None)

    def _out_of_step(
        self,
        outgoing: OutgoingMessage,
        statuses: dict[str, RecipientStatus],
        broken: _OutOfStepError,
    ) -> EmailReceipt:
        """The receipt of a message whose step got no readable answer (``send_batch``);
        ``send`` raises its error."""
        if not self._batch:
            raise broken.error from broken.__cause__
        message_id = outgoing.message_id
        if broken.delivered:
            self._unknown.append(message_id)
            status: Literal["unknown", "rejected"] = "unknown"
            reason = str(broken.error)
        else:
            status = "rejected"
            reason = f"not sent: {broken.error}"
        for recipient in outgoing.recipients:
            if recipient not in statuses or statuses[recipient].status != "rejected":
                statuses[recipient] = RecipientStatus(recipient, status, message_id, reason)
        return self._receipt(outgoing, statuses, None)

    def _receipt(
        self, outgoing: OutgoingMessage, statuses: dict[str, RecipientStatus], reply: Reply | None
    ) -> EmailReceipt:
        def having(status: str) -> list[str]:
            return [a for a, s in statuses.items() if s.status == status]

        raw: dict[str, Any] = {
            "message_id": outgoing.message_id,
            "reply": str(reply) if reply else None,
            "accepted": having("queued"),
            "refused": {a: s.reason for a, s in statuses.items() if s.status == "rejected"},
            "unknown": having("unknown"),
        }
        return EmailReceipt(
            vendor=self._vendor, vendor_id=outgoing.message_id, recipients=statuses, raw=raw
        )

    def _note_sent(self, error: ConnectorError) -> None:
        """Mark `error` as not safely retryable and say which messages went out."""
        error.maybe_processed = True
        parts = [f"{len(self._accepted)} of {len(self._messages)} messages were accepted"]
        if self._accepted:
            parts[0] += f" (Message-ID {_ids(self._accepted)})"
        if self._unknown:
            parts.append(
                f"{len(self._unknown)} may have been (the answer unreadable; Message-ID "
                f"{_ids(self._unknown)})"
            )
        error.add_note(
            f"{' and '.join(parts)} before this failure; sending the batch again would repeat them"
        )


def _ids(message_ids: Sequence[str]) -> str:
    """The first Message-IDs of a list, then "and N more"."""
    shown = ", ".join(message_ids[:_NOTE_IDS])
    more = len(message_ids) - _NOTE_IDS
    return f"{shown} and {more} more" if more > 0 else shown
