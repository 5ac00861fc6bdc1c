"""The synchronous SMTP adapter: the dialogue driven over the standard library's smtplib."""

from __future__ import annotations

import base64
import binascii
import hmac
import smtplib
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

from nexus_connector_core import (
    CallContext,
    ConnectorError,
    EmailBatch,
    EmailBatchReceipt,
    EmailMessage,
    EmailReceipt,
)

from ._adapter import SmtpAdapterBase, StepTimeouts
from ._dialogue import (
    Command,
    Connect,
    Content,
    Data,
    Ehlo,
    Helo,
    Login,
    Mail,
    Quit,
    Rcpt,
    Rset,
    StartTls,
)
from ._replies import (
    MAX_REPLY_LINE,
    ConnectionLostError,
    MalformedReplyError,
    Reply,
    read_reply_line,
)

__all__ = ["SmtpEmailAdapter"]

T = TypeVar("T")

#: The AUTH mechanisms smtplib and aiosmtplib try, in their order of preference.
_AUTH_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")
#: Replies that end AUTH well: 235 authenticated, 503 already authenticated.
_AUTH_OK = (235, 503)


def drive(flow: Generator[Command, Reply, T], execute: Callable[[Command], Reply]) -> T:
    """Run a dialogue to its end: each command executed, each reply (or loss) sent back."""
    try:
        command = next(flow)
        while True:
            try:
                reply = execute(command)
            except ConnectionLostError as lost:
                command = flow.throw(lost)
            else:
                command = flow.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


def _login(smtp: smtplib.SMTP, username: str, password: str) -> tuple[int, bytes]:
    """AUTH as ``smtplib.SMTP.login`` does it (each mechanism both sides know, until one
    succeeds; the last reply), with the credentials encoded as UTF-8 as aiosmtplib does
    (and RFC 4616 says): smtplib encodes them as ASCII, and its error for any other
    character holds the password."""
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanisms = [m for m in _AUTH_MECHANISMS if m in offered]
    if not mechanisms:
        raise smtplib.SMTPException("No suitable authentication method found.")
    user, secret = username.encode(), password.encode()
    reply = (0, b"")
    for mechanism in mechanisms:
        reply = _authenticate(smtp, mechanism, user, secret)
        if reply[0] in _AUTH_OK:
            break
    return reply


def _authenticate(
    smtp: smtplib.SMTP, mechanism: str, user: bytes, secret: bytes
) -> tuple[int, bytes]:
    if mechanism == "PLAIN":
        return smtp.docmd("AUTH", "PLAIN " + _base64(b"\0" + user + b"\0" + secret))
    if mechanism == "LOGIN":
        reply = smtp.docmd("AUTH", "LOGIN " + _base64(user))
        return smtp.docmd(_base64(secret)) if reply[0] == 334 else reply
    reply = smtp.docmd("AUTH", "CRAM-MD5")
    if reply[0] != 334:
        return reply
    try:
        challenge = base64.b64decode(reply[1], validate=True)
    except binascii.Error:
        raise smtplib.SMTPException("the server's CRAM-MD5 challenge is not base64") from None
    digest = hmac.new(secret, challenge, "md5").hexdigest()
    return smtp.docmd(_base64(user + b" " + digest.encode()))


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Client(smtplib.SMTP):
    """smtplib's client, reading replies strictly (`read_reply_line`), as aiosmtplib does.

    smtplib's own reader hands a line without a code back as code -1, which the dialogue
    would take for a refusal, and reads continuation lines without end; here such a reply
    closes the connection and raises `MalformedReplyError`, whichever smtplib method read it.
    """

    def getreply(self) -> tuple[int, bytes]:
        """The next reply: its code and its lines' text, joined by newlines."""
        if self.file is None:
            if self.sock is None:
                raise smtplib.SMTPServerDisconnected("not connected")
            self.file = self.sock.makefile("rb")
        texts: list[bytes] = []
        read = 0
        while True:
            try:
                line = self.file.readline(MAX_REPLY_LINE + 1)
            except OSError as exc:  # a timeout included
                self.close()
                raise smtplib.SMTPServerDisconnected(
                    f"Connection unexpectedly closed: {exc}"
                ) from exc
            if not line:
                self.close()
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            read += len(line)
            try:
                code, more, text = read_reply_line(line, read)
            except MalformedReplyError:
                self.close()
                raise
            texts.append(text)
            if not more:
                return code, b"\n".join(texts)


class _TlsClient(_Client, smtplib.SMTP_SSL):
    """`_Client` over implicit TLS."""


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return " ".join(text.split())


