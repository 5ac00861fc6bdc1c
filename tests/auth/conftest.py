"""Fixtures for the auth tests: a local OAuth2 vendor over real sockets, and clocks.

`oauth_vendor` is one `FaultServer` playing a vendor with a token endpoint
(``POST /oauth/token``: client credentials and refresh-token grants, HTTP Basic or form
client authentication, optional refresh-token rotation) and a protected API (any other
path: 200 for a current access token, 401 otherwise). Tests read what reached it from
``token_requests`` and ``api_requests``; scripted faults (`server.script(...)`) hit the next
request, which is a token request when no token is cached yet.

``oauthsms`` is an SMS vendor defined here the way a plugin would use OAuth2: its adapter
builds `OAuth2ClientCredentials.for_adapter(settings, ...)`; `make_sms_manager` builds a
manager whose ``sms`` connector calls `oauth_vendor` through it.

With ``--import-mode=importlib`` test modules cannot import this file: everything a test
needs is a fixture.
"""

from __future__ import annotations

import itertools
import threading
import time
import types
from base64 import b64decode
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import httpx
import msgspec
import pytest

from nexus_connector_core import (
    AdapterSettings,
    AsyncConnectorManager,
    AuthenticationError,
    CallContext,
    ConnectorManager,
    PluginRegistry,
    Registrar,
    SmsMessage,
    SmsReceipt,
    SmsStatus,
    SmsStatusRequest,
    hookimpl,
)
from nexus_connector_core.auth import OAuth2ClientCredentials, OAuth2RefreshToken
from nexus_connector_core.state import MemoryStateBackend
from nexus_connector_core.testing import FakeClock, Fault, FaultServer
from nexus_connector_core.testing._fault_server import ReceivedRequest

CLIENT_ID = "client-1"
CLIENT_SECRET = "cs-9f8e7d6c5b4a"
FIRST_REFRESH_TOKEN = "rt-0-long-lived"
TOKEN_PATH = "/oauth/token"


class OAuthVendor:
    """The vendor's side: issues ``at-<n>`` access tokens, accepts only current ones."""

    client_id = CLIENT_ID
    client_secret = CLIENT_SECRET
    first_refresh_token = FIRST_REFRESH_TOKEN

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        #: Seconds each token lives.
        self.expires_in = 3600
        #: Seconds the token endpoint takes to answer (to make callers overlap).
        self.hold = 0.0
        #: Each refresh-token grant answers with a new refresh token and voids the old one.
        self.rotate = False
        #: (error, error_description) the token endpoint refuses every grant with.
        self.refusal: tuple[str, str] | None = None
        #: The API refuses every token, even a fresh one.
        self.refuse_everything = False
        self.valid_tokens: set[str] = set()
        self.refresh_tokens = {FIRST_REFRESH_TOKEN}
        self.server = FaultServer(default=self.answer)

    @property
    def token_url(self) -> str:
        return self.server.url + TOKEN_PATH

    @property
    def api_url(self) -> str:
        return self.server.url + "/v1/contacts"

    @property
    def token_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.server.requests if r.path == TOKEN_PATH]

    @property
    def api_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.server.requests if r.path != TOKEN_PATH]

    def revoke(self) -> None:
        """Void every access token issued so far (the API answers 401 to them)."""
        with self._lock:
            self.valid_tokens.clear()

    # -- the server's answers --------------------------------------------------------------

    def answer(self, request: ReceivedRequest) -> Fault:
        if request.path == TOKEN_PATH:
            return self._token(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            current = token in self.valid_tokens and not self.refuse_everything
        if current:
            return Fault.respond(200, {"ok": True, "token": token})
        return Fault.respond(
            401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )

    def _token(self, request: ReceivedRequest) -> Fault:
        if self.hold:
            time.sleep(self.hold)
        form = dict(parse_qsl(request.body.decode()))
        if self._client(request, form) != (CLIENT_ID, CLIENT_SECRET):
            return self._error(401, "invalid_client", "unknown client or wrong secret")
        if self.refusal is not None:
            return self._error(400, *self.refusal)
        grant = form.get("grant_type")
        with self._lock:
            number = next(self._numbers)
            body: dict[str, Any] = {
                "access_token": f"at-{number}",
                "token_type": "Bearer",
                "expires_in": self.expires_in,
            }
            if grant == "refresh_token":
                if form.get("refresh_token") not in self.refresh_tokens:
                    return self._error(400, "invalid_grant", "refresh token revoked or used")
                if self.rotate:
                    self.refresh_tokens = {f"rt-{number}"}
                    body["refresh_token"] = f"rt-{number}"
            elif grant != "client_credentials":
                return self._error(400, "unsupported_grant_type", f"no grant {grant!r}")
            self.valid_tokens.add(body["access_token"])
        return Fault.respond(200, body)

    @staticmethod
    def _client(request: ReceivedRequest, form: dict[str, str]) -> tuple[str, str]:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            user, _, password = b64decode(header[6:]).decode().partition(":")
            return unquote_plus(user), unquote_plus(password)
        return form.get("client_id", ""), form.get("client_secret", "")

    @staticmethod
    def _error(status: int, error: str, description: str) -> Fault:
        return Fault.respond(status, {"error": error, "error_description": description})


class WaitingClock(FakeClock):
    """Fake time for expiry decisions; real (short) sleeps for waiting on other threads
    and tasks, which must really run while a caller waits for their refresh."""

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)


@pytest.fixture
def oauth_vendor() -> Iterator[OAuthVendor]:
    vendor = OAuthVendor()
    with vendor.server:
        yield vendor


