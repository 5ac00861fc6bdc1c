"""The SMTP adapters: `SmtpEmailAdapter` over the standard library's smtplib and its twin
`AsyncSmtpEmailAdapter` over aiosmtplib, on one base.

Both drive the same `Dialogue` (``_dialogue.py``), which decides every step, reply and
error; a twin only runs the steps. Its connection turns each `Command` into a call of its
library, and the call's outcome into a `Reply`, or a `ConnectionLostError` when the step
got none. The rest is shared: the settings and the dialogue of a call (`SmtpAdapterBase`),
what a call reports to the pipeline however it ends, the time each step may take
(`StepTimeouts`), and how a library's failure reads as a reply or a loss (`Connection`).
"""

from __future__ import annotations

import abc
import contextlib
import functools
import smtplib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import ClassVar, Self, TypeVar

import aiosmtplib
import msgspec

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    ConfigError,
    ConnectorError,
    EmailBatch,
    EmailBatchReceipt,
    EmailMessage,
    EmailReceipt,
)

from ._answers import ConnectionLostError, MalformedReplyError, Reply, is_reply_code
from ._dialogue import (
    Command,
    Connect,
    Content,
    Data,
    Dialogue,
    Ehlo,
    Helo,
    Login,
    Mail,
    Quit,
    Rcpt,
    Rset,
    StartTls,
)
from ._options import SmtpOptions
from ._requests import build_outgoing
from ._smtplib import StrictSmtp, StrictSmtpSsl, login

__all__ = [
    "AsyncSmtpEmailAdapter",
    "Connection",
    "SmtpAdapterBase",
    "SmtpEmailAdapter",
    "StepTimeouts",
    "adrive",
    "drive",
]

T = TypeVar("T")

#: How much sooner than the attempt's end the steps give up (at most a tenth of it): the
#: async pipeline cancels a call at that end, and its error cannot tell whether the content
#: went out, so the send is not retried; ours can.
_ATTEMPT_MARGIN = 0.05


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


async def adrive(
    flow: Generator[Command, Reply, T], execute: Callable[[Command], Awaitable[Reply]]
) -> T:
    """`drive`, awaiting each command."""
    try:
        command = next(flow)
        while True:
            try:
                reply = await execute(command)
            except ConnectionLostError as lost:
                command = flow.throw(lost)
            else:
                command = flow.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


# -- what the twins share -------------------------------------------------------------------


@functools.cache
def _fqdn() -> str:
    # Looked up once per process: on a host with slow DNS it can take seconds.
    return socket.getfqdn()


class StepTimeouts:
    """How long each step may wait: `per_step` seconds, and never past the attempt's end.

    Real time, not the pipeline's clock: sockets wait in real time even when a test's fake
    clock makes the pipeline's own waits instant.
    """

    def __init__(self, per_step: float, attempt: float | None) -> None:
        self._per_step = per_step
        self._deadline: float | None = None
        if attempt is not None:
            margin = min(_ATTEMPT_MARGIN, attempt / 10)
            self._deadline = time.monotonic() + attempt - margin

    def next(self) -> float:
        """Seconds the next step may take; `ConnectionLostError` (a timeout) when none are left."""
        if self._deadline is None:
            return self._per_step
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise ConnectionLostError("the attempt's timeout ran out", timeout=True, sent=False)
        return min(self._per_step, remaining)


