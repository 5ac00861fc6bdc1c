"""A local SMTP server for tests, an application's or the plugin's: aiosmtpd on 127.0.0.1, on
a free port, keeping what it received.

`SmtpDouble` is a context manager: entering starts the server in a thread of its own,
leaving stops it. Its ``outbox`` holds each message it accepted (a `Delivery`: the
envelope, the bytes after DATA, the parsed ``message``); recipients at ``reject.example``
are refused with ``550 5.1.1``, as the core's memory vendor and conformance suite do.
``connector()`` is the table of an ``smtp`` connector that sends to it. In an
application's test:

>>> from nexus_connector_core import ConnectorManager, EmailMessage
>>> from nexus_connector_smtp.testing import SmtpDouble
>>> with SmtpDouble() as smtp:
...     config = {"connectors": {"email": smtp.connector()}}
...     with ConnectorManager.from_config(config) as manager:
...         receipt = manager.email.send(  # in a real test: the application's own code
...             EmailMessage(
...                 sender="shop@example.com",
...                 to=["ada@example.com", "nobody@reject.example"],
...                 subject="Order 1042",
...                 text="Shipped today.",
...             )
...         )
>>> [(sent.recipients, sent.message["Subject"]) for sent in smtp.outbox]
[(('ada@example.com',), 'Order 1042')]
>>> receipt.recipients["nobody@reject.example"].status
'rejected'

The server can be told to misbehave, once per call unless ``times`` says otherwise::

    smtp.fail("greeting", "421 4.3.2 Service not available")   # the next connection
    smtp.fail("rcpt", "452 4.2.2 Mailbox full", address="bob@example.com")
    smtp.fail("data", "451 4.3.0 Try again later")
    smtp.fail("auth", "535 5.7.8 Authentication credentials invalid")
    smtp.drop_after_data()          # keeps the message, closes without answering
    smtp.garble_after_data()        # keeps the message, answers a line that is no reply
    smtp.drop_at_data_command()     # closes at DATA, before its 354: no content sent
    smtp.stall("data_command", 1.0) # waits before the 354

With ``tls="starttls"`` or ``"implicit"`` it speaks TLS with the ``server_context`` given
(a certificate the client trusts through ``ca_file``); with a ``login`` it offers AUTH and
takes only that user name and password (over STARTTLS it then requires TLS and AUTH
before any message, as a submission server does).

aiosmtpd only speaks well-formed SMTP. Replies no server library sends (garbled, empty,
without a code, a 2yz other than 250) come from `ScriptedSmtpServer`, which answers each
step with the bytes it is told.

Needs aiosmtpd (``pip install nexus-connector-smtp[test]``); uses no part of this plugin's
client, so that it can catch the client's mistakes.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import email
import email.policy
import io
import itertools
import socketserver
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from types import TracebackType
from typing import Any, Literal, Self

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
except ImportError as missing:  # pragma: no cover - the message is the point
    raise ImportError(
        "nexus_connector_smtp.testing needs aiosmtpd: pip install nexus-connector-smtp[test]"
    ) from missing

__all__ = ["HOST", "REJECTED_DOMAIN", "Delivery", "ScriptedSmtpServer", "SmtpDouble"]

#: Where the servers listen.
HOST = "127.0.0.1"
#: Recipients at this domain are refused (550 5.1.1), as the core's conformance suite expects.
REJECTED_DOMAIN = "reject.example"

Tls = Literal["none", "starttls", "implicit"]
#: The steps `SmtpDouble.fail` can refuse, and those `SmtpDouble.stall` can delay.
Stage = Literal["greeting", "auth", "mail", "rcpt", "data", "data_command"]


@dataclass(frozen=True)
class Delivery:
    """One message the server took: the envelope, the bytes after DATA, how it came.

    Attributes:
        sender: the envelope sender (MAIL FROM).
        recipients: the envelope recipients it accepted (RCPT TO), in order.
        content: the message as it came after DATA, with CRLF line ends.
        tls: whether it came over TLS.
        login: the user name it came under, or None without AUTH.
    """

    sender: str
    recipients: tuple[str, ...]
    content: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> MimeMessage:
        """`content` parsed by the standard library (``message["Subject"]``,
        ``message.get_body(("plain",)).get_content()``, ...)."""
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, MimeMessage)
        return parsed


@dataclass
class _Fault:
    stage: str
    reply: str | None  # None: close the connection without answering
    address: str | None = None
    stall: float = 0.0  # seconds to wait before answering normally
    keep: bool = False  # at "data": keep the message, then answer `reply`


class _Handler:
    """aiosmtpd's handler: keeps what it accepted and answers as the armed faults say."""

    def __init__(self, login: tuple[str, str] | None, reject_domains: frozenset[str]) -> None:
        self.login = login
        self.reject_domains = reject_domains
        self.outbox: list[Delivery] = []
        self.connections = 0
        self.faults: list[_Fault] = []
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        # The sessions themselves, not their id(): a later session may reuse a freed one's
        # id and be refused for nothing.
        self.refused_sessions: list[Session] = []

    def take(self, stage: str, address: str | None = None) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.stage == stage and fault.address in (None, address):
                    self.faults.remove(fault)
                    return fault
        return None

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.take("mail")
        if fault is not None and fault.reply:
            return fault.reply
        if fault is not None:
            await asyncio.sleep(fault.stall)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.take("rcpt", address)
        if fault is not None and fault.reply:
            return fault.reply
        if address.rpartition("@")[2].lower() in self.reject_domains:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        fault = self.take("data")
        if fault is not None and fault.reply and not fault.keep:
            return fault.reply
        if fault is not None and fault.stall:
            # The client has given up by now: keep nothing, so no later check sees it.
            await asyncio.sleep(fault.stall)
            return "451 4.4.2 Timeout"
        auth = session.auth_data
        self.outbox.append(
            Delivery(
                sender=envelope.mail_from or "",
                recipients=tuple(envelope.rcpt_tos),
                content=envelope.original_content or b"",
                tls=session.ssl is not None,
                login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            )
        )
        if fault is not None and fault.reply:  # garble_after_data
            return fault.reply
        if fault is not None:  # drop_after_data: the message is here, the answer never comes
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
        return f"250 2.0.0 Ok: queued as Q{next(self.ids)}"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        # An armed fault refuses every mechanism the client tries on that connection, as a
        # server refusing the credentials would.
        if self.take("auth") is not None:
            self.refused_sessions.append(session)
        valid = (
            self.login is not None
            and isinstance(data, LoginPassword)
            and (data.login, data.password) == tuple(part.encode() for part in self.login)
        )
        if valid and not any(s is session for s in self.refused_sessions):
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)


