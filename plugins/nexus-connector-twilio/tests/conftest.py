"""A local Twilio for the plugin's tests, and fixtures that point connectors at it.

`TwilioServer` is a `FaultServer` whose default answer is a small model of Twilio's
Messages resource. It checks every request as Twilio documents it (the versioned path with
the account SID, HTTP Basic auth with the account SID and auth token, a form-encoded body,
the required fields) and answers in Twilio's formats: the Message resource as JSON, errors
as ``{"code", "message", "more_info", "status"}``. The ``To`` numbers of Twilio's test
credentials fail as they do there (``+15005550001`` invalid, ``+15005550004`` unsubscribed,
...). Each lookup of a message moves it one status on; messages to `UNREACHABLE` end
``undelivered`` with error 30003. `fail_next` scripts the next answer as one of the
conformance suite's faults.

With ``--import-mode=importlib`` test modules cannot import this file: they use fixtures.
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs

import pytest
from nexus_connector_twilio import plugin

from nexus_connector_core import (
    AsyncConnectorManager,
    ConnectorError,
    ConnectorManager,
    PluginRegistry,
)
from nexus_connector_core.testing import (
    FakeClock,
    Fault,
    FaultServer,
    ReceivedRequest,
    ReceivedSms,
    SmsFaultKind,
)
from nexus_connector_core.vendors.memory.sms import sms_segments

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token-0f9e8d7c"
#: Twilio's magic "From" number of its test credentials: always valid.
SENDER = "+15005550006"
#: Messages to this number are accepted, then end ``undelivered`` (30003).
UNREACHABLE = "+15550001234"
#: The Retry-After of a scripted 429.
RETRY_AFTER = 2

#: Twilio's test-credential "To" numbers and the error each one gets (twilio.com/docs/iam/
#: test-credentials).
MAGIC_TO: Mapping[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_API = "/2010-04-01/Accounts/"
_MESSAGES = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages\.json")
_MESSAGE = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json")
_FIELDS = frozenset({"To", "From", "MessagingServiceSid", "Body", "StatusCallback"})


def twilio_error(status: int, code: int, message: str, **headers: str) -> Fault:
    """An error answer in Twilio's format."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Fault.respond(status, body, {name.replace("_", "-"): v for name, v in headers.items()})


#: The answers `TwilioServer.fail_next` scripts for each fault of the conformance suite.
FAULTS: Mapping[SmsFaultKind, Fault] = {
    "invalid_number": twilio_error(400, 21211, "The 'To' number 123 is not a valid phone number."),
    "auth": twilio_error(401, 20003, "Authenticate", WWW_Authenticate='Basic realm="Twilio API"'),
    "rate_limited": twilio_error(429, 20429, "Too Many Requests", Retry_After=str(RETRY_AFTER)),
    "transient": twilio_error(500, 20500, "An internal server error has occurred"),
}


def form_of(request: ReceivedRequest) -> dict[str, list[str]]:
    """The form fields of a request, as Twilio reads them."""
    return parse_qs(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)


class TwilioServer:
    """A local Twilio Messages API: see the module's docstring.

    `fault` is the underlying `FaultServer` (its `requests`, `script`); `url` its origin.
    The module's constants are attributes too, for tests (which cannot import this file).
    """

    ACCOUNT_SID = ACCOUNT_SID
    AUTH_TOKEN = AUTH_TOKEN
    SENDER = SENDER
    UNREACHABLE = UNREACHABLE
    RETRY_AFTER = RETRY_AFTER
    MAGIC_TO = MAGIC_TO
    form_of = staticmethod(form_of)

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        pair = f"{account_sid}:{auth_token}".encode()
        self._authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        self.account_sid = account_sid
        self._messages: dict[str, _Message] = {}
        self._lock = threading.Lock()
        self.fault = FaultServer(default=self._answer)
        self.url = self.fault.url

    def close(self) -> None:
        self.fault.close()

    def fail_next(self, kind: SmsFaultKind) -> None:
        """Answer the next request with the conformance suite's fault `kind`."""
        self.fault.script(FAULTS[kind])

    def sends(self) -> list[ReceivedRequest]:
        """Every request to the Messages list resource, whatever it got."""
        return [r for r in self.fault.requests if _MESSAGES.fullmatch(r.path)]

    def messages(self) -> list[ReceivedSms]:
        """The messages of `sends`, as the conformance suite's probe reports them."""
        received = []
        for request in self.sends():
            form = form_of(request)
            sender = form.get("From", [None])[0]
            received.append(ReceivedSms(to=form["To"][0], body=form["Body"][0], sender=sender))
        return received

    # -- Twilio's side ------------------------------------------------------------------------

    def _answer(self, request: ReceivedRequest) -> Fault:
        if request.headers.get("authorization") != self._authorization:
            return FAULTS["auth"]
        if listing := _MESSAGES.fullmatch(request.path):
            if request.method != "POST":
                return twilio_error(405, 20004, "Method not allowed")
            return self._account(listing[1]) or self._create(request)
        if message := _MESSAGE.fullmatch(request.path):
            if request.method != "GET":
                return twilio_error(405, 20004, "Method not allowed")
            return self._account(message[1]) or self._fetch(message[2], request.path)
        return _not_found(request.path)

    def _account(self, account_sid: str) -> Fault | None:
        return None if account_sid == self.account_sid else FAULTS["auth"]

    def _create(self, request: ReceivedRequest) -> Fault:
        media = request.headers.get("content-type", "").split(";")[0].strip()
        try:
            form = form_of(request) if media == "application/x-www-form-urlencoded" else {}
        except (UnicodeDecodeError, ValueError):
            form = {}
        for name, values in form.items():
            if name not in _FIELDS or len(values) != 1:
                return twilio_error(400, 20001, f"Unknown or repeated parameter {name}")
        fields = {name: values[0] for name, values in form.items()}
        problem = _problem(fields)
        if problem is not None:
            return problem
        by_service = "From" not in fields
        lifecycle = ("accepted",) if by_service else ()
        final = "undelivered" if fields["To"] == UNREACHABLE else "delivered"
        lifecycle += ("queued", "sending", "sent", final)
        sid = "SM" + uuid.uuid4().hex
        now = formatdate(usegmt=True)
        resource = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": fields["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields.get("From"),
            "messaging_service_sid": fields.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "0" if by_service else str(sms_segments(fields["Body"])),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": lifecycle[0],
            "to": fields["To"],
            "uri": f"{_API}{self.account_sid}/Messages/{sid}.json",
        }
        with self._lock:
            self._messages[sid] = _Message(resource, lifecycle)
        return Fault.respond(201, resource)

    def _fetch(self, sid: str, path: str) -> Fault:
        with self._lock:
            message = self._messages.get(sid)
            if message is None:
                return _not_found(path)
            return Fault.respond(200, message.advance())