def _reply(code: int, text: str | bytes, extensions: Iterable[str] = ()) -> Reply:
    """A library's answer as the dialogue reads it: the lines' text joined by single spaces."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return Reply(code, " ".join(text.split()), frozenset(extensions))


class Connection(abc.ABC):
    """One connection of a twin's library, closed on leaving a ``with`` block.

    A twin's ``execute`` runs one command within the `StepTimeouts` and hands any failure
    of its library to `failed`. The library is described by `library_error` (the base of
    what it raises) and `lost` (those of its errors that mean the connection is gone).
    """

    library_error: ClassVar[type[Exception]]
    lost: ClassVar[tuple[type[Exception], ...]]

    def __init__(self, adapter: SmtpAdapterBase, timeouts: StepTimeouts) -> None:
        self._adapter = adapter
        self._timeouts = timeouts

    def failed(self, command: Command, exc: Exception) -> Reply:
        """The reply the failure `exc` of a step stands for: a refusal the library raised
        as an exception is the server's reply; no AUTH mechanism in common is a 504, as a
        server would say it. Any other failure left the step without a reply:
        `ConnectionLostError`."""
        refusal = self.refusal(exc)
        if refusal is not None:
            return refusal
        if (
            isinstance(command, Login)
            and isinstance(exc, self.library_error)
            and not isinstance(exc, self.lost)
        ):
            offered = self.mechanisms() or "none"
            return Reply(504, f"5.5.4 {exc} (server offers: {offered})")
        raise ConnectionLostError.from_exception(exc) from exc

    @abc.abstractmethod
    def refusal(self, exc: Exception) -> Reply | None:
        """The server's reply inside the library's exception `exc`, if it holds one."""

    @abc.abstractmethod
    def mechanisms(self) -> str:
        """The AUTH mechanisms the server offered, as it listed them."""

    @abc.abstractmethod
    def close(self) -> None:
        """Drop the connection, if any; the server sees it closed without QUIT."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SmtpAdapterBase:
    """Reads the settings once; makes each call's `Dialogue`; the twins do the I/O.

    Attributes:
        options: the decoded `SmtpOptions`.
        host, port: where the server is.
        local_hostname: the name given in EHLO.
        tls_context: the client TLS context, or None with ``tls = "none"``.
    """

    def __init__(self, settings: AdapterSettings) -> None:
        options = settings.options
        if not isinstance(options, SmtpOptions):
            options = msgspec.convert(options or {}, SmtpOptions)
        self.vendor = settings.vendor
        self.options: SmtpOptions = options
        self.host = options.host
        self.port = options.server_port
        self.local_hostname = options.local_hostname or _fqdn()
        self._login = self._read_login(settings)
        try:
            self.tls_context: ssl.SSLContext | None = options.tls_context()
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot read the CA file {options.ca_file!r}: {exc}",
                path=f"connectors.{settings.connector}.options.ca_file",
            ) from exc

    def _read_login(self, settings: AdapterSettings) -> Login | None:
        """The AUTH step, when the connector has credentials; both or neither are needed."""
        credentials = settings.credentials
        if "username" not in credentials and "password" not in credentials:
            return None
        for name in ("username", "password"):
            if name not in credentials:
                settings.secret(name)  # raises CredentialNotFoundError with the key path
        if self.options.tls == "none" and not self.options.allow_insecure_auth:
            raise ConfigError(
                'tls = "none" would send the password in clear; use "starttls" or '
                '"implicit", or set allow_insecure_auth = true for a relay on a trusted '
                "network",
                path=f"connectors.{settings.connector}.options.tls",
            )
        return Login(credentials["username"].reveal(), credentials["password"])

    def _dialogue(self, messages: Sequence[EmailMessage], *, now: float, batch: bool) -> Dialogue:
        """The conversation that sends `messages`, dated `now`."""
        return Dialogue(
            [build_outgoing(message, now=now) for message in messages],
            vendor=self.vendor,
            tls=self.options.tls,
            login=self._login,
            max_batch=self.options.max_batch,
            batch=batch,
        )

    def _timeouts(self, ctx: CallContext | None) -> StepTimeouts:
        return StepTimeouts(self.options.timeout, ctx.timeout if ctx else None)

    @contextlib.contextmanager
    def _reporting(self, dialogue: Dialogue, ctx: CallContext) -> Iterator[None]:
        """Tell the pipeline what the call did however it ends (the last reply code, and
        whether a message content went out): also when interrupted or cancelled, since
        until a content went out the server has no message of this call, and the pipeline
        may retry or release its key."""
        try:
            yield
        finally:
            ctx.status_code = dialogue.last_code
            ctx.request_sent = dialogue.content_sent

    def _batch_receipt(self, receipts: list[EmailReceipt]) -> EmailBatchReceipt:
        return EmailBatchReceipt(
            vendor=self.vendor, receipts=receipts, raw=[receipt.raw for receipt in receipts]
        )


# -- the synchronous twin: smtplib ----------------------------------------------------------


