"""The asynchronous SMTP adapter: the dialogue driven over aiosmtplib."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import TypeVar

import aiosmtplib
from aiosmtplib import SMTPResponse

from nexus_connector_core import (
    CallContext,
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
from ._replies import ConnectionLostError, MalformedReplyError, Reply, is_reply_code

__all__ = ["AsyncSmtpEmailAdapter"]

T = TypeVar("T")


async def adrive(
    flow: Generator[Command, Reply, T], execute: Callable[[Command], Awaitable[Reply]]
) -> T:
    """Run a dialogue to its end, awaiting each command (the twin of `_sync.drive`)."""
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


def _reply(response: SMTPResponse, extensions: frozenset[str] = frozenset()) -> Reply:
    return Reply(response.code, " ".join(response.message.split()), extensions)


class _Connection:
    """One aiosmtplib connection, executing the dialogue's commands as library calls."""

    def __init__(self, adapter: SmtpAdapterBase, timeouts: StepTimeouts) -> None:
        self._adapter = adapter
        self._timeouts = timeouts
        self._smtp: aiosmtplib.SMTP | None = None

    async def execute(self, command: Command) -> Reply:
        reply = await self._answer(command)
        if not is_reply_code(reply.code):
            # aiosmtplib says -1 for a line without a code and keeps that line in its
            # buffer, to hand out again as the answer to every later command: the
            # connection is out of step for good.
            self.close()
            detail = reply.text.removeprefix("Malformed SMTP response line: ")
            raise MalformedReplyError.unreadable(detail if reply.code == -1 else str(reply))
        return reply

    async def _answer(self, command: Command) -> Reply:
        timeout = self._timeouts.next()
        try:
            return await self._execute(command, timeout)
        except aiosmtplib.SMTPResponseException as exc:  # aiosmtplib raises every refusal
            return Reply(exc.code, " ".join(exc.message.split()))
        except (
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPTimeoutError,
        ) as exc:
            raise ConnectionLostError.from_exception(exc) from exc
        except aiosmtplib.SMTPException as exc:
            if isinstance(command, Login):  # no AUTH mechanism in common
                methods = ", ".join(self._smtp.server_auth_methods) if self._smtp else ""
                return Reply(504, f"5.5.4 {exc} (server offers: {methods or 'none'})")
            raise ConnectionLostError.from_exception(exc) from exc
        except OSError as exc:  # a TLS handshake that failed during STARTTLS, a reset
            raise ConnectionLostError.from_exception(exc) from exc

    async def _execute(self, command: Command, timeout: float) -> Reply:
        if isinstance(command, Connect):
            self.close()
            client = self._smtp = self._client(timeout)
            return _reply(await client.connect())
        smtp = self._smtp
        if smtp is None or not smtp.is_connected:
            raise aiosmtplib.SMTPServerDisconnected("not connected")
        if isinstance(command, Ehlo):
            response = await smtp.ehlo(timeout=timeout)
            return _reply(response, frozenset(smtp.esmtp_extensions))
        if isinstance(command, Helo):
            return _reply(await smtp.helo(timeout=timeout))
        if isinstance(command, StartTls):
            context = self._adapter.tls_context
            return _reply(await smtp.starttls(tls_context=context, timeout=timeout))
        if isinstance(command, Login):
            password = command.password.reveal()
            return _reply(await smtp.login(command.username, password, timeout=timeout))
        if isinstance(command, Mail):
            return _reply(await smtp.mail(command.sender, timeout=timeout))
        if isinstance(command, Rcpt):
            return _reply(await smtp.rcpt(command.recipient, timeout=timeout))
        if isinstance(command, Data):
            return _reply(await smtp.execute_command(b"DATA", timeout=timeout))
        if isinstance(command, Content):
            return _reply(await self._content(smtp, command, timeout))
        if isinstance(command, Rset):
            return _reply(await smtp.rset(timeout=timeout))
        assert isinstance(command, Quit)
        reply = _reply(await smtp.quit(timeout=timeout))
        self._smtp = None
        return reply

    @staticmethod
    async def _content(smtp: aiosmtplib.SMTP, command: Content, timeout: float) -> SMTPResponse:
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
        connection = _Connection(self, self._timeouts(ctx))
        try:
            return await adrive(dialogue.run(), connection.execute)
        finally:
            connection.close()
            ctx.status_code = dialogue.last_code
            # Also when interrupted or cancelled: until a content went out, the server
            # has no message of this call, and the pipeline may retry or release its key.
            ctx.request_sent = dialogue.content_sent

    async def aclose(self) -> None:
        """Nothing to release: every call closes its own connection."""
