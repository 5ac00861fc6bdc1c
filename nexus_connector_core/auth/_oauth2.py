"""OAuth2 as `httpx.Auth`: client-credentials and refresh-token grants, one refresh for all.

One flow serves `httpx.Client` and `httpx.AsyncClient`. `OAuth2Auth._flow` holds the whole
decision (take a token, send, and on a 401 force one refresh and replay once); it yields
either a request for the client to send or an *effect* from `_refresh` (read the state
backend, take the refresh lock, fetch from the token endpoint, wait). httpx calls
`sync_auth_flow` or `async_auth_flow` - the hooks meant for auth that does I/O - and each
only runs the effects the way its client can: blocking, or awaited.

    >>> auth = OAuth2ClientCredentials(
    ...     "https://login.example/token", "my-client", "my-secret", scope="payments"
    ... )
    >>> auth
    OAuth2ClientCredentials('https://login.example/token', client_id='my-client', scope='payments')

``httpx.Client(auth=auth).get(...)`` then sends ``Authorization: Bearer <token>``, fetching
and caching tokens as needed. Tokens are cached in the state backend as they are: use a
backend you trust with them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from typing import Any, ClassVar, Literal, NamedTuple, Self, Unpack
from urllib.parse import urlsplit

import httpx

from .._adapters import AdapterSettings
from .._clock import SYSTEM_CLOCK, Clock
from .._context import CallContext
from .._credentials import Secret
from .._errors import AuthenticationError
from .._operations import Operation
from .._resilience.attempts import VendorPolicy
from .._resilience.config import ResilienceConfig
from .._resilience.middleware import AttemptStep
from .._resilience.outage import StateOutage
from .._state import AsyncStateBackend, StateBackend
from .._state_memory import MemoryStateBackend
from ..http._transport import HttpTransport
from ._oauth2_settings import (
    TOKEN_OPERATION,
    OAuth2Keywords,
    OAuth2Options,
    backend_twins,
    wiring_for_adapter,
)
from ._refresh import Effect, Lock, Read, Refresher, Store, TokenRecord, Unlock, Wait
from ._simple import as_secret
from ._token_endpoint import Token, TokenEndpoint, TokenRequest

__all__ = ["OAuth2Auth", "OAuth2ClientCredentials", "OAuth2RefreshToken"]

_ERROR_PARAM = re.compile(r'\berror="([^"]*)"')

ApiFlow = Generator[Effect | httpx.Request, Any, Any]


class _Done(NamedTuple):
    """The flow has returned `value`."""

    value: Any


Step = Effect | httpx.Request | _Done


def _resume(flow: ApiFlow, outcome: Any = None, error: BaseException | None = None) -> Step:
    """Hand `flow` the outcome of its last step (or its error): its next step."""
    try:
        return flow.send(outcome) if error is None else flow.throw(error)
    except StopIteration as stop:
        return _Done(stop.value)


class OAuth2Auth(httpx.Auth):
    """What both grants share; use `OAuth2ClientCredentials` or `OAuth2RefreshToken`.

    The keyword arguments are described in `OAuth2Options` and `OAuth2Wiring`. A request
    body is read into memory before it is sent, so that a request refused with 401 can be
    replayed; `get_token` / `aget_token` give the token itself to clients that are not httpx.

    Attributes:
        key: the state-backend key of the cached token, from the token URL, client id,
            scope and subject (never a secret).
    """

    requires_request_body = True  # a request refused with 401 is replayed, body included
    grant_type: ClassVar[str]
    #: Whether repeating a token request is harmless (a refresh-token grant may rotate).
    idempotent: ClassVar[bool]

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: Secret | str | None,
        *,
        subject: str = "",
        scope: str | Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
        client_auth: Literal["basic", "body"] = "basic",
        transport: HttpTransport = "auto",
        margin: float = 30.0,
        lock_ttl: float | None = None,
        cooldown: tuple[float, float] = (1.0, 60.0),
        state: StateBackend | AsyncStateBackend | None = None,
        clock: Clock = SYSTEM_CLOCK,
        resilience: ResilienceConfig | None = None,
        connector: str = "oauth2",
        vendor: str | None = None,
        category: str = "auth",
        fail_open: bool = True,
    ) -> None:
        secret = None if client_secret is None else as_secret(client_secret, "client_secret")
        self._endpoint = TokenEndpoint(
            token_url, client_id, secret, client_auth=client_auth, transport=transport
        )
        self.scope = scope if isinstance(scope, str) else " ".join(scope or ())
        self._params = {**(params or {}), **({"scope": self.scope} if self.scope else {})}
        identity = "\0".join((token_url, client_id, self.scope, subject))
        self.key = "oauth2:" + hashlib.sha256(identity.encode()).hexdigest()[:32]
        self.clock = clock
        self._connector = connector
        self._vendor = vendor = vendor or urlsplit(token_url).hostname or "oauth2"
        config = resilience or ResilienceConfig()
        self._refresher = Refresher(
            self._token_request,
            clock=clock,
            margin=margin,
            # The lock must outlast its owner's token call, retries included.
            lock_ttl=lock_ttl or (config.deadline or config.timeout or 30.0) + 5.0,
            cooldown=cooldown,
            connector=connector,
            vendor=vendor,
        )
        self._operation: Operation[TokenRequest, Token] = Operation(
            TOKEN_OPERATION, category, TokenRequest, Token, idempotent=self.idempotent
        )
        policy = VendorPolicy(
            connector=connector,
            vendor=vendor,
            operation=self._operation,
            config=config,
            honours_keys=False,
            # The guard's; reading the token cache needs the backend whatever it says.
            outage=StateOutage(fail_open=fail_open),
            bulkhead=None,
        )
        self._state, self._astate = backend_twins(state or MemoryStateBackend(clock=clock))
        self._fetch = self._afetch = None
        # The token endpoint is called as a connector calls its vendor: the same attempt step.
        if self._state is not None:
            self._fetch = AttemptStep(policy, self._state).wrap(self._endpoint.send)
        if self._astate is not None:
            self._afetch = AttemptStep(policy, self._astate).wrap_async(self._endpoint.asend)

    def _token_request(self, record: TokenRecord) -> TokenRequest:
        """The token request of this grant, given the cached record."""
        raise NotImplementedError

    # -- the flow, once ----------------------------------------------------------------------

    def _flow(self, request: httpx.Request) -> ApiFlow:
        record = yield from self._refresher.acquire()
        request.headers["Authorization"] = f"Bearer {record.access_token}"
        response = yield request
        if response.status_code != 401:
            return
        # Refused: refresh, unless someone already replaced the token we sent; replay once.
        record = yield from self._refresher.acquire(stale=record.access_token)
        request.headers["Authorization"] = f"Bearer {record.access_token}"
        response = yield request
        if response.status_code == 401:
            raise self._refused(request, response)

    @staticmethod
    def _refused(request: httpx.Request, response: httpx.Response) -> AuthenticationError:
        # The connector, vendor and operation are filled in by the pipeline's observe step.
        url = request.url.copy_with(userinfo=b"", query=None, fragment=None)  # may hold secrets
        match = _ERROR_PARAM.search(response.headers.get("www-authenticate", ""))
        detail = f" (error={match.group(1)!r})" if match else ""
        return AuthenticationError(
            f"{request.method} {url} answered 401 to a freshly refreshed OAuth2 token{detail}; "
            "check the client's grants and scopes"
        )

    def _call_context(self) -> CallContext:
        return CallContext(self._connector, self._vendor, self._operation, self.clock)

    # -- running it: the sync twin -----------------------------------------------------------

    def _run(self, effect: Effect) -> Any:
        state = self._state
        if state is None or self._fetch is None:
            raise TypeError("this OAuth2 auth has an async state backend: use httpx.AsyncClient")
        if isinstance(effect, Read):
            return state.token_get(self.key)
        if isinstance(effect, Lock):
            return state.token_lock(self.key, ttl=effect.ttl)
        if isinstance(effect, Store):
            return state.token_set(self.key, effect.owner, effect.token)
        if isinstance(effect, Unlock):
            return state.token_unlock(self.key, effect.owner)
        if isinstance(effect, Wait):
            return self.clock.sleep(effect.seconds)
        return self._fetch(effect.request, self._call_context())

    def _step(self, flow: ApiFlow, effect: Effect) -> Step:
        """Run one effect and hand its outcome, or its error, to `flow`."""
        try:
            outcome = self._run(effect)
        except BaseException as exc:  # noqa: BLE001 - the flow decides; it unlocks
            return _resume(flow, error=exc)
        return _resume(flow, outcome)

    def _drive(self, flow: ApiFlow) -> Generator[httpx.Request, httpx.Response, Any]:
        """Run `flow`'s effects, pass its requests to the client, return what it returns."""
        try:
            step = _resume(flow)
            while not isinstance(step, _Done):
                if isinstance(step, httpx.Request):
                    step = _resume(flow, (yield step))
                else:
                    step = self._step(flow, step)
            return step.value
        finally:
            flow.close()

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        yield from self._drive(self._flow(request))

    def get_token(self) -> Secret:
        """A valid access token, for clients that are not httpx (SMTP XOAUTH2, ...)."""
        flow: ApiFlow = self._refresher.acquire()
        try:
            step = _resume(flow)
            while not isinstance(step, _Done):
                assert not isinstance(step, httpx.Request)
                step = self._step(flow, step)
        finally:
            flow.close()
        return Secret(step.value.access_token)

    # -- running it: the async twin ----------------------------------------------------------

    async def _arun(self, effect: Effect) -> Any:
        state = self._astate
        if state is None or self._afetch is None:
            raise TypeError("this OAuth2 auth has a sync state backend: use httpx.Client")
        if isinstance(effect, Read):
            return await state.token_get(self.key)
        if isinstance(effect, Lock):
            return await state.token_lock(self.key, ttl=effect.ttl)
        if isinstance(effect, Store):
            return await state.token_set(self.key, effect.owner, effect.token)
        if isinstance(effect, Unlock):
            return await state.token_unlock(self.key, effect.owner)
        if isinstance(effect, Wait):
            return await self.clock.asleep(effect.seconds)
        return await self._afetch(effect.request, self._call_context())

    async def _astep(self, flow: ApiFlow, effect: Effect) -> Step:
        """Run one effect and hand its outcome, or its error (cancellation too), to `flow`."""
        try:
            outcome = await self._arun(effect)
        except BaseException as exc:  # noqa: BLE001 - the flow decides; it unlocks
            return _resume(flow, error=exc)
        return _resume(flow, outcome)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        flow = self._flow(request)
        try:
            step = _resume(flow)
            while not isinstance(step, _Done):
                if isinstance(step, httpx.Request):
                    step = _resume(flow, (yield step))
                else:
                    step = await self._astep(flow, step)
        finally:
            flow.close()

    async def aget_token(self) -> Secret:
        """The async twin of `get_token`."""
        flow: ApiFlow = self._refresher.acquire()
        try:
            step = _resume(flow)
            while not isinstance(step, _Done):
                assert not isinstance(step, httpx.Request)
                step = await self._astep(flow, step)
        finally:
            flow.close()
        return Secret(step.value.access_token)

    def __repr__(self) -> str:
        scope = f", scope={self.scope!r}" if self.scope else ""
        url, client_id = self._endpoint.shown_url, self._endpoint.client_id
        return f"{type(self).__name__}({url!r}, client_id={client_id!r}{scope})"