@dataclass
class _Message:
    """A created message and where it is in its lifecycle."""

    resource: dict[str, Any]
    lifecycle: tuple[str, ...]
    step: int = 0

    def advance(self) -> dict[str, Any]:
        """Move one status on (the last one stays) and return the resource as it is now."""
        self.step = min(self.step + 1, len(self.lifecycle) - 1)
        status = self.lifecycle[self.step]
        self.resource.update(status=status, date_updated=formatdate(usegmt=True))
        if status == "undelivered":
            self.resource["error_code"] = 30003  # Twilio leaves error_message null here
        return dict(self.resource)


def _problem(fields: Mapping[str, str]) -> Fault | None:
    """Twilio's answer to a send request that lacks or misstates a field, else None."""
    to, sender = fields.get("To"), fields.get("From")
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not _E164.fullmatch(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if to in MAGIC_TO:
        code, message = MAGIC_TO[to]
        return twilio_error(400, code, message)
    if not sender and not fields.get("MessagingServiceSid"):
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if sender and not (_E164.fullmatch(sender) or _ALPHANUMERIC.fullmatch(sender)):
        return twilio_error(400, 21212, f"The 'From' number {sender} is not a valid number.")
    if not fields.get("Body"):
        return twilio_error(400, 21602, "Message body is required.")
    if len(fields["Body"]) > 1600:
        return twilio_error(400, 21617, "The concatenated message body exceeds 1600 characters.")
    return None


def _not_found(path: str) -> Fault:
    return twilio_error(404, 20404, f"The requested resource {path} was not found")


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    """A local Twilio for this test; stopped after it."""
    server = TwilioServer()
    yield server
    server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> PluginRegistry:
    """The built-in plugin and this one, registered in-process."""
    registry = PluginRegistry()
    registry.register(plugin, "twilio")
    return registry


@pytest.fixture
def environ() -> dict[str, str]:
    """Where the connectors' ``env:`` credentials come from."""
    return {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}


@pytest.fixture
def connector(twilio: TwilioServer) -> dict[str, Any]:
    """The ``sms`` connector's table for the local Twilio, without resilience."""
    return {
        "vendor": "twilio",
        "options": {"base_url": twilio.url, "sender": SENDER},
        "credentials": {
            "account_sid": "env:TWILIO_ACCOUNT_SID",
            "auth_token": "env:TWILIO_AUTH_TOKEN",
        },
    }


#: make_manager(*, async_=False, options=None, resilience=None, base_url=None)
MakeManager = Callable[..., Any]

#: No retries unless a test asks for them: each test sees exactly one request per call.
NO_RETRY = {"retry": {"enabled": False}, "circuit_breaker": {"enabled": False}}


@pytest.fixture
async def make_manager(
    connector: dict[str, Any], registry: PluginRegistry, environ: dict[str, str], clock: FakeClock
) -> AsyncIterator[MakeManager]:
    """Build a ConnectorManager (``async_=True``: an AsyncConnectorManager) whose ``sms``
    connector uses the twilio vendor against the local Twilio, on the fake clock, with
    extra ``options`` and a ``resilience`` table (default: no retries). Closed after."""
    made: list[ConnectorManager | AsyncConnectorManager] = []

    def make(
        *,
        async_: bool = False,
        options: Mapping[str, Any] | None = None,
        resilience: Mapping[str, Any] | None = None,
    ) -> ConnectorManager | AsyncConnectorManager:
        table = {
            **connector,
            "options": {**connector["options"], **(options or {})},
            "resilience": dict(NO_RETRY if resilience is None else resilience),
        }
        kind = AsyncConnectorManager if async_ else ConnectorManager
        manager = kind.from_config(
            {"connectors": {"sms": table}}, registry=registry, clock=clock, environ=environ
        )
        made.append(manager)
        return manager

    yield make
    errors: list[ConnectorError] = []
    for manager in made:
        try:
            if isinstance(manager, AsyncConnectorManager):
                await manager.aclose()
            else:
                manager.close()
        except ConnectorError as exc:
            errors.append(exc)
    assert not errors, errors
