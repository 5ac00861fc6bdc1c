"""OAuth2 client-credentials and refresh-token grants against a local vendor over sockets.

The vendor (`oauth_vendor`, see conftest) issues ``at-<n>`` tokens and its API accepts only
current ones. Expiry and cool-downs run on a `FakeClock` that tests advance; only the tests
where threads or tasks wait for another caller's refresh sleep for real (briefly). Tests
taking `get` run twice: with `httpx.Client` and with `httpx.AsyncClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from base64 import b64decode, b64encode
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

import httpx
import pytest

from nexus_connector_core import (
    AdapterSettings,
    AuthenticationError,
    CredentialRefreshError,
    RateLimitConfig,
    ResilienceConfig,
    RetryConfig,
    Secret,
    SmsMessage,
)
from nexus_connector_core.auth import OAuth2ClientCredentials, token_resilience
from nexus_connector_core.auth._token_endpoint import TokenEndpoint
from nexus_connector_core.state import AsyncMemoryStateBackend, MemoryStateBackend
from nexus_connector_core.testing import FakeClock, Fault, ReceivedRequest

HOUR = 3600.0


def form(request: ReceivedRequest) -> dict[str, str]:
    """The form fields of a token request."""
    return dict(parse_qsl(request.body.decode()))


def bearer(request: ReceivedRequest) -> str:
    """The access token an API request carried."""
    return request.headers["authorization"].removeprefix("Bearer ")


# -- getting and caching tokens ----------------------------------------------------------------


async def test_first_call_fetches_a_token_and_sends_it_as_bearer(
    oauth_vendor: Any, make_auth: Any, get: Any
) -> None:
    response = await get(make_auth(scope=["contacts.read", "contacts.write"]), oauth_vendor.api_url)

    assert response.status_code == 200
    [token_request] = oauth_vendor.token_requests
    assert form(token_request) == {
        "grant_type": "client_credentials",
        "scope": "contacts.read contacts.write",
    }
    basic = b64decode(token_request.headers["authorization"].removeprefix("Basic ")).decode()
    assert basic == f"{oauth_vendor.client_id}:{oauth_vendor.client_secret}"
    assert [bearer(r) for r in oauth_vendor.api_requests] == ["at-1"]


async def test_client_credentials_may_go_in_the_form_instead(
    oauth_vendor: Any, make_auth: Any, get: Any
) -> None:
    response = await get(make_auth(client_auth="body"), oauth_vendor.api_url)

    assert response.status_code == 200
    [token_request] = oauth_vendor.token_requests
    assert "authorization" not in token_request.headers
    assert form(token_request)["client_secret"] == oauth_vendor.client_secret


async def test_token_is_reused_until_margin_seconds_before_it_expires(
    oauth_vendor: Any, make_auth: Any, clock: FakeClock, get: Any
) -> None:
    auth = make_auth(margin=30.0)
    await get(auth, oauth_vendor.api_url)
    clock.advance(HOUR - 31)
    await get(auth, oauth_vendor.api_url)
    assert len(oauth_vendor.token_requests) == 1

    clock.advance(2)  # now within 30 s of the expiry
    await get(auth, oauth_vendor.api_url)

    assert len(oauth_vendor.token_requests) == 2
    assert [bearer(r) for r in oauth_vendor.api_requests] == ["at-1", "at-1", "at-2"]


async def test_workers_sharing_a_state_backend_share_the_token(
    oauth_vendor: Any, make_auth: Any, shared_state: MemoryStateBackend, get: Any
) -> None:
    first, second = make_auth(state=shared_state), make_auth(state=shared_state)

    await get(first, oauth_vendor.api_url)
    await get(second, oauth_vendor.api_url)

    assert len(oauth_vendor.token_requests) == 1
    assert first.key == second.key
    assert shared_state.token_get(first.key) is not None


def test_get_token_gives_the_access_token_for_clients_that_are_not_httpx(
    make_auth: Any,
) -> None:
    token = make_auth().get_token()

    assert isinstance(token, Secret)
    assert token.reveal() == "at-1"


async def test_aget_token_is_its_async_twin(make_auth: Any) -> None:
    token = await make_auth().aget_token()

    assert token.reveal() == "at-1"


# -- one refresh for everyone ------------------------------------------------------------------


def test_fifty_threads_with_an_expired_token_cause_exactly_one_token_request(
    oauth_vendor: Any, make_auth: Any, waiting_clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=waiting_clock)
    workers = [make_auth(clock=waiting_clock, state=state) for _ in range(2)]
    with httpx.Client(auth=workers[0]) as warm_up:
        warm_up.get(oauth_vendor.api_url)
    waiting_clock.advance(HOUR)  # the cached token has expired
    oauth_vendor.hold = 0.2  # the refresh takes a while: every caller arrives meanwhile
    start = threading.Barrier(50)
    clients = [httpx.Client(auth=auth, limits=httpx.Limits(max_connections=50)) for auth in workers]

    def call(number: int) -> httpx.Response:
        start.wait()
        return clients[number % 2].get(oauth_vendor.api_url)

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(call, range(50)))
    for client in clients:
        client.close()

    assert len(oauth_vendor.token_requests) == 2  # the warm-up's and exactly one refresh
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["token"] for r in responses} == {"at-2"}


async def test_fifty_tasks_with_an_expired_token_cause_exactly_one_token_request(
    oauth_vendor: Any, make_auth: Any, waiting_clock: FakeClock
) -> None:
    state = AsyncMemoryStateBackend(clock=waiting_clock)
    workers = [make_auth(clock=waiting_clock, state=state) for _ in range(2)]
    async with httpx.AsyncClient(auth=workers[0]) as warm_up:
        await warm_up.get(oauth_vendor.api_url)
    waiting_clock.advance(HOUR)
    oauth_vendor.hold = 0.2

    async with (
        httpx.AsyncClient(auth=workers[0]) as first,
        httpx.AsyncClient(auth=workers[1]) as second,
    ):
        clients = (first, second)
        responses = await asyncio.gather(
            *(clients[n % 2].get(oauth_vendor.api_url) for n in range(50))
        )

    assert len(oauth_vendor.token_requests) == 2
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["token"] for r in responses} == {"at-2"}


def test_a_refresh_lock_left_by_a_dead_worker_expires(
    oauth_vendor: Any, make_auth: Any, clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=clock)
    auth = make_auth(state=state, lock_ttl=10.0)
    assert state.token_lock(auth.key, ttl=10.0) is not None  # taken, never released

    with httpx.Client(auth=auth) as client:
        response = client.get(oauth_vendor.api_url)

    assert response.status_code == 200
    assert len(oauth_vendor.token_requests) == 1
    assert 10.0 <= sum(clock.sleeps) < 10.2  # polled (on the fake clock) until it expired


async def test_a_cancelled_refresh_releases_the_lock_at_once(
    oauth_vendor: Any, make_auth: Any, waiting_clock: FakeClock
) -> None:
    state = AsyncMemoryStateBackend(clock=waiting_clock)
    auth = make_auth(clock=waiting_clock, state=state)
    oauth_vendor.hold = 0.5
    refresh = asyncio.create_task(auth.aget_token())
    await asyncio.sleep(0.1)  # the token request is on its way; its answer is not

    refresh.cancel()
    with pytest.raises(asyncio.CancelledError):
        await refresh

    assert await state.token_lock(auth.key, ttl=1.0) is not None  # free, not held to its TTL


# -- a 401 from the API ------------------------------------------------------------------------


async def test_a_401_on_a_valid_looking_token_causes_one_refresh_and_one_replay(
    oauth_vendor: Any, make_auth: Any, get: Any
) -> None:
    auth = make_auth()
    await get(auth, oauth_vendor.api_url)
    oauth_vendor.revoke()  # the vendor voids at-1 long before its expiry

    response = await get(auth, oauth_vendor.api_url)

    assert response.status_code == 200
    assert len(oauth_vendor.token_requests) == 2
    assert [bearer(r) for r in oauth_vendor.api_requests] == ["at-1", "at-1", "at-2"]


async def test_a_401_after_the_refresh_is_an_authentication_error(
    oauth_vendor: Any, make_auth: Any, get: Any
) -> None:
    auth = make_auth()
    oauth_vendor.refuse_everything = True

    with pytest.raises(AuthenticationError, match="401 to a freshly refreshed") as caught:
        await get(auth, oauth_vendor.api_url)

    assert "invalid_token" in str(caught.value)
    assert len(oauth_vendor.token_requests) == 2  # the first token and one forced refresh
    assert len(oauth_vendor.api_requests) == 2  # the request and one replay, no more


def test_concurrent_401s_cause_one_refresh(
    oauth_vendor: Any, make_auth: Any, waiting_clock: FakeClock
) -> None:
    auth = make_auth(clock=waiting_clock)
    with httpx.Client(auth=auth) as client:
        client.get(oauth_vendor.api_url)
        oauth_vendor.revoke()
        oauth_vendor.hold = 0.2
        with ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(lambda _: client.get(oauth_vendor.api_url), range(20)))

    assert {r.status_code for r in responses} == {200}
    # A caller whose 401 came after another's refresh takes the new token, no refresh.
    assert len(oauth_vendor.token_requests) == 2


# -- failed refreshes --------------------------------------------------------------------------


async def test_a_refused_refresh_raises_with_the_vendors_reason(
    oauth_vendor: Any, make_auth: Any, get: Any
) -> None:
    oauth_vendor.refusal = ("unauthorized_client", "The client is suspended")

    with pytest.raises(CredentialRefreshError) as caught:
        await get(make_auth(), oauth_vendor.api_url)

    error = caught.value
    assert error.reason == "The client is suspended"
    assert oauth_vendor.token_url in str(error)
    assert "unauthorized_client" in str(error)
    assert error.operation == "oauth_token"
    assert oauth_vendor.api_requests == []


async def test_an_answer_without_a_bearer_token_is_a_refresh_error(
    oauth_vendor: Any, make_auth: Any, get: Any
) -> None:
    oauth_vendor.server.script(Fault.respond(200, {"access_token": "x", "token_type": "mac"}))

    with pytest.raises(CredentialRefreshError, match="without a usable bearer token") as caught:
        await get(make_auth(), oauth_vendor.api_url)

    assert caught.value.reason == "invalid token response"
    assert oauth_vendor.api_requests == []


async def test_an_access_token_that_cannot_go_in_a_header_is_a_refresh_error(
    oauth_vendor: Any, make_auth: Any, get: Any
) -> None:
    token = "at-0123456789abcdef\r\nX-Injected: 1"
    oauth_vendor.server.script(Fault.respond(200, {"access_token": token, "token_type": "Bearer"}))

    with pytest.raises(CredentialRefreshError, match="without a usable bearer token") as caught:
        await get(make_auth(), oauth_vendor.api_url)

    assert "at-0123456789abcdef" not in str(caught.value)
    assert oauth_vendor.api_requests == []


async def test_within_the_cool_down_a_second_call_does_not_reach_the_token_endpoint(
    oauth_vendor: Any, make_auth: Any, clock: FakeClock, get: Any
) -> None:
    oauth_vendor.refusal = ("invalid_client", "The client secret has expired")
    auth = make_auth(cooldown=(1.0, 60.0))
    with pytest.raises(CredentialRefreshError) as first:
        await get(auth, oauth_vendor.api_url)

    clock.advance(0.5)
    with pytest.raises(CredentialRefreshError) as second:
        await get(auth, oauth_vendor.api_url)

    assert oauth_vendor.server.hits == 1
    assert second.value.reason == first.value.reason == "The client secret has expired"


async def test_the_cool_down_doubles_with_each_failure_and_ends_with_a_success(
    oauth_vendor: Any, make_auth: Any, clock: FakeClock, get: Any
) -> None:
    oauth_vendor.refusal = ("temporarily_unavailable", "maintenance")
    auth = make_auth(cooldown=(1.0, 60.0))

    async def attempt() -> int:
        with contextlib.suppress(CredentialRefreshError):
            await get(auth, oauth_vendor.api_url)
        return len(oauth_vendor.token_requests)

    assert await attempt() == 1
    clock.advance(1.0)
    assert await attempt() == 2  # the first cool-down (1 s) is over
    clock.advance(1.5)
    assert await attempt() == 2  # the second one lasts 2 s
    clock.advance(0.5)
    oauth_vendor.refusal = None
    assert await attempt() == 3
    response = await get(auth, oauth_vendor.api_url)
    assert response.status_code == 200
    assert len(oauth_vendor.token_requests) == 3


def test_the_cool_down_is_shared_by_workers(
    oauth_vendor: Any, make_auth: Any, shared_state: MemoryStateBackend
) -> None:
    oauth_vendor.refusal = ("invalid_client", "revoked")
    first, second = make_auth(state=shared_state), make_auth(state=shared_state)
    with pytest.raises(CredentialRefreshError):
        first.get_token()

    with pytest.raises(CredentialRefreshError, match="no new attempt"):
        second.get_token()

    assert len(oauth_vendor.token_requests) == 1


async def test_a_token_that_still_works_is_used_while_its_refresh_fails(
    oauth_vendor: Any, make_auth: Any, clock: FakeClock, get: Any
) -> None:
    auth = make_auth(margin=60.0)
    await get(auth, oauth_vendor.api_url)
    clock.advance(HOUR - 30)  # due for refresh, not expired
    oauth_vendor.refusal = ("server_error", "try later")

    response = await get(auth, oauth_vendor.api_url)

    assert response.status_code == 200
    assert len(oauth_vendor.token_requests) == 2
    assert [bearer(r) for r in oauth_vendor.api_requests] == ["at-1", "at-1"]


# -- the resilience pipeline -------------------------------------------------------------------


async def test_token_endpoint_503_with_retry_after_is_retried_through_the_pipeline(
    oauth_vendor: Any, make_auth: Any, clock: FakeClock, get: Any
) -> None:
    oauth_vendor.server.script(Fault.status(503, retry_after=2))

    response = await get(make_auth(), oauth_vendor.api_url)

    assert response.status_code == 200
    assert [r.fault.status_code for r in oauth_vendor.token_requests] == [503, 200]
    assert clock.sleeps == [2.0]  # the vendor's Retry-After, waited on the fake clock


async def test_a_refresh_token_grant_is_not_repeated_after_a_500(
    oauth_vendor: Any, make_auth: Any, get: Any
) -> None:
    # The endpoint may have rotated the refresh token before failing: a retry could void it.
    oauth_vendor.server.script(Fault.status(500))

    with pytest.raises(CredentialRefreshError, match="answered 500") as caught:
        await get(make_auth("refresh_token"), oauth_vendor.api_url)

    assert caught.value.retryable
    assert len(oauth_vendor.token_requests) == 1


async def test_for_adapter_wires_the_managers_state_clock_and_the_connectors_policies(
    oauth_vendor: Any, clock: FakeClock, get: Any
) -> None:
    state = MemoryStateBackend(clock=clock)
    no_retries = ResilienceConfig(retry=RetryConfig(max_attempts=1))
    settings = AdapterSettings(
        connector="crm", category="email", vendor="acme", clock=clock, state=state,
        resilience={"send": no_retries, "send_batch": no_retries},
    )  # fmt: skip
    auth = OAuth2ClientCredentials.for_adapter(
        settings,
        token_url=oauth_vendor.token_url,
        client_id=oauth_vendor.client_id,
        client_secret=oauth_vendor.client_secret,
    )
    oauth_vendor.server.script(Fault.status(503, retry_after=2))

    with pytest.raises(CredentialRefreshError) as caught:
        await get(auth, oauth_vendor.api_url)
    clock.advance(1.0)  # past the cool-down
    await get(auth, oauth_vendor.api_url)

    assert str(caught.value).startswith("[crm/acme.oauth_token]")
    assert len(oauth_vendor.token_requests) == 2  # one attempt per call: max_attempts = 1
    assert state.token_get(auth.key) is not None


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
async def test_an_adapter_built_by_the_manager_caches_tokens_in_the_managers_backend(
    make_sms_manager: Any, oauth_vendor: Any, async_: bool
) -> None:
    manager = make_sms_manager(async_=async_)
    message = SmsMessage("+14155550100", "Your code is 1234")

    receipts = [manager.sms.send(message) for _ in range(3)]
    if async_:
        receipts = [await receipt for receipt in receipts]

    assert [r.vendor_id for r in receipts] == ["at-1"] * 3  # the message ids: the tokens
    assert len(oauth_vendor.token_requests) == 1
    adapter = manager.connector("sms").adapter
    stored = manager.state.token_get(adapter.auth.key)
    assert (await stored if async_ else stored) is not None


async def test_a_token_endpoint_down_fails_the_managers_call_with_a_refresh_error(
    make_sms_manager: Any, oauth_vendor: Any, clock: FakeClock
) -> None:
    manager = make_sms_manager(resilience={"retry": {"max_attempts": 2, "jitter": "none"}})
    oauth_vendor.server.script(Fault.status(503), Fault.status(503))

    with pytest.raises(CredentialRefreshError, match=r"^\[sms/oauthsms.oauth_token\]") as caught:
        manager.sms.send(SmsMessage("+14155550100", "hi"))

    assert caught.value.retryable  # the endpoint was unavailable, not refusing
    assert len(oauth_vendor.token_requests) == 2  # the connector's retry policy: 2 attempts
    assert oauth_vendor.api_requests == []


def test_token_resilience_keeps_retries_and_breaker_but_not_the_apis_rate_limit() -> None:
    limited = ResilienceConfig(rate_limit=RateLimitConfig(rate=1.0))
    dedicated = ResilienceConfig(timeout=2.0)

    assert token_resilience({"send": limited}).rate_limit is None
    assert token_resilience({"send": limited}).retry == limited.retry
    assert token_resilience({"send": limited, "oauth_token": dedicated}).timeout == 2.0


# -- the refresh-token grant -------------------------------------------------------------------


async def test_a_rotated_refresh_token_is_kept_and_used_by_every_worker(
    oauth_vendor: Any, make_auth: Any, shared_state: MemoryStateBackend, clock: FakeClock, get: Any
) -> None:
    oauth_vendor.rotate = True
    first = make_auth("refresh_token", state=shared_state)
    await get(first, oauth_vendor.api_url)
    clock.advance(HOUR)
    # A second worker, configured with the original (now voided) refresh token:
    second = make_auth("refresh_token", state=shared_state)

    response = await get(second, oauth_vendor.api_url)

    assert response.status_code == 200
    sent = [form(r)["refresh_token"] for r in oauth_vendor.token_requests]
    assert sent == [oauth_vendor.first_refresh_token, "rt-1"]
    assert [form(r)["grant_type"] for r in oauth_vendor.token_requests] == ["refresh_token"] * 2


# -- secrets stay secret -----------------------------------------------------------------------


async def test_secrets_and_tokens_never_appear_in_reprs_or_errors(
    oauth_vendor: Any, make_auth: Any, clock: FakeClock, get: Any
) -> None:
    auth = make_auth("refresh_token", scope="contacts")
    await get(auth, oauth_vendor.api_url)
    oauth_vendor.revoke()
    oauth_vendor.refusal = ("invalid_grant", f"bad secret {oauth_vendor.client_secret}")

    with pytest.raises(CredentialRefreshError) as refused:
        await get(auth, oauth_vendor.api_url)
    oauth_vendor.refusal = None
    oauth_vendor.refuse_everything = True
    clock.advance(1.0)
    with pytest.raises(AuthenticationError) as unauthorized:
        await get(auth, oauth_vendor.api_url)

    errors = (refused.value, unauthorized.value)
    shown = " ".join([repr(auth), refused.value.reason or ""] + [f"{e} {e!r}" for e in errors])
    for secret in (oauth_vendor.client_secret, oauth_vendor.first_refresh_token, "at-1", "at-2"):
        assert secret not in shown
    assert "bad secret **********" in shown


def test_an_auth_on_an_async_only_backend_refuses_a_sync_client(make_auth: Any) -> None:
    class AsyncOnly:
        nonblocking = None

        async def token_get(self, key: str) -> None:
            return None

    auth = make_auth(state=AsyncOnly())

    with pytest.raises(TypeError, match="use httpx.AsyncClient"):
        auth.get_token()


def test_a_token_endpoint_echoing_the_request_shows_no_form_of_the_secret() -> None:
    secret, refresh_token = "s3cr3t/+key==", "rt/+1234 abc=="
    endpoint = TokenEndpoint(
        "https://auth.example/token", "client id", Secret(secret), client_auth="basic"
    )
    request = endpoint.request("refresh_token", {"refresh_token": refresh_token})
    echoed = f"got {urlencode(request.form)} with {request.headers['Authorization']}"
    body = json.dumps(
        {"error": f"invalid_client {quote_plus(secret)}", "error_description": echoed}
    )

    with pytest.raises(CredentialRefreshError) as caught:
        endpoint.read(401, httpx.Headers(), body.encode(), 0.0, request.redact)

    error = caught.value
    shown = " ".join([str(error), repr(error), str(error.reason), repr(error.args)])
    pair = b64encode(f"{quote_plus('client id')}:{quote_plus(secret)}".encode()).decode()
    for form in (
        secret,
        quote_plus(secret),
        quote(secret, safe=""),
        refresh_token,
        quote_plus(refresh_token),
        pair.rstrip("="),
    ):
        assert form not in shown
    assert "**********" in str(error.reason)