class OAuth2ClientCredentials(OAuth2Auth):
    """The client-credentials grant (RFC 6749 §4.4): the client acts on its own behalf.

    Outside a connector manager it keeps tokens in a `MemoryStateBackend` of its own; pass
    `state` to share them with other auth objects, threads and tasks::

        auth = OAuth2ClientCredentials(token_url, "client-id", Secret("..."), scope="read")

    In a vendor adapter, wire it to the manager's state backend and clock and the
    connector's resilience policies::

        auth = OAuth2ClientCredentials.for_adapter(
            settings, token_url=..., client_id=settings.secret("client_id"),
            client_secret=settings.credentials["client_secret"], scope="read",
        )
    """

    grant_type = "client_credentials"
    idempotent = True

    @classmethod
    def for_adapter(
        cls,
        settings: AdapterSettings,
        *,
        token_url: str,
        client_id: str,
        client_secret: Secret | str,
        **options: Unpack[OAuth2Options],
    ) -> Self:
        """The grant for an adapter built with `settings`: the manager's state backend
        and clock, the connector's policies (see `token_resilience`), its names."""
        return cls(token_url, client_id, client_secret, **options, **wiring_for_adapter(settings))

    def _token_request(self, record: TokenRecord) -> TokenRequest:
        return self._endpoint.request(self.grant_type, self._params)