@pytest.fixture
def waiting_clock() -> WaitingClock:
    return WaitingClock()


#: make_auth(grant="client_credentials", **keywords) -> an OAuth2 auth for `oauth_vendor`
MakeAuth = Callable[..., Any]


@pytest.fixture
def make_auth(oauth_vendor: OAuthVendor, clock: FakeClock) -> MakeAuth:
    """An OAuth2 auth for `oauth_vendor`'s token endpoint, on the test's `clock` unless a
    keyword says otherwise; ``grant="refresh_token"`` starts from the first refresh token."""

    def make(grant: str = "client_credentials", **keywords: Any) -> Any:
        keywords.setdefault("clock", clock)
        args = (oauth_vendor.token_url, CLIENT_ID, CLIENT_SECRET)
        if grant == "refresh_token":
            return OAuth2RefreshToken(*args, FIRST_REFRESH_TOKEN, **keywords)
        return OAuth2ClientCredentials(*args, **keywords)

    return make


@pytest.fixture
def shared_state(clock: FakeClock) -> MemoryStateBackend:
    """One state backend for several auth objects: workers that share their tokens."""
    return MemoryStateBackend(clock=clock)


#: get(auth, url) -> httpx.Response, with an httpx.Client or an httpx.AsyncClient
Get = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
async def get(request: pytest.FixtureRequest) -> AsyncIterator[Get]:
    """``await get(auth, url)``: one GET with `auth`, through an `httpx.Client` in the sync
    run of the test and an `httpx.AsyncClient` in the async run."""
    if request.param == "sync":
        with httpx.Client() as client:

            async def sync_get(auth: httpx.Auth, url: str) -> httpx.Response:
                return client.get(url, auth=auth)

            yield sync_get
    else:
        async with httpx.AsyncClient() as aclient:

            async def async_get(auth: httpx.Auth, url: str) -> httpx.Response:
                return await aclient.get(url, auth=auth)

            yield async_get


# -- a vendor plugin that uses OAuth2 ----------------------------------------------------------


class OAuthSmsOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str


class _OAuthSms:
    """What both twins share: the auth, and how an answer becomes a receipt."""

    def __init__(self, settings: AdapterSettings) -> None:
        self.vendor = settings.vendor
        self.base_url = settings.options.base_url
        self.auth = OAuth2ClientCredentials.for_adapter(
            settings,
            token_url=self.base_url + TOKEN_PATH,
            client_id=settings.secret("client_id"),
            client_secret=settings.credentials["client_secret"],
        )

    def _receipt(self, response: httpx.Response, message: SmsMessage) -> SmsReceipt:
        if response.status_code == 401:
            raise AuthenticationError("vendor answered 401")
        # The vendor's id of the message is the token it was sent with: tests read it.
        return SmsReceipt(vendor=self.vendor, vendor_id=response.json()["token"], to=message.to)

    def _status(self, request: SmsStatusRequest) -> SmsStatus:
        return SmsStatus(vendor=self.vendor, vendor_id=request.vendor_id, status="delivered")


class OAuthSmsAdapter(_OAuthSms):
    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self._client = httpx.Client(base_url=self.base_url, auth=self.auth)

    def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        return self._receipt(self._client.post("/v1/messages", timeout=ctx.timeout), message)

    def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        return self._status(request)

    def close(self) -> None:
        self._client.close()


class AsyncOAuthSmsAdapter(_OAuthSms):
    def __init__(self, settings: AdapterSettings) -> None:
        super().__init__(settings)
        self._client = httpx.AsyncClient(base_url=self.base_url, auth=self.auth)

    async def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        response = await self._client.post("/v1/messages", timeout=ctx.timeout)
        return self._receipt(response, message)

    async def get_status(self, request: SmsStatusRequest, ctx: CallContext) -> SmsStatus:
        return self._status(request)

    async def aclose(self) -> None:
        await self._client.aclose()


@hookimpl
def register_sms_vendors(register: Registrar) -> None:
    register(
        "oauthsms",
        OAuthSmsAdapter,
        async_impl=AsyncOAuthSmsAdapter,
        options=OAuthSmsOptions,
        credentials=("client_id", "client_secret"),
    )


#: make_sms_manager(*, async_=False, resilience=None) -> a manager with an ``sms`` connector
MakeSmsManager = Callable[..., Any]


@pytest.fixture
async def make_sms_manager(
    oauth_vendor: OAuthVendor, registry: PluginRegistry, clock: FakeClock
) -> AsyncIterator[MakeSmsManager]:
    """Managers (sync, or async with ``async_=True``) whose ``sms`` connector sends through
    ``oauthsms`` to `oauth_vendor`, on the test's clock; closed at teardown."""
    registry.register(
        types.SimpleNamespace(__name__="oauthsms", register_sms_vendors=register_sms_vendors)
    )
    made: list[Any] = []

    def make(*, async_: bool = False, resilience: dict[str, Any] | None = None) -> Any:
        table = {
            "vendor": "oauthsms",
            "options": {"base_url": oauth_vendor.server.url},
            "credentials": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            "resilience": resilience or {},
        }
        kind = AsyncConnectorManager if async_ else ConnectorManager
        manager = kind.from_config(
            {"connectors": {"sms": table}}, registry=registry, clock=clock, environ={}
        )
        made.append(manager)
        return manager

    yield make
    for manager in made:
        if isinstance(manager, AsyncConnectorManager):
            await manager.aclose()
        else:
            manager.close()
