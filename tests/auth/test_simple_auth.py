"""API key, bearer and HTTP Basic auth: what reaches the vendor, and what a repr shows.

Requests go over real sockets to a `FaultServer`; tests taking `get` run once with
`httpx.Client` and once with `httpx.AsyncClient`.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Iterator
from typing import Any

import pytest

from nexus_connector_core import ConfigError, Secret
from nexus_connector_core.auth import ApiKeyAuth, BasicAuth, BearerAuth
from nexus_connector_core.testing import FaultServer

KEY = "sk_live_51HxYz"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


async def test_api_key_goes_in_the_x_api_key_header_by_default(
    server: FaultServer, get: Any
) -> None:
    await get(ApiKeyAuth(KEY), server.url + "/v1/items")

    [request] = server.requests
    assert request.headers["x-api-key"] == KEY


async def test_api_key_header_and_prefix_are_configurable(server: FaultServer, get: Any) -> None:
    await get(ApiKeyAuth(Secret(KEY), header="Authorization", prefix="Token "), server.url)

    [request] = server.requests
    assert request.headers["authorization"] == f"Token {KEY}"


async def test_api_key_may_go_in_the_query_next_to_other_parameters(
    server: FaultServer, get: Any
) -> None:
    await get(ApiKeyAuth(KEY, query="api_key"), server.url + "/v1/items?page=2")

    [request] = server.requests
    assert request.path == f"/v1/items?page=2&api_key={KEY}"
    assert "x-api-key" not in request.headers


def test_api_key_goes_in_a_header_or_the_query_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        ApiKeyAuth(KEY, header="X-Key", query="key")


async def test_bearer_token_goes_in_the_authorization_header(server: FaultServer, get: Any) -> None:
    await get(BearerAuth(KEY), server.url)

    [request] = server.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "auth",
    [
        ApiKeyAuth,
        lambda key: ApiKeyAuth(key, header="Authorization", prefix="Token "),
        BearerAuth,
    ],
    ids=["api-key", "api-key-prefixed", "bearer"],
)
async def test_a_secret_with_a_trailing_newline_is_a_config_error_that_never_shows_it(
    server: FaultServer, get: Any, auth: Any
) -> None:
    # As read from a file written by `echo`, or a Kubernetes secret made from one.
    with pytest.raises(ConfigError, match="line break") as caught:
        await get(auth(Secret(KEY + "\n")), server.url)

    assert KEY not in str(caught.value)
    assert caught.value.__cause__ is None
    assert server.requests == []


async def test_basic_auth_sends_base64_of_username_and_password(
    server: FaultServer, get: Any
) -> None:
    await get(BasicAuth("ACc0ffee", Secret("p@ss:word")), server.url)

    [request] = server.requests
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert b64decode(encoded).decode() == "ACc0ffee:p@ss:word"


def test_no_repr_or_str_shows_a_secret() -> None:
    auths = [
        ApiKeyAuth(KEY),
        ApiKeyAuth(KEY, query="api_key"),
        BearerAuth(Secret(KEY)),
        BasicAuth(KEY, KEY),
    ]

    for auth in auths:
        assert KEY not in repr(auth)
        assert KEY not in str(auth)
    assert repr(auths[1]) == "ApiKeyAuth(query='api_key', key=Secret('**********'))"


def test_a_secret_must_be_a_secret_or_a_str() -> None:
    with pytest.raises(TypeError, match="token must be a Secret or a str"):
        BearerAuth(b"bytes")  # type: ignore[arg-type]