class OAuth2RefreshToken(OAuth2Auth):
    """The refresh-token grant (RFC 6749 §6): access tokens from a long-lived refresh token.

    `refresh_token` is the one obtained when the user authorized the client. An endpoint
    that rotates refresh tokens sends a new one with each access token; it is kept in the
    state backend with the access token and used from then on (so use a persistent backend
    when the endpoint rotates). Pass `subject` (an account id, say) when one client holds
    the tokens of several users.

    >>> OAuth2RefreshToken("https://login.example/token", "app", None, "rt-1", subject="a-7")
    OAuth2RefreshToken('https://login.example/token', client_id='app')
    """

    grant_type = "refresh_token"
    # A refresh that reached the endpoint may have rotated the refresh token: repeat it
    # only when the request surely was not processed (connect error, 503, 429).
    idempotent = False

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: Secret | str | None,
        refresh_token: Secret | str,
        **options: Unpack[OAuth2Keywords],
    ) -> None:
        self._refresh_token = as_secret(refresh_token, "refresh_token")
        super().__init__(token_url, client_id, client_secret, **options)

    @classmethod
    def for_adapter(
        cls,
        settings: AdapterSettings,
        *,
        token_url: str,
        client_id: str,
        client_secret: Secret | str | None,
        refresh_token: Secret | str,
        **options: Unpack[OAuth2Options],
    ) -> Self:
        """The grant for an adapter, wired like `OAuth2ClientCredentials.for_adapter`."""
        wiring = wiring_for_adapter(settings)
        return cls(token_url, client_id, client_secret, refresh_token, **options, **wiring)

    def _token_request(self, record: TokenRecord) -> TokenRequest:
        latest = record.refresh_token or self._refresh_token.reveal()
        return self._endpoint.request(self.grant_type, {**self._params, "refresh_token": latest})
