"""The settings of an OAuth2 grant: its options, where it keeps tokens (the state backend),
and the policies its token requests run under."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

import msgspec

from .._adapters import AdapterSettings
from .._clock import Clock
from .._resilience.config import ResilienceConfig
from .._state import AsyncStateBackend, StateBackend
from .._state_memory import AsyncMemoryStateBackend, MemoryStateBackend
from ..http._transport import HttpTransport

__all__ = [
    "TOKEN_OPERATION",
    "OAuth2Keywords",
    "OAuth2Options",
    "OAuth2Wiring",
    "wiring_for_adapter",
    "backend_twins",
    "token_resilience",
]

#: The operation name token requests carry in guard keys and errors.
TOKEN_OPERATION = "oauth_token"


class OAuth2Options(TypedDict, total=False):
    """The keyword options both grants take, besides their credentials and wiring."""

    #: Whose token it is, when one client holds tokens for several users or tenants (an
    #: account id, say): part of the cache key, so their tokens never mix.
    subject: str
    #: The scopes to ask for (a space-separated string or a list).
    scope: str | Sequence[str] | None
    #: Extra form fields of the token request (``audience``, ``resource``...).
    params: Mapping[str, str] | None
    #: ``basic`` (HTTP Basic, the default) or ``body`` (in the form).
    client_auth: Literal["basic", "body"]
    #: The asynchronous token requests' transport (``auto``, ``httpx`` or ``aiohttp``; see
    #: `nexus_connector_core.http.async_transport`).
    transport: HttpTransport
    #: Refresh this many seconds before the token expires (default 30).
    margin: float
    #: Seconds the refresh lock lasts if its owner dies (default: the token call's
    #: deadline plus 5 s).
    lock_ttl: float | None
    #: (first, longest) seconds of the cool-down after failed refreshes (default (1, 60)).
    cooldown: tuple[float, float]


class OAuth2Wiring(TypedDict, total=False):
    """Where a grant keeps its tokens and how it calls the endpoint; ``for_adapter`` sets
    them from the adapter's `AdapterSettings`."""

    #: The state backend (default: a `MemoryStateBackend` of the grant's own).
    state: StateBackend | AsyncStateBackend | None
    #: The clock that dates tokens and cool-downs and that waits.
    clock: Clock
    #: The policies token requests run under (default: `ResilienceConfig()`).
    resilience: ResilienceConfig | None
    #: The names token requests carry in guard keys and errors.
    connector: str
    vendor: str | None
    category: str
    #: Whether a token request goes on without its guard when the backend is down.
    fail_open: bool


class OAuth2Keywords(OAuth2Options, OAuth2Wiring, total=False):
    """Every keyword argument of the grants' constructors."""


def wiring_for_adapter(settings: AdapterSettings) -> OAuth2Wiring:
    """The wiring of a grant for an adapter built with `settings`."""
    return {
        "state": settings.state,
        "clock": settings.clock,
        "resilience": token_resilience(settings.resilience),
        "connector": settings.connector,
        "vendor": settings.vendor,
        "category": settings.category,
        "fail_open": settings.fail_open,
    }


def token_resilience(resilience: Mapping[str, ResilienceConfig]) -> ResilienceConfig:
    """The policies for token requests, from an adapter's policies by operation name.

    A dedicated ``oauth_token`` entry wins; else the first operation's (an operation
    without overrides has the connector's own table). Retries, breaker, timeout and
    deadline are kept; the rate limit, bulkhead and cache are dropped: the limit budgets
    the vendor's API, not its token endpoint (which the refresh lock calls once per token
    for all workers, and whose local rejection would start a cool-down), and a token
    request runs inside a call that already holds a bulkhead slot.

    >>> token_resilience({}).retry.max_attempts
    3
    """
    config = resilience.get(TOKEN_OPERATION) or next(iter(resilience.values()), None)
    if config is None:
        return ResilienceConfig()
    return msgspec.structs.replace(config, rate_limit=None, bulkhead=None, cache=None)


def backend_twins(state: Any) -> tuple[StateBackend | None, AsyncStateBackend | None]:
    """The sync and the async backend over `state`: memory has both, others have one."""
    if isinstance(state, MemoryStateBackend):
        return state, AsyncMemoryStateBackend(shared=state)
    if isinstance(state, AsyncMemoryStateBackend):
        return state.sync, state
    if inspect.iscoroutinefunction(getattr(state, "token_get", None)):
        return None, state
    return state, None
