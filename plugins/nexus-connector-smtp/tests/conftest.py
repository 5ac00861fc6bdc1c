"""Real SMTP servers for the plugin's tests: aiosmtpd on 127.0.0.1, on free ports.

Three servers run for the whole session, each in its own thread and event loop:

- ``plain_server``: no TLS, no AUTH (``tls = "none"``).
- ``starttls_server``: STARTTLS required, then AUTH PLAIN or LOGIN required.
- ``implicit_server``: TLS from the first byte (port-465 style), AUTH offered.

Their certificate is issued in the session by a throwaway CA (trustme); the adapters trust
it through ``options.ca_file``. Each test gets its server reset: nothing delivered, no fault
armed. A server records what it accepted (`Delivered`) and can be told to misbehave:

    server.fail("greeting", "421 4.3.2 Service not available")   # next connection
    server.fail("rcpt", "452 4.2.2 Mailbox full", address="bob@example.com")
    server.fail("data", "451 4.3.0 Try again later")
    server.fail("auth", "535 5.7.8 Authentication credentials invalid")
    server.drop_after_data()          # keeps the message, closes without answering
    server.garble_after_data()        # keeps the message, answers "garbage"
    server.drop_at_data_command()     # closes on DATA, before its 354: no content sent
    server.stall("data_command", 1.0) # waits before the 354

and always refuses recipients at reject.example with ``550 5.1.1``, as the memory vendor
does. aiosmtpd only speaks well-formed SMTP, so replies no server library would send
(garbled, empty, without a code, a 2yz other than 250) come from ``scripted_server``: a
raw-socket server on 127.0.0.1 that answers each step as told, byte for byte::

    scripted_server.answer("content", b"garbage\r\n")   # instead of 250 to the data

``make_manager`` builds managers whose ``email`` connector uses the ``smtp`` vendor
(registered in-process) against a server; ``received()`` gives what a server got as
the conformance suite's `ReceivedEmail`. Test modules cannot import this file
(``--import-mode=importlib``): everything is a fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
import logging
import socketserver
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
from typing import Any

import nexus_connector_smtp.plugin
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from nexus_connector_core import (
    AsyncConnectorManager,
    ConnectorManager,
    EmailAddress,
    PluginRegistry,
)
from nexus_connector_core.testing import (
    REJECTED_DOMAIN,
    EmailFaultKind,
    FakeClock,
    ReceivedAttachment,
    ReceivedEmail,
)

# aiosmtpd warns at every login about a deprecated attribute it sets itself.
logging.getLogger("mail.log").setLevel(logging.ERROR)

HOST = "127.0.0.1"
USERNAME = "mailer"
PASSWORD = "correct-horse-battery"  # long enough for the suite's secret-leak guard to watch
ENVIRON = {"SMTP_USERNAME": USERNAME, "SMTP_PASSWORD": PASSWORD}
CREDENTIALS = {"username": "env:SMTP_USERNAME", "password": "env:SMTP_PASSWORD"}


@dataclass(frozen=True)
class Delivered:
    """One message a server accepted: the envelope, the bytes after DATA, how it came."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    tls: bool
    login: str | None


@dataclass
class _Fault:
    stage: str
    reply: str | None  # None: close the connection without answering
    address: str | None = None
    stall: float = 0.0  # seconds to wait before answering normally
    keep: bool = False  # at "data": keep the message, then answer `reply`