class _Connection:
    """One smtplib connection, executing the dialogue's commands as library calls."""

    def __init__(self, adapter: SmtpAdapterBase, timeouts: StepTimeouts) -> None:
        self._adapter = adapter
        self._timeouts = timeouts
        self._smtp: smtplib.SMTP | None = None

    def execute(self, command: Command) -> Reply:
        timeout = self._timeouts.next()
        try:
            return self._execute(command, timeout)
        except smtplib.SMTPResponseException as exc:  # smtplib raises some refusals
            return Reply(exc.smtp_code, _text(exc.smtp_error))
        except smtplib.SMTPServerDisconnected as exc:
            raise ConnectionLostError.from_exception(exc) from exc
        except smtplib.SMTPException as exc:
            if isinstance(command, Login):
                # "No suitable authentication method found": say it as a server would.
                return Reply(504, f"5.5.4 {exc} (server offers: {self._mechanisms()})")
            raise ConnectionLostError.from_exception(exc) from exc
        except OSError as exc:  # refused, reset, timed out, TLS handshake failed
            raise ConnectionLostError.from_exception(exc) from exc

    def _execute(self, command: Command, timeout: float) -> Reply:
        adapter = self._adapter
        if isinstance(command, Connect):
            self.close()
            # The constructor connects and raises SMTPConnectError for any greeting but 220;
            # it also keeps the host name that STARTTLS checks the certificate against.
            self._smtp = self._client(timeout)
            return Reply(220, "")
        smtp = self._connected(timeout)
        if isinstance(command, Ehlo):
            code, text = self._decoded(smtp.ehlo())
            return Reply(code, text, frozenset(smtp.esmtp_features))
        if isinstance(command, Helo):
            return Reply(*self._decoded(smtp.helo()))
        if isinstance(command, StartTls):
            return Reply(*self._decoded(smtp.starttls(context=adapter.tls_context)))
        if isinstance(command, Login):
            return Reply(*self._decoded(_login(smtp, command.username, command.password.reveal())))
        if isinstance(command, Mail):
            return Reply(*self._decoded(smtp.mail(command.sender)))
        if isinstance(command, Rcpt):
            return Reply(*self._decoded(smtp.rcpt(command.recipient)))
        if isinstance(command, Data):
            return Reply(*self._decoded(smtp.docmd("DATA")))
        if isinstance(command, Content):
            try:
                smtp.send(command.wire())
            except smtplib.SMTPServerDisconnected as exc:  # the write failed
                raise ConnectionLostError.from_exception(exc, sent=False) from exc
            return Reply(*self._decoded(smtp.getreply()))
        if isinstance(command, Rset):
            return Reply(*self._decoded(smtp.rset()))
        assert isinstance(command, Quit)
        reply = Reply(*self._decoded(smtp.quit()))
        self._smtp = None
        return reply

    def _client(self, timeout: float) -> smtplib.SMTP:
        adapter = self._adapter
        host, port, name = adapter.host, adapter.port, adapter.local_hostname
        if adapter.options.tls == "implicit":
            context = adapter.tls_context
            return _TlsClient(host, port, name, timeout=timeout, context=context)
        return _Client(host, port, name, timeout=timeout)

    def _connected(self, timeout: float) -> smtplib.SMTP:
        smtp = self._smtp
        if smtp is None or smtp.sock is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        smtp.sock.settimeout(timeout)
        return smtp

    def _mechanisms(self) -> str:
        features = self._smtp.esmtp_features if self._smtp else {}
        return features.get("auth", "").strip() or "none"

    @staticmethod
    def _decoded(reply: tuple[int, bytes]) -> tuple[int, str]:
        return reply[0], _text(reply[1])

    def close(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


class SmtpEmailAdapter(SmtpAdapterBase):
    """Sends email over SMTP with smtplib: one connection per call, reused by a batch.

    ``send`` raises for a message the server refuses outright (see `Dialogue`) and reports
    refused recipients in the receipt while the others get the message;
    ``send_batch`` returns one receipt per message, in order.
    """

    def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        """Send one message over a fresh connection; its receipt, status per recipient."""
        return self._call([message], ctx, batch=False)[0]

    def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        """Send every message over one connection (a new one every ``max_batch`` messages)."""
        return self._batch_receipt(self._call(batch.messages, ctx, batch=True))

    def health_check(self) -> str | None:
        """None when the server greets, upgrades to TLS and accepts the login; else why not."""
        dialogue = self._dialogue([], now=0.0, batch=False)
        connection = _Connection(self, self._timeouts(None))
        try:
            drive(dialogue.probe(), connection.execute)
        except ConnectorError as exc:
            return str(exc)
        finally:
            connection.close()
        return None

    def _call(
        self, messages: Sequence[EmailMessage], ctx: CallContext, *, batch: bool
    ) -> list[EmailReceipt]:
        dialogue = self._dialogue(messages, now=ctx.clock.time(), batch=batch)
        connection = _Connection(self, self._timeouts(ctx))
        try:
            return drive(dialogue.run(), connection.execute)
        finally:
            connection.close()
            ctx.status_code = dialogue.last_code
            # Also when interrupted or cancelled: until a content went out, the server
            # has no message of this call, and the pipeline may retry or release its key.
            ctx.request_sent = dialogue.content_sent

    def close(self) -> None:
        """Nothing to release: every call closes its own connection."""
