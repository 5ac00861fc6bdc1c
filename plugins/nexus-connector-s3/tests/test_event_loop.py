"""The async adapter leaves its event loop free: while S3 is slow to answer, and while the AWS
credential chain looks credentials up or refreshes them (a container-credentials endpoint on
127.0.0.1 that is slow to answer).

Each check is a hand-over, not a count of ticks: the server holds its answer back until a
task of the test's event loop lets it go, which that task can do only while the loop runs
other tasks. Were the loop blocked, the answer would go out when its hold runs out, and the
test would see it was not let go.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nexus_connector_s3._adapter import HASHED_OFF_LOOP
from nexus_connector_s3._requests import S3Requests
from nexus_connector_s3.testing import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Double

from nexus_connector_core.testing import Fault, FaultServer, ReceivedRequest

from .conftest import MakeManager

Responder = Callable[[ReceivedRequest], Fault]


class HeldAnswers:
    """A `FaultServer` responder: `answer`'s answers, each held back on the server's thread
    (for requests `when` picks, once `hold` is called) until `let_go`, at most `hold_for`
    seconds. `released` says of each held answer whether it was let go (True) or waited its
    hold out (False)."""

    def __init__(
        self,
        answer: Responder,
        *,
        when: Callable[[ReceivedRequest], bool] = lambda request: True,
        hold_for: float = 5.0,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._answer, self._when, self._hold_for = answer, when, hold_for
        self._asked = asyncio.Event()
        self._go = threading.Event()
        self._go.set()  # nothing held until hold()
        self.released: list[bool] = []

    def hold(self) -> None:
        """From now on, hold the answers back until `let_go`."""
        self._asked.clear()
        self._go.clear()

    async def let_go(self) -> None:
        """Once a held request has arrived, let its answer, and every later one, go."""
        await self._asked.wait()
        self._go.set()

    def __call__(self, request: ReceivedRequest) -> Fault:
        if self._when(request) and not self._go.is_set():
            self._loop.call_soon_threadsafe(self._asked.set)
            self.released.append(self._go.wait(self._hold_for))
        return self._answer(request)


async def call(manager: Any, operation: str, *args: Any) -> Any:
    return await getattr(manager.connector("files"), operation)(*args)


async def while_held(held: HeldAnswers, work: Any) -> Any:
    """`work` awaited while another task lets `held`'s answers go."""
    helper = asyncio.create_task(held.let_go())
    try:
        return await work
    finally:
        await asyncio.wait_for(helper, 10.0)


async def test_the_async_adapter_leaves_the_event_loop_free_while_s3_is_slow(
    make_manager: MakeManager, double: S3Double, s3_server: FaultServer
) -> None:
    manager = make_manager(async_=True)
    await call(manager, "put", "k", b"v")
    held = HeldAnswers(double, when=lambda request: request.method == "GET")
    s3_server.default = held
    held.hold()

    assert await while_held(held, call(manager, "get", "k")) == b"v"
    assert held.released == [True]  # let go by another task while the GET waited


# -- credentials from the AWS chain ------------------------------------------------------------

#: botocore gives a container-credentials endpoint 2 s: a hold must end before.
CREDENTIALS_HOLD = 1.5


def credentials_answer(expires_in: timedelta) -> Responder:
    """A container-credentials endpoint's answer: the double's key, expiring in `expires_in`."""

    def answer(request: ReceivedRequest) -> Fault:
        expiration = datetime.now(UTC) + expires_in
        return Fault.respond(
            200,
            {
                "AccessKeyId": ACCESS_KEY_ID,
                "SecretAccessKey": SECRET_ACCESS_KEY,
                "Token": "a-session-token",
                "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )

    return answer


@pytest.fixture
def from_the_chain(connector: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make the connector take its credentials from the AWS chain, and the chain from a
    container-credentials endpoint on 127.0.0.1 (botocore allows a loopback
    AWS_CONTAINER_CREDENTIALS_FULL_URI): yields a function of the credentials' lifetime
    to the endpoint's `HeldAnswers`."""
    del connector["credentials"]
    servers: list[FaultServer] = []

    def endpoint(expires_in: timedelta) -> HeldAnswers:
        held = HeldAnswers(credentials_answer(expires_in), hold_for=CREDENTIALS_HOLD)
        servers.append(FaultServer(default=held))
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{servers[-1].url}/creds")
        return held

    yield endpoint
    for server in servers:
        server.close()


async def test_credentials_are_looked_up_off_the_event_loop(
    make_manager: MakeManager, from_the_chain: Any
) -> None:
    endpoint = from_the_chain(timedelta(hours=6))
    endpoint.hold()
    manager = make_manager(async_=True)

    await while_held(endpoint, call(manager, "put", "k", b"from the chain"))

    assert endpoint.released == [True]  # let go by another task during the lookup
    assert await call(manager, "get", "k") == b"from the chain"
    assert len(endpoint.released) == 1  # looked up once, not per request


async def test_credentials_are_refreshed_off_the_event_loop(
    make_manager: MakeManager, from_the_chain: Any
) -> None:
    # Five minutes left: botocore refreshes before signing (within 10 minutes of expiry).
    endpoint = from_the_chain(timedelta(minutes=5))
    manager = make_manager(async_=True)
    await call(manager, "put", "k", b"v")  # looked up, answered at once
    looked_up = len(endpoint.released)
    endpoint.hold()

    assert await while_held(endpoint, call(manager, "get", "k")) == b"v"

    refreshes = endpoint.released[looked_up:]
    assert refreshes
    assert all(refreshes)  # each let go by another task while the signing waited


async def test_a_presigned_url_from_the_chain_is_signed_off_the_event_loop(
    make_manager: MakeManager, from_the_chain: Any
) -> None:
    endpoint = from_the_chain(timedelta(hours=6))
    endpoint.hold()
    manager = make_manager(async_=True)

    url = await while_held(endpoint, call(manager, "signed_url", "k", 60))

    assert f"X-Amz-Credential={ACCESS_KEY_ID}" in url
    assert endpoint.released == [True]


# -- hashing a payload -------------------------------------------------------------------------


async def test_a_body_is_hashed_for_its_signature_off_the_event_loop(
    make_manager: MakeManager, s3_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With fixed keys nothing waits on the network to sign, but botocore takes the SHA-256
    # of a body into the signature, over HTTPS too (no checksum header is sent): a 5 MiB
    # part is milliseconds of CPU, which must not be spent on the loop.
    signed_on: dict[str, bool] = {}
    sign = S3Requests.sign
    loop = threading.get_ident()

    def recording(self: S3Requests, wanted: Any) -> Any:
        signed_on[wanted.operation] = threading.get_ident() == loop
        return sign(self, wanted)

    monkeypatch.setattr(S3Requests, "sign", recording)
    manager = make_manager(async_=True)

    await call(manager, "put", "big.bin", b"x" * HASHED_OFF_LOOP)
    assert await call(manager, "exists", "big.bin")

    assert signed_on == {"PutObject": False, "HeadObject": True}
    [put] = [r for r in s3_server.requests if r.method == "PUT"]
    assert put.headers["x-amz-content-sha256"] != "UNSIGNED-PAYLOAD"  # the body was hashed