class _SmtplibConnection(Connection):
    """One smtplib connection, executing the dialogue's commands as library calls."""

    library_error = smtplib.SMTPException
    lost = (smtplib.SMTPServerDisconnected,)

    def __init__(self, adapter: SmtpAdapterBase, timeouts: StepTimeouts) -> None:
        super().__init__(adapter, timeouts)
        self._smtp: smtplib.SMTP | None = None

    def execute(self, command: Command) -> Reply:
        timeout = self._timeouts.next()
        try:
            return self._run(command, timeout)
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, TLS
            return self.failed(command, exc)

    def _run(self, command: Command, timeout: float) -> Reply:
        if isinstance(command, Connect):
            self.close()
            # The constructor connects and raises SMTPConnectError for any greeting but 220;
            # it also keeps the host name that STARTTLS checks the certificate against.
            self._smtp = self._client(timeout)
            return Reply(220, "")
        smtp = self._connected(timeout)
        match command:
            case Ehlo():
                code, text = smtp.ehlo()
                return _reply(code, text, smtp.esmtp_features)
            case Helo():
                return _reply(*smtp.helo())
            case StartTls():
                return _reply(*smtp.starttls(context=self._adapter.tls_context))
            case Login(username, password):
                return _reply(*login(smtp, username, password.reveal()))
            case Mail(sender):
                return _reply(*smtp.mail(sender))
            case Rcpt(recipient):
                return _reply(*smtp.rcpt(recipient))
            case Data():
                return _reply(*smtp.docmd("DATA"))
            case Content():
                try:
                    smtp.send(command.wire())
                except smtplib.SMTPServerDisconnected as exc:  # the write failed
                    raise ConnectionLostError.from_exception(exc, sent=False) from exc
                return _reply(*smtp.getreply())
            case Rset():
                return _reply(*smtp.rset())
            case Quit():
                reply = _reply(*smtp.quit())
                self._smtp = None
                return reply

    def _client(self, timeout: float) -> smtplib.SMTP:
        adapter = self._adapter
        host, port, name = adapter.host, adapter.port, adapter.local_hostname
        if adapter.options.tls == "implicit":
            context = adapter.tls_context
            return StrictSmtpSsl(host, port, name, timeout=timeout, context=context)
        return StrictSmtp(host, port, name, timeout=timeout)

    def _connected(self, timeout: float) -> smtplib.SMTP:
        smtp = self._smtp
        if smtp is None or smtp.sock is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        smtp.sock.settimeout(timeout)
        if isinstance(smtp, StrictSmtp):
            smtp.reply_by = time.monotonic() + timeout  # the whole reply, by the step's end
        return smtp

    def refusal(self, exc: Exception) -> Reply | None:
        if isinstance(exc, smtplib.SMTPResponseException):  # smtplib raises some refusals
            return _reply(exc.smtp_code, exc.smtp_error)
        return None

    def mechanisms(self) -> str:
        features = self._smtp.esmtp_features if self._smtp else {}
        return features.get("auth", "").strip()

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
        try:
            with _SmtplibConnection(self, self._timeouts(None)) as connection:
                drive(dialogue.probe(), connection.execute)
        except ConnectorError as exc:
            return str(exc)
        return None

    def _call(
        self, messages: Sequence[EmailMessage], ctx: CallContext, *, batch: bool
    ) -> list[EmailReceipt]:
        dialogue = self._dialogue(messages, now=ctx.clock.time(), batch=batch)
        with (
            self._reporting(dialogue, ctx),
            _SmtplibConnection(self, self._timeouts(ctx)) as connection,
        ):
            return drive(dialogue.run(), connection.execute)

    def close(self) -> None:
        """Nothing to release: every call closes its own connection."""


# -- the asynchronous twin: aiosmtplib ------------------------------------------------------


def _answer(response: aiosmtplib.SMTPResponse, extensions: Iterable[str] = ()) -> Reply:
    return _reply(response.code, response.message, extensions)


