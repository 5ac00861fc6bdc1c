"""Fixtures for the SMTP plugin's tests: real SMTP servers on 127.0.0.1 from
`nexus_connector_smtp.testing`, and managers whose ``email`` connector sends to them.

- ``plain_server``, ``starttls_server``, ``implicit_server``: `SmtpDouble` servers that run
  for the whole session, reset for each test (nothing received, no fault armed): no TLS and
  no AUTH; STARTTLS then AUTH required; TLS from the first byte (port-465 style) with AUTH
  offered. Their certificate comes from a CA made in the session (trustme), which the
  connector trusts through ``options.ca_file``; their login is ``mailer`` and `PASSWORD`.
- ``start_server(tls, **server_options)``: a server of the test's own, with aiosmtpd options
  (``auth_exclude_mechanism=["PLAIN"]``, an ``authenticator``); stopped after the test.
- ``scripted_server``: a `ScriptedSmtpServer` of the test's own, for the replies no server
  library would send.
- ``received(server)``: what a server got, as the conformance suite's `ReceivedEmail`s.
- ``make_manager(table, *, async_=False, resilience=None)``: a manager (retries off unless
  ``resilience`` says otherwise) on the fake ``clock``; closed at teardown.
- ``caller``: sends through a fresh manager of the test's ``twin`` (each test using it runs
  with the sync and the async adapter): ``await caller.send(table, message)``, ``await
  caller.send_batch(table, messages)``; ``caller.records`` holds each call's
  integration-log record.

Test modules cannot import this file (``--import-mode=importlib``): everything is a fixture.
"""

from __future__ import annotations

import email
import email.policy
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from email.message import EmailMessage as MimeMessage
from types import SimpleNamespace
from typing import Any

import nexus_connector_smtp.plugin
import pytest
import trustme
from nexus_connector_smtp.testing import HOST, ScriptedSmtpServer, SmtpDouble

from nexus_connector_core import (
    AsyncConnectorManager,
    ConnectorManager,
    EmailAddress,
    PluginRegistry,
)
from nexus_connector_core.testing import FakeClock, ReceivedAttachment, ReceivedEmail

# aiosmtpd warns at every login about a deprecated attribute it sets itself.
logging.getLogger("mail.log").setLevel(logging.ERROR)

USERNAME = "mailer"
PASSWORD = "correct-horse-battery"  # long enough for the suite's secret-leak guard to watch
#: For tests that write the credentials as references: ``env:SMTP_USERNAME``.
ENVIRON = {"SMTP_USERNAME": USERNAME, "SMTP_PASSWORD": PASSWORD}

#: make_manager(table, *, async_=False, resilience=None) -> ConnectorManager | AsyncConnectorManager
MakeManager = Callable[..., Any]


@pytest.fixture(scope="session")
def certificate_authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    """The servers' TLS context, with a certificate for 127.0.0.1 from a CA made for this
    session, and the PEM file clients trust that CA from."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "localhost").configure_cert(context)
    return context, str(path)


@pytest.fixture(scope="session")
def make_double(
    certificate_authority: tuple[ssl.SSLContext, str],
) -> Callable[..., SmtpDouble]:
    """An unstarted `SmtpDouble` for a TLS mode: with the session's certificate, and the
    login unless ``tls = "none"``."""
    context, ca_file = certificate_authority

    def make(tls: str, **server_options: Any) -> SmtpDouble:
        return SmtpDouble(
            tls=tls,  # type: ignore[arg-type]
            server_context=context,
            ca_file=ca_file,
            login=None if tls == "none" else (USERNAME, PASSWORD),
            server_options=server_options,
        )

    return make


@pytest.fixture(scope="session")
def smtp_servers(make_double: Callable[..., SmtpDouble]) -> Iterator[Mapping[str, SmtpDouble]]:
    """The session's three servers, by TLS mode."""
    servers = {tls: make_double(tls) for tls in ("none", "starttls", "implicit")}
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def plain_server(smtp_servers: Mapping[str, SmtpDouble]) -> SmtpDouble:
    smtp_servers["none"].reset()
    return smtp_servers["none"]


@pytest.fixture
def starttls_server(smtp_servers: Mapping[str, SmtpDouble]) -> SmtpDouble:
    smtp_servers["starttls"].reset()
    return smtp_servers["starttls"]


