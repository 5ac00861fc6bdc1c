"""The memory state backend: the conformance suite on a fake clock and on the real one, and
what only the memory backend promises (bounded memory, a non-blocking async face)."""

from __future__ import annotations

import pytest

from nexus_connector_core import SYSTEM_CLOCK
from nexus_connector_core.state import (
    AsyncMemoryStateBackend,
    BackendSettings,
    GuardPlan,
    LimitPolicy,
    MemoryStateBackend,
)
from nexus_connector_core.testing import FakeClock, StateBackendConformance
from nexus_connector_core.testing._state_conformance import BackendHarness

#: Writes between two sweeps of expired state (the backend's `_SWEEP_MASK` + 1).
SWEEP_EVERY = 4096


class TestMemoryStateBackend(StateBackendConformance):
    @pytest.fixture
    def harness(self) -> BackendHarness:
        clock = FakeClock()
        backend = MemoryStateBackend(clock=clock)
        return BackendHarness(
            sync=backend, async_=AsyncMemoryStateBackend(shared=backend), advance=clock.advance
        )


@pytest.mark.slow
class TestMemoryStateBackendOnRealClock(TestMemoryStateBackend):
    """The suite as a server-clock backend (Redis) runs it: real waits, tolerances."""

    @pytest.fixture
    def harness(self) -> BackendHarness:
        backend = MemoryStateBackend(clock=SYSTEM_CLOCK)
        return BackendHarness.on_server_clock(backend, AsyncMemoryStateBackend(shared=backend))


# -- memory only -----------------------------------------------------------------------------


@pytest.fixture
def backend(clock: FakeClock) -> MemoryStateBackend:
    return MemoryStateBackend(clock=clock)


def test_sweep_drops_expired_idempotency_claims(
    backend: MemoryStateBackend, clock: FakeClock
) -> None:
    for n in range(SWEEP_EVERY + 100):
        backend.idempotency_begin(f"old-{n}", b"request", ttl=1.0)
    clock.advance(2.0)
    for n in range(SWEEP_EVERY):
        backend.idempotency_begin(f"new-{n}", b"request", ttl=1.0)
    assert not [key for key in backend._claims if key.startswith("old-")]


def test_sweep_drops_idle_limiter_keys(backend: MemoryStateBackend, clock: FakeClock) -> None:
    policy = LimitPolicy(rate=1, per=1.0)
    for n in range(SWEEP_EVERY + 100):
        assert backend.admit(GuardPlan(limit_key=f"tenant-{n}", limit=policy)).allowed
    clock.advance(2.0)  # every bucket is full again: nothing worth keeping
    for n in range(SWEEP_EVERY):
        backend.admit(GuardPlan(limit_key=f"user-{n}", limit=policy))
    assert not [key for key in backend._tats if key.startswith("tenant-")]


def test_sweep_keeps_live_state(backend: MemoryStateBackend, clock: FakeClock) -> None:
    backend.idempotency_begin("live", b"request", ttl=3600.0)
    limited = GuardPlan(limit_key="busy", limit=LimitPolicy(rate=1, per=3600.0))
    assert backend.admit(limited).allowed
    for n in range(SWEEP_EVERY):
        backend.idempotency_begin(f"short-{n}", b"request", ttl=1.0)
    clock.advance(2.0)
    for n in range(SWEEP_EVERY):
        backend.idempotency_begin(f"again-{n}", b"request", ttl=1.0)
    assert backend.idempotency_begin("live", b"request", ttl=3600.0).status == "in_flight"
    assert backend.admit(limited).reason == "rate_limited"


def test_async_face_is_nonblocking_over_the_shared_backend(backend: MemoryStateBackend) -> None:
    twin = AsyncMemoryStateBackend(shared=backend)
    assert twin.sync is backend
    assert twin.nonblocking is backend


def test_async_face_builds_its_own_backend_on_the_given_clock(clock: FakeClock) -> None:
    twin = AsyncMemoryStateBackend(clock=clock)
    claim = twin.nonblocking.idempotency_begin("k", b"request", ttl=1.0)
    clock.advance(2.0)
    assert twin.nonblocking.idempotency_begin("k", b"request", ttl=1.0).owner != claim.owner


def test_backend_takes_its_clock_from_settings(clock: FakeClock) -> None:
    backend = MemoryStateBackend(BackendSettings(clock=clock))
    owner = backend.token_lock("k", ttl=1.0)
    clock.advance(2.0)
    assert backend.token_lock("k", ttl=1.0) not in (None, owner)