class _AiosmtplibConnection(Connection):
    """One aiosmtplib connection, executing the dialogue's commands as library calls."""

    library_error = aiosmtplib.SMTPException
    lost = (
        aiosmtplib.SMTPServerDisconnected,
        aiosmtplib.SMTPConnectError,
        aiosmtplib.SMTPTimeoutError,
    )

    def __init__(self, adapter: SmtpAdapterBase, timeouts: StepTimeouts) -> None:
        super().__init__(adapter, timeouts)
        self._smtp: aiosmtplib.SMTP | None = None

    async def execute(self, command: Command) -> Reply:
        timeout = self._timeouts.next()
        try:
            reply = await self._run(command, timeout)
        except (aiosmtplib.SMTPException, OSError) as exc:  # a reset, TLS failed during STARTTLS
            reply = self.failed(command, exc)
        if not is_reply_code(reply.code):
            # aiosmtplib says -1 for a line without a code and keeps that line in its
            # buffer, to hand out again as the answer to every later command: the
            # connection is out of step for good.
            self.close()
            detail = reply.text.removeprefix("Malformed SMTP response line: ")
            raise MalformedReplyError.unreadable(detail if reply.code == -1 else str(reply))
        return reply

    async def _run(self, command: Command, timeout: float) -> Reply:
        if isinstance(command, Connect):
            self.close()
            client = self._smtp = self._client(timeout)
            return _answer(await client.connect())
        smtp = self._smtp
        if smtp is None or not smtp.is_connected:
            raise aiosmtplib.SMTPServerDisconnected("not connected")
        match command:
            case Ehlo():
                response = await smtp.ehlo(timeout=timeout)
                return _answer(response, smtp.esmtp_extensions)
            case Helo():
                return _answer(await smtp.helo(timeout=timeout))
            case StartTls():
                context = self._adapter.tls_context
                return _answer(await smtp.starttls(tls_context=context, timeout=timeout))
            case Login(username, password):
                return _answer(await smtp.login(username, password.reveal(), timeout=timeout))
            case Mail(sender):
                return _answer(await smtp.mail(sender, timeout=timeout))
            case Rcpt(recipient):
                return _answer(await smtp.rcpt(recipient, timeout=timeout))
            case Data():
                return _answer(await smtp.execute_command(b"DATA", timeout=timeout))
            case Content():
                return _answer(await self._content(smtp, command, timeout))
            case Rset():
                return _answer(await smtp.rset(timeout=timeout))
            case Quit():
                reply = _answer(await smtp.quit(timeout=timeout))
                self._smtp = None
                return reply

    @staticmethod
    async def _content(
        smtp: aiosmtplib.SMTP, command: Content, timeout: float
    ) -> aiosmtplib.SMTPResponse:
        # aiosmtplib's data() sends DATA and the content in one call, so a failure could
        # not tell whether the content went out; its protocol's write and read, which
        # data() uses, can.
        protocol = smtp.protocol
        try:
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("not connected")
            protocol.write(command.wire())
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise ConnectionLostError.from_exception(exc, sent=False) from exc
        return await protocol.read_response(timeout=timeout)

    def _client(self, timeout: float) -> aiosmtplib.SMTP:
        adapter = self._adapter
        implicit = adapter.options.tls == "implicit"
        return aiosmtplib.SMTP(
            hostname=adapter.host,
            port=adapter.port,
            local_hostname=adapter.local_hostname,
            timeout=timeout,
            use_tls=implicit,
            start_tls=False,  # the dialogue decides, and refuses to go on without it
            tls_context=adapter.tls_context if implicit else None,
        )

    def refusal(self, exc: Exception) -> Reply | None:
        if isinstance(exc, aiosmtplib.SMTPResponseException):  # it raises every refusal
            return _reply(exc.code, exc.message)
        return None

    def mechanisms(self) -> str:
        return ", ".join(self._smtp.server_auth_methods) if self._smtp else ""

    def close(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


class AsyncSmtpEmailAdapter(SmtpAdapterBase):
    """The asynchronous twin of `SmtpEmailAdapter`, on aiosmtplib: same rules, same
    receipts; a call cancelled by its timeout closes its connection."""

    async def send(self, message: EmailMessage, ctx: CallContext) -> EmailReceipt:
        """Send one message over a fresh connection; its receipt, status per recipient."""
        return (await self._call([message], ctx, batch=False))[0]

    async def send_batch(self, batch: EmailBatch, ctx: CallContext) -> EmailBatchReceipt:
        """Send every message over one connection (a new one every ``max_batch`` messages)."""
        return self._batch_receipt(await self._call(batch.messages, ctx, batch=True))

    async def _call(
        self, messages: Sequence[EmailMessage], ctx: CallContext, *, batch: bool
    ) -> list[EmailReceipt]:
        dialogue = self._dialogue(messages, now=ctx.clock.time(), batch=batch)
        with (
            self._reporting(dialogue, ctx),
            _AiosmtplibConnection(self, self._timeouts(ctx)) as connection,
        ):
            return await adrive(dialogue.run(), connection.execute)

    async def aclose(self) -> None:
        """Nothing to release: every call closes its own connection."""