@pytest.fixture
def implicit_server(smtp_servers: Mapping[str, SmtpDouble]) -> SmtpDouble:
    smtp_servers["implicit"].reset()
    return smtp_servers["implicit"]


@pytest.fixture
def start_server(make_double: Callable[..., SmtpDouble]) -> Iterator[Callable[..., SmtpDouble]]:
    """Start a server of the test's own: ``start_server("starttls", auth_exclude_mechanism=
    ["PLAIN"])``; stopped after the test."""
    started: list[SmtpDouble] = []

    def start(tls: str, **server_options: Any) -> SmtpDouble:
        server = make_double(tls, **server_options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def scripted_server() -> Iterator[ScriptedSmtpServer]:
    """A `ScriptedSmtpServer` of the test's own, stopped after it."""
    with ScriptedSmtpServer() as server:
        yield server


@pytest.fixture
def received() -> Callable[[SmtpDouble], list[ReceivedEmail]]:
    """What a server got, as the conformance suite compares messages: ``received(server)``."""

    def addresses(mime: MimeMessage, name: str) -> tuple[EmailAddress, ...]:
        header = mime[name]
        if header is None:
            return ()
        return tuple(EmailAddress(a.addr_spec, a.display_name or None) for a in header.addresses)

    def text(part: Any) -> str | None:
        return None if part is None else str(part.get_content()).replace("\r\n", "\n")

    def bytes_of(part: Any) -> bytes:
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        return data

    def one(sender: str, recipients: Sequence[str], content: bytes) -> ReceivedEmail:
        mime = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(mime, MimeMessage)
        to, cc = addresses(mime, "To"), addresses(mime, "Cc")
        shown = {a.email.lower() for a in (*to, *cc)}
        bodies = {kind: mime.get_body((kind,)) for kind in ("plain", "html")}
        return ReceivedEmail(
            sender=addresses(mime, "From")[0],
            to=to,
            cc=cc,
            bcc=tuple(r for r in recipients if r.lower() not in shown),
            reply_to=addresses(mime, "Reply-To"),
            envelope=tuple(recipients),
            subject=str(mime["Subject"] or ""),
            text=text(bodies["plain"]),
            html=text(bodies["html"]),
            attachments=tuple(
                ReceivedAttachment(
                    part.get_filename() or "", part.get_content_type(), bytes_of(part)
                )
                for part in mime.walk()
                if not part.is_multipart() and all(part is not body for body in bodies.values())
            ),
            headers={name.lower(): str(value) for name, value in mime.items()},
        )

    def of(server: SmtpDouble) -> list[ReceivedEmail]:
        return [one(sent.sender, sent.recipients, sent.content) for sent in server.outbox]

    return of


@pytest.fixture
def smtp_registry() -> PluginRegistry:
    """The built-in plugin and this one, registered in-process."""
    registry = PluginRegistry()
    registry.register(nexus_connector_smtp.plugin)
    return registry


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_manager(
    smtp_registry: PluginRegistry, clock: FakeClock
) -> AsyncIterator[MakeManager]:
    """Build a manager whose ``email`` connector is `table` (``server.connector()``), with
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


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> str:
    """Every test using it runs with the sync and with the async adapter."""
    value: str = request.param
    return value


@pytest.fixture
def caller(make_manager: MakeManager, twin: str) -> SimpleNamespace:
    """Sends through a fresh manager of the test's twin; ``records`` keeps each call's
    integration-log record (its attempts, the vendor's status code), also when it raised."""
    records: list[Any] = []

    async def call(
        table: Mapping[str, Any],
        operation: str,
        request: Any,
        *,
        resilience: Mapping[str, Any] | None = None,
    ) -> Any:
        manager = make_manager(table, async_=twin == "async", resilience=resilience)
        try:
            result = getattr(manager.email, operation)(request)
            return await result if twin == "async" else result
        finally:
            records.extend(manager.call_log[-1:])

    async def send(table: Mapping[str, Any], message: Any, **kwargs: Any) -> Any:
        return await call(table, "send", message, **kwargs)

    async def send_batch(table: Mapping[str, Any], messages: Any, **kwargs: Any) -> Any:
        return await call(table, "send_batch", messages, **kwargs)

    return SimpleNamespace(send=send, send_batch=send_batch, records=records)