@dataclass
class RecordingHandler:
    """The aiosmtpd handler: keeps what it accepted and answers as armed faults say."""

    delivered: list[Delivered] = field(default_factory=list)
    connections: int = 0
    faults: list[_Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    # The sessions themselves, not their id(): a later session may reuse a freed one's id
    # and be refused for nothing.
    refused_sessions: list[Session] = field(default_factory=list)

    def take(self, stage: str, address: str | None = None) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.stage == stage and fault.address in (None, address):
                    self.faults.remove(fault)
                    return fault
        return None

    async def handle_MAIL(
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

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.take("rcpt", address)
        if fault is not None and fault.reply:
            return fault.reply
        if address.rpartition("@")[2].lower() == REJECTED_DOMAIN:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.take("data")
        if fault is not None and fault.reply and not fault.keep:
            return fault.reply
        if fault is not None and fault.stall:
            # The client has given up by now: keep nothing, so no later test sees it.
            await asyncio.sleep(fault.stall)
            return "451 4.4.2 Timeout"
        auth = session.auth_data
        self.delivered.append(
            Delivered(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
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
        valid = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        if valid and not any(s is session for s in self.refused_sessions):
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)


class _FaultySMTP(SMTP):
    """aiosmtpd's server, able to refuse a connection at its greeting and to drop or stall
    one at the DATA command, before it lets the content come."""

    async def _handle_client(self) -> None:
        handler: RecordingHandler = self.event_handler
        handler.connections += 1
        fault = handler.take("greeting")
        if fault is not None and fault.reply and self.transport is not None:
            await self.push(fault.reply)
            self.transport.close()
            return
        await super()._handle_client()

    async def smtp_DATA(self, arg: str) -> None:
        handler: RecordingHandler = self.event_handler
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


@dataclass
class SmtpTestServer:
    """One running aiosmtpd server and what the adapter needs to reach it."""

    tls: str
    port: int
    handler: RecordingHandler
    ca_file: str
    authenticated: bool

    @property
    def delivered(self) -> list[Delivered]:
        return self.handler.delivered

    @property
    def connections(self) -> int:
        """Connections the server greeted (or refused at the greeting) since the reset."""
        return self.handler.connections

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.delivered.clear()
            self.handler.faults.clear()
            self.handler.refused_sessions.clear()
            self.handler.connections = 0

    def fail(self, stage: str, reply: str, *, address: str | None = None, times: int = 1) -> None:
        """Answer `stage` (greeting, auth, mail, rcpt, data) with `reply`, `times` times."""
        with self.handler.lock:
            self.handler.faults.extend(_Fault(stage, reply, address) for _ in range(times))

    def stall(self, stage: str, seconds: float) -> None:
        """Wait `seconds` before answering the next `stage` (mail, data_command or data)
        normally."""
        with self.handler.lock:
            self.handler.faults.append(_Fault(stage, None, stall=seconds))

    def drop_after_data(self) -> None:
        """Keep the next message but close the connection instead of answering it."""
        with self.handler.lock:
            self.handler.faults.append(_Fault("data", None))

    def garble_after_data(self) -> None:
        """Keep the next message but answer it with a line that is no SMTP reply."""
        with self.handler.lock:
            self.handler.faults.append(_Fault("data", "garbage", keep=True))

    def drop_at_data_command(self) -> None:
        """Close the connection at the next DATA command, before the 354 and the content."""
        with self.handler.lock:
            self.handler.faults.append(_Fault("data_command", None))

    def fail_next(self, kind: EmailFaultKind) -> None:
        """The conformance suite's fault switch (``unknown_outcome``: the answer to the
        data never comes)."""
        if kind == "transient":
            self.fail("greeting", "421 4.3.2 Service not available, try again later")
        elif kind == "auth":
            self.fail("auth", "535 5.7.8 Authentication credentials invalid")
        elif kind == "unknown_outcome":
            self.drop_after_data()
        else:
            raise AssertionError(f"an SMTP server cannot make a {kind!r} fault")

    def fail_next_garbled(self, kind: EmailFaultKind) -> None:
        """`fail_next`, but ``unknown_outcome`` is a garbled answer to the data."""
        if kind == "unknown_outcome":
            self.garble_after_data()
        else:
            self.fail_next(kind)

    def options(self, **extra: Any) -> dict[str, Any]:
        """The connector's ``options`` for this server."""
        base = {"host": HOST, "port": self.port, "tls": self.tls, "local_hostname": "client.test"}
        if self.tls != "none":
            base["ca_file"] = self.ca_file
        return base | extra

    def table(self, **options: Any) -> dict[str, Any]:
        """The ``[connectors.email]`` table for this server, credentials included."""
        table: dict[str, Any] = {"vendor": "smtp", "options": self.options(**options)}
        if self.authenticated:
            table["credentials"] = dict(CREDENTIALS)
        return table

    def received(self) -> list[ReceivedEmail]:
        return [normalise(delivered) for delivered in self.delivered]


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


@dataclass
class ScriptedServer:
    """A raw-socket SMTP server on 127.0.0.1 (no TLS, no AUTH) that answers each step
    (``greeting``, ``ehlo``, ``mail``, ``rcpt``, ``data``, ``content``, ``rset``) with the
    bytes it is told, once per `answer` call, and with a plain success otherwise. It keeps
    every message content it read, whatever it answered to it."""

    port: int = 0
    connections: int = 0
    received: list[bytes] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    script: dict[str, list[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, step: str, reply: bytes, *, times: int = 1) -> None:
        """Answer the next `times` occurrences of `step` with `reply` (raw bytes)."""
        assert step in _SCRIPTED_REPLIES, step
        with self.lock:
            self.script.setdefault(step, []).extend([reply] * times)

    def reply_to(self, step: str) -> bytes:
        with self.lock:
            queued = self.script.get(step)
            return queued.pop(0) if queued else _SCRIPTED_REPLIES[step]

    def table(self, **options: Any) -> dict[str, Any]:
        """The ``[connectors.email]`` table for this server."""
        base = {"host": HOST, "port": self.port, "tls": "none", "local_hostname": "client.test"}
        return {"vendor": "smtp", "options": base | options}

    def serve(self, rfile: Any, wfile: Any) -> None:
        """One connection: the greeting, then each command's reply until QUIT or EOF."""
        with self.lock:
            self.connections += 1
        wfile.write(self.reply_to("greeting"))
        while line := rfile.readline():
            step = line.split(b" ", 1)[0].strip().lower().decode("ascii", "replace")
            with self.lock:
                self.commands.append(step)
            if step not in _SCRIPTED_REPLIES:
                wfile.write(b"502 5.5.2 Command not recognized\r\n")
                continue
            reply = self.reply_to(step)
            wfile.write(reply)
            if step == "data" and reply.startswith(b"354"):
                lines = []
                while (data := rfile.readline()) != b".\r\n":
                    if not data:
                        return  # the client left mid-content: nothing was sent
                    lines.append(data[1:] if data.startswith(b"..") else data)
                with self.lock:
                    self.received.append(b"".join(lines))
                wfile.write(self.reply_to("content"))
            if step == "quit":
                return


class _ScriptedHandler(socketserver.StreamRequestHandler):
    server: _ScriptedTCPServer

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the client went away: so does this connection
            self.server.scripted.serve(self.rfile, self.wfile)


class _ScriptedTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, scripted: ScriptedServer) -> None:
        super().__init__((HOST, 0), _ScriptedHandler)
        self.scripted = scripted


def normalise(delivered: Delivered) -> ReceivedEmail:
    """What a server got, as the conformance suite compares it."""
    mime = email.message_from_bytes(delivered.content, policy=email.policy.default)
    assert isinstance(mime, MimeMessage)

    def addresses(name: str) -> tuple[EmailAddress, ...]:
        header = mime[name]
        if header is None:
            return ()
        return tuple(EmailAddress(a.addr_spec, a.display_name or None) for a in header.addresses)

    to, cc = addresses("To"), addresses("Cc")
    shown = {a.email.lower() for a in (*to, *cc)}
    bodies = {kind: mime.get_body((kind,)) for kind in ("plain", "html")}
    attachments = tuple(
        ReceivedAttachment(part.get_filename() or "", part.get_content_type(), _payload(part))
        for part in mime.walk()
        if not part.is_multipart() and all(part is not body for body in bodies.values())
    )
    return ReceivedEmail(
        sender=addresses("From")[0],
        to=to,
        cc=cc,
        bcc=tuple(r for r in delivered.rcpt_tos if r.lower() not in shown),
        reply_to=addresses("Reply-To"),
        envelope=delivered.rcpt_tos,
        subject=str(mime["Subject"] or ""),
        text=_text(bodies["plain"]),
        html=_text(bodies["html"]),
        attachments=attachments,
        headers={name.lower(): str(value) for name, value in mime.items()},
    )


def _payload(part: Any) -> bytes:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def _text(part: Any) -> str | None:
    return None if part is None else str(part.get_content()).replace("\r\n", "\n")


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def certificate_authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, str]:
    """A CA made for this session, and the PEM file clients trust it from."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "localhost").configure_cert(context)
    return context


def _start(tls: str, ca: tuple[trustme.CA, str], **smtp: Any) -> tuple[_Controller, SmtpTestServer]:
    handler = RecordingHandler()
    context = _server_context(ca[0])
    kwargs: dict[str, Any] = {"authenticator": handler.authenticate, **smtp}
    if tls == "starttls":
        kwargs |= {"tls_context": context, "require_starttls": True, "auth_required": True}
    elif tls == "implicit":
        kwargs |= {"ssl_context": context, "auth_require_tls": False}
    controller = _Controller(handler, hostname=HOST, port=0, server_hostname="smtp.test", **kwargs)
    controller.start()
    server = SmtpTestServer(
        tls=tls,
        port=controller.port,
        handler=handler,
        ca_file=ca[1],
        authenticated=tls != "none",
    )
    return controller, server


@pytest.fixture(scope="session")
def smtp_servers(
    certificate_authority: tuple[trustme.CA, str],
) -> Iterator[Mapping[str, SmtpTestServer]]:
    """The session's three servers, by TLS mode."""
    started = [_start(tls, certificate_authority) for tls in ("none", "starttls", "implicit")]
    yield {server.tls: server for _, server in started}
    for controller, _ in started:
        controller.stop()


@pytest.fixture
def start_server(
    certificate_authority: tuple[trustme.CA, str],
) -> Iterator[Callable[..., SmtpTestServer]]:
    """Start a server of the test's own: ``start_server("starttls", auth_exclude_mechanism=
    ["PLAIN"])``; stopped after the test."""
    controllers: list[_Controller] = []

    def start(tls: str, **smtp: Any) -> SmtpTestServer:
        controller, server = _start(tls, certificate_authority, **smtp)
        controllers.append(controller)
        return server

    yield start
    for controller in controllers:
        controller.stop()


def _fresh(servers: Mapping[str, SmtpTestServer], tls: str) -> SmtpTestServer:
    server = servers[tls]
    server.reset()
    return server


@pytest.fixture
def plain_server(smtp_servers: Mapping[str, SmtpTestServer]) -> SmtpTestServer:
    return _fresh(smtp_servers, "none")


@pytest.fixture
def starttls_server(smtp_servers: Mapping[str, SmtpTestServer]) -> SmtpTestServer:
    return _fresh(smtp_servers, "starttls")


@pytest.fixture
def implicit_server(smtp_servers: Mapping[str, SmtpTestServer]) -> SmtpTestServer:
    return _fresh(smtp_servers, "implicit")


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A `ScriptedServer` of the test's own, stopped after it."""
    scripted = ScriptedServer()
    server = _ScriptedTCPServer(scripted)
    scripted.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="scripted-smtp", daemon=True
    )
    thread.start()
    yield scripted
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def smtp_registry() -> PluginRegistry:
    """The built-in plugin and this one, registered in-process."""
    registry = PluginRegistry()
    registry.register(nexus_connector_smtp.plugin)
    return registry


@pytest.fixture
def smtp_environ() -> dict[str, str]:
    """The environment the credentials' ``env:`` references read."""
    return dict(ENVIRON)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: make_manager(table, *, async_=False, resilience=None) -> ConnectorManager | AsyncConnectorManager
MakeManager = Callable[..., Any]


@pytest.fixture
async def make_manager(
    smtp_registry: PluginRegistry, clock: FakeClock
) -> AsyncIterator[MakeManager]:
    """Build a manager whose ``email`` connector is `table` (``server.table()``), with
    ``resilience`` (retries off unless given), on the fake `clock`, the memory call log on.
    Every manager made is closed at teardown."""
    made: list[Any] = []

    def make(
        table: Mapping[str, Any],
        *,
        async_: bool = False,
        resilience: Mapping[str, Any] | None = None,
    ) -> Any:
        connector = dict(table) | {"resilience": dict(resilience or {"retry": {"enabled": False}})}
        config = {"connectors": {"email": connector}, "observability": {"loggers": ["memory"]}}
        kind = AsyncConnectorManager if async_ else ConnectorManager
        manager = kind.from_config(config, registry=smtp_registry, environ=ENVIRON, clock=clock)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        if isinstance(manager, AsyncConnectorManager):
            await manager.aclose()
        else:
            manager.close()


class Caller:
    """Sends through a fresh manager of one twin (sync or async); remembers the last call's
    integration-log record (`record`), for its attempts and vendor status code."""

    def __init__(self, make_manager: MakeManager, twin: str) -> None:
        self._make = make_manager
        self.twin = twin
        self._manager: Any = None

    async def __call__(
        self,
        table: Mapping[str, Any],
        operation: str,
        request: Any,
        *,
        resilience: Mapping[str, Any] | None = None,
    ) -> Any:
        manager = self._manager = self._make(
            table, async_=self.twin == "async", resilience=resilience
        )
        result = getattr(manager.email, operation)(request)
        return await result if self.twin == "async" else result

    async def send(self, table: Mapping[str, Any], message: Any, **kwargs: Any) -> Any:
        return await self(table, "send", message, **kwargs)

    async def send_batch(self, table: Mapping[str, Any], messages: Any, **kwargs: Any) -> Any:
        return await self(table, "send_batch", messages, **kwargs)

    @property
    def record(self) -> Any:
        assert self._manager is not None, "nothing was called"
        return self._manager.call_log[-1]

    def adapter(self) -> Any:
        """The adapter of the last manager (built on its first call)."""
        return self._manager.email.adapter


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> str:
    """Every test using it runs with the sync and with the async adapter."""
    value: str = request.param
    return value


@pytest.fixture
def caller(make_manager: MakeManager, twin: str) -> Caller:
    return Caller(make_manager, twin)
