"""Replay protection over time: how long ids are remembered, the clock-skew margin, and the
lease `receive` holds (and its heartbeat extends) while a handler runs.

Time is a `FakeClock` the state backend decides by; the tests never sleep. A heartbeat beats
on real time (every millisecond here), and a test that needs one waits for the beat that saw
the fake time it set, so it does not depend on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import threading
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import pytest

from nexus_connector_core import PluginRegistry, StateBackendUnavailableError
from nexus_connector_core.state import AsyncMemoryStateBackend, MemoryStateBackend
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.webhooks import (
    DEFAULT_LEASE,
    DEFAULT_REPLAY_WINDOW,
    WebhookVerificationError,
    areceive,
    averify,
    receive,
    verify,
)

AT = 1_767_225_600  # the FakeClock's wall time at the start, and the signer's
BODY = b'{"action": "opened", "number": 7}'
DAY = 86_400
TOLERANCE = 300
#: Seconds of real time: no heartbeat this far apart is due while a test runs.
NEVER = 3_600.0
#: How long a test waits for a heartbeat that is due every millisecond (a failure, not a wait).
BEAT_TIMEOUT = 10.0


class LeaseWatcher(MemoryStateBackend):
    """A memory backend that notes each lease extension with the (fake) time it saw; the
    first extensions may be made to answer otherwise (False, or raise)."""

    def __init__(self, clock: FakeClock, *answers: bool | Exception) -> None:
        super().__init__(clock=clock)
        self.clock = clock
        self.extensions: list[tuple[float, bool]] = []
        self._answers = list(answers)
        self._noted = threading.Condition()

    def idempotency_extend(self, key: str, owner: str, *, ttl: float) -> bool:
        seen = self.clock.monotonic()
        answer: bool | Exception = (
            self._answers.pop(0)
            if self._answers
            else super().idempotency_extend(key, owner, ttl=ttl)
        )
        with self._noted:
            self.extensions.append((seen, not isinstance(answer, Exception) and answer))
            self._noted.notify_all()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def wait_for_extensions(self, count: int = 1, *, seen_at: float | None = None) -> bool:
        """Wait until `count` extensions were made (at `seen_at` or later on the clock)."""
        at = -math.inf if seen_at is None else seen_at

        def made() -> bool:
            return sum(1 for seen, _ in self.extensions if seen >= at) >= count

        with self._noted:
            return self._noted.wait_for(made, BEAT_TIMEOUT)


def _github(delivery_id: str = "72d3162e") -> dict[str, Any]:
    secret = "gh-webhook-secret"
    digest = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery_id}
    return {"headers": headers, "body": BODY, "secret": secret}


def _lease_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("nexus-webhook-lease-")]


def _lease_tasks() -> list[asyncio.Task[Any]]:
    return [
        t
        for t in asyncio.all_tasks()
        if t.get_name().startswith("nexus-webhook-lease-") and not t.done()
    ]


# -- how long a delivery is remembered -----------------------------------------------------


def _acme(options: dict[str, str]) -> Callable[[float], dict[str, Any]]:
    """The generic `hmac` scheme without a signed time: with an id header, or without."""
    secret = "acme-secret"
    digest = hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    headers = {"X-Acme-Signature": digest, "X-Acme-Id": "evt_1"}
    common = {"headers": headers, "body": BODY, "secret": secret, "options": options}
    return lambda now: {"verifier": "hmac", **common}


def _scheme(key: str, signer: Any) -> Callable[[float], dict[str, Any]]:
    """The same delivery as its sender would send it again at `now` (re-signed when the
    scheme signs a time, as Standard Webhooks senders do on each retry)."""
    if key == "standard-webhooks":
        secret = signer.secrets[key]
        return lambda now: {
            "verifier": key,
            "headers": signer.standard(BODY, secret, timestamp=int(now)),
            "body": BODY,
            "secret": secret,
        }
    if key.startswith("hmac"):
        options = {"header": "X-Acme-Signature"}
        if key == "hmac-with-id":
            options["id_header"] = "X-Acme-Id"
        return _acme(options)
    return lambda now: {
        "verifier": key,
        "headers": signer.sign(key, BODY),
        "body": BODY,
        "secret": signer.secrets[key],
    }


@pytest.mark.parametrize(
    "key", ["github", "shopify", "hmac-with-id", "hmac-without-id", "standard-webhooks"]
)
def test_a_delivery_id_is_remembered_for_the_replay_window_not_twice_the_tolerance(
    key: str, webhook_registry: PluginRegistry, signer: Any, clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=clock)
    again = _scheme(key, signer)

    def deliver() -> Any:
        now = clock.time()
        return verify(**again(now), now=now, state=state, registry=webhook_registry)

    deliver()
    for later in (601, DAY, DEFAULT_REPLAY_WINDOW - 601 - DAY - 1):
        clock.advance(later)
        with pytest.raises(WebhookVerificationError, match="replayed"):
            deliver()
    clock.advance(2)  # the window has passed: a redelivery this late is let in
    deliver()


def test_the_replay_window_is_configurable(
    webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=clock)
    delivery = _github() | {"state": state, "registry": webhook_registry}
    week = 7 * DAY  # GitHub Enterprise Server redelivers the last 7 days
    verify("github", replay_window=week, **delivery)
    clock.advance(week - 1)
    with pytest.raises(WebhookVerificationError, match="replayed"):
        verify("github", replay_window=week, **delivery)
    clock.advance(2)
    assert verify("github", replay_window=week, **delivery).id == "72d3162e"


async def test_averify_remembers_ids_for_the_replay_window_too(
    webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    state = AsyncMemoryStateBackend(clock=clock)
    delivery = _github() | {"state": state, "registry": webhook_registry}
    await averify("github", replay_window=3_600, **delivery)
    clock.advance(3_599)
    with pytest.raises(WebhookVerificationError, match="replayed"):
        await averify("github", replay_window=3_600, **delivery)
    clock.advance(2)
    assert (await averify("github", replay_window=3_600, **delivery)).verifier == "github"


def test_a_delivery_signed_at_the_edge_of_the_future_is_no_replay_at_twice_the_tolerance(
    webhook_registry: PluginRegistry, signer: Any, clock: FakeClock
) -> None:
    # Signed 300 s ahead: acceptable from now until 600 s from now, both ends included.
    state = MemoryStateBackend(clock=clock)
    secret = signer.secrets["slack"]
    headers = signer.slack(BODY, secret, timestamp=AT + TOLERANCE)
    delivery = {"headers": headers, "body": BODY, "secret": secret, "state": state}
    verify("slack", now=AT, registry=webhook_registry, **delivery)
    clock.advance(2 * TOLERANCE)
    with pytest.raises(WebhookVerificationError, match="replayed"):
        verify("slack", now=AT + 2 * TOLERANCE, registry=webhook_registry, **delivery)


def test_a_host_whose_clock_is_behind_still_sees_a_replay(
    webhook_registry: PluginRegistry, signer: Any, clock: FakeClock
) -> None:
    # One host takes the delivery; 659 s later a host whose clock is 59 s behind still
    # finds it within the tolerance, so the claim must outlive two tolerances.
    state = MemoryStateBackend(clock=clock)
    secret = signer.secrets["slack"]
    headers = signer.slack(BODY, secret, timestamp=AT + TOLERANCE)
    delivery = {"headers": headers, "body": BODY, "secret": secret, "state": state}
    verify("slack", now=AT, registry=webhook_registry, **delivery)
    clock.advance(2 * TOLERANCE + 59)
    with pytest.raises(WebhookVerificationError, match="replayed"):
        verify("slack", now=AT + 2 * TOLERANCE, registry=webhook_registry, **delivery)


@pytest.mark.parametrize("window", [0, -1.0, math.nan, math.inf, 367 * DAY])
def test_a_replay_window_that_is_not_a_sensible_number_of_seconds_is_refused(
    window: float, webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=clock)
    delivery = _github() | {"state": state, "registry": webhook_registry}
    with pytest.raises(ValueError, match="replay_window"):
        verify("github", replay_window=window, **delivery)
    assert verify("github", **delivery).id == "72d3162e"  # nothing was claimed


# -- receive: the lease and its heartbeat --------------------------------------------------


def test_a_duplicate_is_refused_while_a_handler_runs_past_twice_the_tolerance(
    webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    state = LeaseWatcher(clock)
    delivery = _github() | {"registry": webhook_registry}
    with receive("github", state=state, heartbeat=0.001, **delivery):
        for _ in range(2 * TOLERANCE // 50 + 2):  # 11 minutes of handling, 50 s at a time
            clock.advance(50)
            assert state.wait_for_extensions(seen_at=clock.monotonic()), "no heartbeat"
            with pytest.raises(WebhookVerificationError, match="replayed"):
                verify("github", state=state, **delivery)
    with pytest.raises(WebhookVerificationError, match="replayed"):
        verify("github", state=state, **delivery)


async def test_a_duplicate_is_refused_while_an_async_handler_runs_past_twice_the_tolerance(
    webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    watcher = LeaseWatcher(clock)
    state = AsyncMemoryStateBackend(shared=watcher)
    delivery = _github() | {"registry": webhook_registry}
    async with areceive("github", state=state, heartbeat=0.001, **delivery):
        for _ in range(2 * TOLERANCE // 50 + 2):
            clock.advance(50)
            beat = await asyncio.to_thread(watcher.wait_for_extensions, seen_at=clock.monotonic())
            assert beat, "no heartbeat"
            with pytest.raises(WebhookVerificationError, match="replayed"):
                await averify("github", state=state, **delivery)
    with pytest.raises(WebhookVerificationError, match="replayed"):
        await averify("github", state=state, **delivery)


def test_an_id_held_by_a_handler_that_stopped_beating_is_free_after_one_lease(
    webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    # A process that died mid-handler stops beating (here: no beat is due while the test
    # runs): the sender's retry is let in once the lease has run out, not after the window.
    state = MemoryStateBackend(clock=clock)
    delivery = _github() | {"registry": webhook_registry}
    with receive("github", state=state, heartbeat=DEFAULT_LEASE - 1, **delivery):
        clock.advance(DEFAULT_LEASE - 1)
        with pytest.raises(WebhookVerificationError, match="replayed"):
            verify("github", state=state, **delivery)
        clock.advance(2)
        assert verify("github", state=state, **delivery).id == "72d3162e"


@pytest.mark.parametrize("fails", [False, True])
def test_the_heartbeat_ends_with_the_handler(
    fails: bool, webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    state = LeaseWatcher(clock)
    delivery = _github() | {"registry": webhook_registry}
    with pytest.raises(RuntimeError) if fails else nullcontext():
        with receive("github", state=state, heartbeat=0.001, **delivery):
            assert _lease_threads()
            assert state.wait_for_extensions()
            if fails:
                raise RuntimeError("handler failed")
    assert _lease_threads() == []
    made = len(state.extensions)
    # Given back (the retry is let in) or remembered, and never extended again.
    if fails:
        assert verify("github", state=state, **delivery).id == "72d3162e"
    else:
        with pytest.raises(WebhookVerificationError, match="replayed"):
            verify("github", state=state, **delivery)
    assert len(state.extensions) == made


@pytest.mark.parametrize("fails", [False, True])
async def test_the_async_heartbeat_ends_with_the_handler(
    fails: bool, webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    watcher = LeaseWatcher(clock)
    state = AsyncMemoryStateBackend(shared=watcher)
    delivery = _github() | {"registry": webhook_registry}
    with pytest.raises(RuntimeError) if fails else nullcontext():
        async with areceive("github", state=state, heartbeat=0.001, **delivery):
            assert _lease_tasks()
            assert await asyncio.to_thread(watcher.wait_for_extensions)
            if fails:
                raise RuntimeError("handler failed")
    assert _lease_tasks() == []
    if fails:
        assert (await averify("github", state=state, **delivery)).id == "72d3162e"


async def test_a_cancelled_async_handler_gives_the_id_back_and_stops_its_heartbeat(
    webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    state = AsyncMemoryStateBackend(clock=clock)
    delivery = _github() | {"registry": webhook_registry}
    entered = asyncio.Event()

    async def handle() -> None:
        async with areceive("github", state=state, heartbeat=NEVER / 2, lease=NEVER, **delivery):
            entered.set()
            await asyncio.Event().wait()  # a handler that never ends on its own

    task = asyncio.create_task(handle())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _lease_tasks() == []
    assert (await averify("github", state=state, **delivery)).id == "72d3162e"


def test_a_lost_lease_is_logged_and_not_extended_again(
    webhook_registry: PluginRegistry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nexus_connector.webhooks")
    state = LeaseWatcher(clock, False)
    with receive("github", state=state, heartbeat=0.001, registry=webhook_registry, **_github()):
        assert state.wait_for_extensions()
    assert len(state.extensions) == 1
    assert "a duplicate may be handled beside it" in caplog.text


def test_an_unreachable_backend_is_logged_and_the_heartbeat_goes_on(
    webhook_registry: PluginRegistry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nexus_connector.webhooks")
    outage = StateBackendUnavailableError("Redis did not answer", backend="redis")
    state = LeaseWatcher(clock, outage)
    with receive("github", state=state, heartbeat=0.001, registry=webhook_registry, **_github()):
        assert state.wait_for_extensions(2)
    assert state.extensions[1][1] is True
    assert "could not extend the lease: Redis did not answer" in caplog.text


@pytest.mark.parametrize(
    "settings",
    [
        {"lease": 0},
        {"lease": math.nan},
        {"lease": math.inf},
        {"lease": 10, "heartbeat": 10},
        {"lease": 10, "heartbeat": 0},
        {"heartbeat": math.nan},
    ],
)
def test_a_lease_or_heartbeat_out_of_range_is_refused_before_the_id_is_taken(
    settings: dict[str, float], webhook_registry: PluginRegistry, clock: FakeClock
) -> None:
    state = MemoryStateBackend(clock=clock)
    delivery = _github() | {"registry": webhook_registry}
    with pytest.raises(ValueError, match="lease|heartbeat"):
        with receive("github", state=state, **settings, **delivery):  # type: ignore[arg-type]
            pass
    assert verify("github", state=state, **delivery).id == "72d3162e"
