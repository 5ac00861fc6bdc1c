"""A token endpoint's ``expires_in`` is clamped, never trusted: ``inf``, ``nan``, negative
or 1e300 seconds become a lifetime between 0 and a day (refreshed at least daily)."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

from nexus_connector_core.auth._refresh import DEFAULT_LIFETIME, MAX_LIFETIME, token_lifetime
from nexus_connector_core.testing import FakeClock

DAY = 86_400.0


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (None, DEFAULT_LIFETIME),
        (float("nan"), DEFAULT_LIFETIME),
        (float("inf"), MAX_LIFETIME),
        (1e300, MAX_LIFETIME),
        (-5.0, 0.0),
        (float("-inf"), 0.0),
        (5e-324, 5e-324),
        (90.0, 90.0),
    ],
)
def test_expires_in_becomes_a_bounded_lifetime(expires_in: float | None, lifetime: float) -> None:
    assert token_lifetime(expires_in) == lifetime


@pytest.mark.parametrize("expires_in", ["inf", "Infinity", 1e300])
async def test_a_token_said_to_live_forever_is_used_then_refreshed_within_a_day(
    oauth_vendor: Any, make_auth: Any, clock: FakeClock, get: Any, expires_in: Any
) -> None:
    oauth_vendor.expires_in = expires_in
    auth = make_auth()
    assert (await get(auth, oauth_vendor.api_url)).status_code == 200
    clock.advance(DAY / 2)
    assert (await get(auth, oauth_vendor.api_url)).status_code == 200
    assert len(oauth_vendor.token_requests) == 1

    clock.advance(DAY)
    assert (await get(auth, oauth_vendor.api_url)).status_code == 200
    assert len(oauth_vendor.token_requests) == 2


async def test_a_token_with_a_nan_lifetime_counts_as_an_hour(
    oauth_vendor: Any, make_auth: Any, clock: FakeClock, get: Any
) -> None:
    oauth_vendor.expires_in = "nan"
    auth = make_auth(margin=30.0)
    await get(auth, oauth_vendor.api_url)
    clock.advance(DEFAULT_LIFETIME - 60)
    await get(auth, oauth_vendor.api_url)
    assert len(oauth_vendor.token_requests) == 1
    clock.advance(60)
    await get(auth, oauth_vendor.api_url)
    assert len(oauth_vendor.token_requests) == 2


def test_the_docstring_example_runs() -> None:
    from nexus_connector_core.auth import _refresh

    assert doctest.testmod(_refresh).failed == 0