class _FaultySMTP(SMTP):
    """aiosmtpd's server, able to refuse a connection at its greeting and to drop or stall
    one at the DATA command, before it lets the content come."""

    async def _handle_client(self) -> None:
        handler: _Handler = self.event_handler
        with handler.lock:
            handler.connections += 1
        fault = handler.take("greeting")
        if fault is not None and fault.reply and self.transport is not None:
            await self.push(fault.reply)
            self.transport.close()
            return
        await super()._handle_client()

    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        handler: _Handler = self.event_handler
        fault = handler.take("data_command")
        if fault is not None and not fault.stall:
            assert isinstance(self.transport, asyncio.Transport)
            self.transport.abort()
            return
        if fault is not None:
            await asyncio.sleep(fault.stall)
        await super().smtp_DATA(arg)


class _Controller(Controller):
    """A controller on a free port (bound to port 0, then read back)."""

    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _Served(abc.ABC):
    """A server run as a context manager: started on entering, stopped on leaving."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start serving."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop serving."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SmtpDouble(_Served):
    """A local SMTP server (aiosmtpd) on 127.0.0.1 and a free port: see the module.

    Args:
        tls: ``"none"``, ``"starttls"`` or ``"implicit"``, as the connector's ``options.tls``.
        server_context: the server's TLS context (its certificate), for ``starttls`` and
            ``implicit``.
        ca_file: the PEM file of the CA that issued that certificate, for the connector's
            ``options.ca_file``.
        login: the ``(username, password)`` the server takes, or None for no AUTH.
        reject_domains: recipients at these domains are refused with ``550 5.1.1``.
        server_options: more keyword arguments for aiosmtpd's ``SMTP``
            (``{"auth_exclude_mechanism": ["PLAIN"]}``, an ``authenticator`` of your own).
    """

    def __init__(
        self,
        *,
        tls: Tls = "none",
        server_context: ssl.SSLContext | None = None,
        ca_file: str | None = None,
        login: tuple[str, str] | None = None,
        reject_domains: Iterable[str] = (REJECTED_DOMAIN,),
        server_options: dict[str, Any] | None = None,
    ) -> None:
        if tls != "none" and server_context is None:
            raise ValueError(f'tls="{tls}" needs the server_context (its certificate)')
        self.tls = tls
        self.ca_file = ca_file
        self.login = login
        self._handler = _Handler(login, frozenset(d.lower() for d in reject_domains))
        options: dict[str, Any] = {}
        if tls == "starttls":
            options |= {"tls_context": server_context, "require_starttls": True}
        elif tls == "implicit":
            options["ssl_context"] = server_context
        if login is not None:
            options["authenticator"] = self._handler.authenticate
            # aiosmtpd counts only STARTTLS as TLS: implicit TLS must not wait for it.
            options["auth_require_tls"] = tls == "starttls"
            options["auth_required"] = tls == "starttls"
        options |= server_options or {}
        self._controller = _Controller(
            self._handler, hostname=HOST, port=0, server_hostname="smtp.test", **options
        )
        self.port = 0

    def start(self) -> None:
        """Start serving (on a free port, `port`)."""
        self._controller.start()
        self.port = self._controller.port
        with self._handler.lock:
            self._handler.connections = 0  # aiosmtpd's own check that the server is up

    def stop(self) -> None:
        """Stop serving; what it received stays in `outbox`."""
        self._controller.stop()

    @property
    def outbox(self) -> list[Delivery]:
        """The messages the server took, in order."""
        return self._handler.outbox

    @property
    def connections(self) -> int:
        """Connections the server greeted (or refused at the greeting) since the last reset."""
        return self._handler.connections

    def connector(self, **options: Any) -> dict[str, Any]:
        """The table of an ``smtp`` connector that sends to this server: its ``options``
        (host, port, tls, ca_file; `options` added or replacing them) and, with a `login`,
        its ``credentials``."""
        table: dict[str, Any] = {
            "vendor": "smtp",
            "options": {"host": HOST, "port": self.port, "tls": self.tls},
        }
        if self.ca_file is not None:
            table["options"]["ca_file"] = self.ca_file
        if self.login is not None:
            username, password = self.login
            table["credentials"] = {"username": username, "password": f"literal:{password}"}
            if self.tls == "none":
                table["options"]["allow_insecure_auth"] = True
        table["options"] |= options
        return table

    def reset(self) -> None:
        """Forget what was received and the faults not yet used; count connections anew."""
        handler = self._handler
        with handler.lock:
            handler.outbox.clear()
            handler.faults.clear()
            handler.refused_sessions.clear()
            handler.connections = 0

    def fail(self, stage: Stage, reply: str, *, address: str | None = None, times: int = 1) -> None:
        """Answer `stage` (``greeting``, ``auth``, ``mail``, ``rcpt``, ``data``) with `reply`,
        `times` times; at ``rcpt``, only for `address` when given. A ``greeting`` fault
        closes the connection after the reply."""
        self._arm(*(_Fault(stage, reply, address) for _ in range(times)))

    def stall(self, stage: Stage, seconds: float) -> None:
        """Wait `seconds` before answering the next `stage` (``mail``, ``data_command``:
        before the 354, or ``data``: before the answer to the content, which is then a 451
        and keeps nothing)."""
        self._arm(_Fault(stage, None, stall=seconds))

    def drop_after_data(self) -> None:
        """Keep the next message, but close the connection instead of answering it."""
        self._arm(_Fault("data", None))

    def garble_after_data(self) -> None:
        """Keep the next message, but answer it with a line that is no SMTP reply."""
        self._arm(_Fault("data", "garbage", keep=True))

    def drop_at_data_command(self) -> None:
        """Close the connection at the next DATA command, before its 354 and the content."""
        self._arm(_Fault("data_command", None))

    def _arm(self, *faults: _Fault) -> None:
        with self._handler.lock:
            self._handler.faults.extend(faults)

    def __repr__(self) -> str:
        return f"SmtpDouble(tls={self.tls!r}, port={self.port}, outbox={len(self.outbox)})"


# -- replies no server library would send ---------------------------------------------------

#: What the scripted server answers at each step unless told otherwise.
_SCRIPTED_REPLIES = {
    "greeting": b"220 scripted.test ESMTP\r\n",
    "ehlo": b"250-scripted.test\r\n250 8BITMIME\r\n",
    "helo": b"250 scripted.test\r\n",
    "mail": b"250 2.1.0 OK\r\n",
    "rcpt": b"250 2.1.5 OK\r\n",
    "data": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    "content": b"250 2.0.0 Ok: queued\r\n",
    "rset": b"250 2.0.0 OK\r\n",
    "quit": b"221 2.0.0 Bye\r\n",
}


class ScriptedSmtpServer(_Served):
    """A raw-socket SMTP server on 127.0.0.1 (no TLS, no AUTH) that answers each step
    (``greeting``, ``ehlo``, ``helo``, ``mail``, ``rcpt``, ``data``, ``content``, ``rset``,
    ``quit``) with the bytes it is told, once per `answer` call, and with a plain success
    otherwise. It keeps every message content it read (`received`), whatever it answered
    to it, and the commands it got (`commands`). A context manager, like `SmtpDouble`::

        with ScriptedSmtpServer() as server:
            server.answer("content", b"garbage\\r\\n")  # instead of 250 to the data
    """

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self.received: list[bytes] = []
        self.commands: list[str] = []
        self._script: dict[str, list[tuple[bytes, float | None]]] = {}
        self._lock = threading.Lock()
        self._server: _ScriptedTCPServer | None = None
        self._thread: threading.Thread | None = None

    def answer(
        self, step: str, reply: bytes, *, times: int = 1, trickle: float | None = None
    ) -> None:
        """Answer the next `times` occurrences of `step` with `reply` (raw bytes); with
        `trickle`, one byte every `trickle` seconds (a server that answers, slowly)."""
        if step not in _SCRIPTED_REPLIES:
            raise ValueError(f"no step {step!r}; the steps are {', '.join(_SCRIPTED_REPLIES)}")
        with self._lock:
            self._script.setdefault(step, []).extend([(reply, trickle)] * times)

    def connector(self, **options: Any) -> dict[str, Any]:
        """The table of an ``smtp`` connector that sends to this server (`options` added to
        or replacing host, port and tls)."""
        base = {"host": HOST, "port": self.port, "tls": "none"}
        return {"vendor": "smtp", "options": base | options}

    def start(self) -> None:
        """Start serving (on a free port, `port`)."""
        self._server = _ScriptedTCPServer(self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="scripted-smtp", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def _reply_to(self, step: str, wfile: io.BufferedIOBase) -> bytes:
        """Write the reply to `step` (trickled when so scripted), and return it."""
        with self._lock:
            queued = self._script.get(step)
            reply, trickle = queued.pop(0) if queued else (_SCRIPTED_REPLIES[step], None)
        if trickle is None:
            wfile.write(reply)
            return reply
        for index in range(len(reply)):
            time.sleep(trickle)  # the vendor's slowness, on its own thread
            wfile.write(reply[index : index + 1])
            wfile.flush()
        return reply

    def _serve(self, rfile: io.BufferedIOBase, wfile: io.BufferedIOBase) -> None:
        """One connection: the greeting, then each command's reply until QUIT or EOF."""
        with self._lock:
            self.connections += 1
        self._reply_to("greeting", wfile)
        while line := rfile.readline():
            step = line.split(b" ", 1)[0].strip().lower().decode("ascii", "replace")
            with self._lock:
                self.commands.append(step)
            if step not in _SCRIPTED_REPLIES:
                wfile.write(b"502 5.5.2 Command not recognized\r\n")
                continue
            reply = self._reply_to(step, wfile)
            if step == "data" and reply.startswith(b"354"):
                content = self._content(rfile)
                if content is None:
                    return  # the client left mid-content: nothing was sent
                with self._lock:
                    self.received.append(content)
                self._reply_to("content", wfile)
            if step == "quit":
                return

    @staticmethod
    def _content(rfile: io.BufferedIOBase) -> bytes | None:
        """The content up to its "." line, dots unstuffed; None when the client left."""
        lines = []
        while (data := rfile.readline()) != b".\r\n":
            if not data:
                return None
            lines.append(data[1:] if data.startswith(b"..") else data)
        return b"".join(lines)


class _ScriptedHandler(socketserver.StreamRequestHandler):
    server: _ScriptedTCPServer

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the client went away: so does this connection
            self.server.scripted._serve(self.rfile, self.wfile)


class _ScriptedTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, scripted: ScriptedSmtpServer) -> None:
        super().__init__((HOST, 0), _ScriptedHandler)
        self.scripted = scripted
