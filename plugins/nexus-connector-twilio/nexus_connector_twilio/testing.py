"""A local Twilio for tests, an application's or the plugin's: real HTTP on 127.0.0.1, Twilio's
Messages API with its rules and its answers.

`TwilioDouble` is the default responder of a core `FaultServer`. It checks every request as
Twilio documents it (the versioned path with the account SID, HTTP Basic auth with the
account SID and auth token, a form-encoded body, the required fields) and answers in
Twilio's formats: the Message resource as JSON, errors as ``{"code", "message",
"more_info", "status"}``. Its ``outbox`` holds the messages it created. Point a connector's
``options.base_url`` at the server and give it the double's credentials (`ACCOUNT_SID` and
`AUTH_TOKEN` unless you chose others). In an application's test:

>>> from nexus_connector_core import ConnectorManager, SmsMessage
>>> from nexus_connector_core.testing import FaultServer
>>> from nexus_connector_twilio.testing import ACCOUNT_SID, AUTH_TOKEN, SENDER, TwilioDouble
>>> twilio = TwilioDouble()
>>> with FaultServer(default=twilio) as server:
...     sms = {
...         "vendor": "twilio",
...         "credentials": {
...             "account_sid": "env:TWILIO_ACCOUNT_SID",
...             "auth_token": "env:TWILIO_AUTH_TOKEN",
...         },
...         "options": {"base_url": server.url, "sender": SENDER},
...     }
...     with ConnectorManager.from_config(
...         {"connectors": {"sms": sms}},
...         environ={"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN},
...     ) as manager:
...         # in a real test: the application's own code
...         receipt = manager.sms.send(SmsMessage("+14155550100", "Your code is 481516"))
...         status = manager.sms.get_status(receipt.vendor_id)
>>> [(sent["to"], sent["body"]) for sent in twilio.outbox]
[('+14155550100', 'Your code is 481516')]
>>> receipt.status, status.status
('queued', 'sending')

Each lookup of a message moves it one status on (``queued``, ``sending``, ``sent``, then
``delivered``); a message to one of the `unreachable` numbers ends ``undelivered`` with
error 30003. The ``To`` numbers of Twilio's test credentials fail as they do there
(`MAGIC_TO`: ``+15005550001`` is invalid, ``+15005550004`` unsubscribed, ...). Scripted
faults come before the double's answers: ``server.script(FAULTS["rate_limited"])`` (or any
`twilio_error`) makes the next answer a refusal, ``Fault.reset_after_request()`` an exchange
whose outcome the caller cannot know.
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from nexus_connector_core.testing import Fault, ReceivedRequest
from nexus_connector_core.vendors.memory.sms import sms_segments

if TYPE_CHECKING:
    from nexus_connector_core.testing import SmsFaultKind

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "FAULTS",
    "MAGIC_TO",
    "RETRY_AFTER",
    "SENDER",
    "UNREACHABLE",
    "TwilioDouble",
    "form_of",
    "sends",
    "twilio_error",
]

#: The account SID the double accepts unless given another.
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
#: The auth token the double accepts unless given another.
AUTH_TOKEN = "twilio-test-auth-token-0f9e8d7c"
#: Twilio's magic "From" number of its test credentials: always valid.
SENDER = "+15005550006"
#: Messages to this number are accepted, then end ``undelivered`` (30003), unless the double
#: is given other `unreachable` numbers.
UNREACHABLE = "+15550001234"
#: The Retry-After (seconds) of ``FAULTS["rate_limited"]``.
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
    """An error answer in Twilio's format; `headers` as keywords, ``_`` for ``-``.

    >>> fault = twilio_error(429, 20429, "Too Many Requests", Retry_After="2")
    >>> fault.status_code, dict(fault.headers)["Retry-After"]
    (429, '2')
    """
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Fault.respond(status, body, {name.replace("_", "-"): v for name, v in headers.items()})


#: Twilio's answers for each fault of the core's SMS conformance suite, to script with
#: ``server.script(FAULTS[kind])``.
FAULTS: Mapping[SmsFaultKind, Fault] = {
    "invalid_number": twilio_error(400, 21211, "The 'To' number 123 is not a valid phone number."),
    "auth": twilio_error(401, 20003, "Authenticate", WWW_Authenticate='Basic realm="Twilio API"'),
    "rate_limited": twilio_error(429, 20429, "Too Many Requests", Retry_After=str(RETRY_AFTER)),
    "transient": twilio_error(500, 20500, "An internal server error has occurred"),
}


def form_of(request: ReceivedRequest) -> dict[str, list[str]]:
    """The form fields of a request, as Twilio reads them."""
    return parse_qs(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)


def sends(requests: Iterable[ReceivedRequest]) -> list[ReceivedRequest]:
    """The requests to the Messages list resource (sends) among `requests` (a
    `FaultServer`'s), whatever they got."""
    return [request for request in requests if _MESSAGES.fullmatch(request.path)]


class TwilioDouble:
    """Answers requests to Twilio's Messages resource like Twilio (see the module).

    Args:
        account_sid: the only account SID accepted (in the path and the Basic auth).
        auth_token: the only auth token accepted.
        unreachable: ``To`` numbers whose messages are accepted and end ``undelivered``.
    """

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        unreachable: Iterable[str] = (UNREACHABLE,),
    ) -> None:
        pair = f"{account_sid}:{auth_token}".encode()
        self._authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        self.account_sid = account_sid
        self.unreachable = frozenset(unreachable)
        self._messages: dict[str, _Message] = {}
        self._lock = threading.Lock()

    @property
    def outbox(self) -> list[dict[str, Any]]:
        """Every message created, in order, as Twilio's Message resource is now."""
        with self._lock:
            return [dict(message.resource) for message in self._messages.values()]

    def __call__(self, request: ReceivedRequest) -> Fault:
        """The answer to one request."""
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
        lifecycle: tuple[str, ...] = ("accepted",) if by_service else ()
        final = "undelivered" if fields["To"] in self.unreachable else "delivered"
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

    def __repr__(self) -> str:
        return f"<TwilioDouble {len(self._messages)} messages>"


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
