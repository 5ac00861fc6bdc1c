"""HMAC request signing: each test states the canonical string a scheme defines and checks
the signature the vendor receives against one computed here, independently.

The timestamp comes from a `FakeClock` (2026-01-01T00:00:00Z), so signatures are exact.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import b64encode
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from nexus_connector_core.auth import HmacAuth
from nexus_connector_core.testing import FakeClock, FaultServer

SECRET = "whsec_7e1b2c3d"
NOW = "1767225600"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def expected(canonical: bytes, *, digest: str = "sha256") -> str:
    return hmac.new(SECRET.encode(), canonical, digest).hexdigest()


def sign(auth: HmacAuth, request: httpx.Request) -> httpx.Request:
    """The request as the auth flow hands it to the client."""
    return next(auth.auth_flow(request))


async def test_default_scheme_signs_method_path_timestamp_and_body_digest(
    server: FaultServer, clock: FakeClock, get: Any
) -> None:
    await get(HmacAuth(SECRET, clock=clock), server.url + "/v1/orders?limit=5")

    [request] = server.requests
    canonical = f"GET\n/v1/orders\n{NOW}\n{hashlib.sha256(b'').hexdigest()}".encode()
    assert request.headers["x-timestamp"] == NOW
    assert request.headers["x-signature"] == expected(canonical)


@pytest.fixture(params=["sync", "async"])
async def post_streamed(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """``await post_streamed(auth, url, chunks)``: a POST whose body is streamed in chunks,
    through `httpx.Client` (an iterator) or `httpx.AsyncClient` (an async iterator)."""
    if request.param == "sync":
        with httpx.Client() as client:

            async def sync_post(auth: httpx.Auth, url: str, chunks: list[bytes]) -> Any:
                return client.post(url, content=iter(chunks), auth=auth)

            yield sync_post
    else:
        async with httpx.AsyncClient() as aclient:

            async def async_post(auth: httpx.Auth, url: str, chunks: list[bytes]) -> Any:
                async def stream() -> AsyncIterator[bytes]:
                    for chunk in chunks:
                        yield chunk

                return await aclient.post(url, content=stream(), auth=auth)

            yield async_post


async def test_the_body_signed_is_the_body_sent_even_when_streamed(
    server: FaultServer, clock: FakeClock, post_streamed: Any
) -> None:
    auth = HmacAuth(SECRET, clock=clock)

    await post_streamed(auth, server.url + "/v1/charges", [b'{"amount": ', b"1999}"])

    [request] = server.requests
    assert request.body == b'{"amount": 1999}'
    canonical = f"POST\n/v1/charges\n{NOW}\n{hashlib.sha256(request.body).hexdigest()}"
    assert request.headers["x-signature"] == expected(canonical.encode())


def test_template_may_sign_query_headers_and_raw_body(clock: FakeClock) -> None:
    auth = HmacAuth(
        SECRET,
        template="{method} {host}{path}?{sorted_query}\n{headers}\n{header[x-request-id]}\n{body}",
        signed_headers=["Content-Type", "X-Timestamp"],
        clock=clock,
    )
    request = httpx.Request(
        "PUT",
        "https://api.example/v2/items/7?b=2&a=x%20y",
        content="prix: 5 €".encode(),
        headers={"Content-Type": "text/plain", "X-Request-Id": "req-1"},
    )

    signed = sign(auth, request)

    canonical = (
        "PUT api.example/v2/items/7?a=x%20y&b=2\n"
        f"content-type:text/plain\nx-timestamp:{NOW}\nreq-1\nprix: 5 €"
    ).encode()
    assert auth.canonical_string(request, timestamp=NOW) == canonical
    assert signed.headers["x-signature"] == expected(canonical)


def test_a_body_that_is_not_utf8_is_signed_byte_for_byte(clock: FakeClock) -> None:
    auth = HmacAuth(SECRET, template="{timestamp}.{body}", clock=clock)
    body = b"\xff\xfe binary"

    signed = sign(auth, httpx.Request("POST", "https://api.example/upload", content=body))

    assert signed.headers["x-signature"] == expected(NOW.encode() + b"." + body)


def test_signature_header_timestamp_and_encoding_are_configurable(clock: FakeClock) -> None:
    auth = HmacAuth(
        SECRET,
        key_id="key-42",
        algorithm="sha512",
        encoding="base64",
        signature_header="Authorization",
        header_value="HMAC-{algorithm} {key_id}:{signature}",
        timestamp_header="Date",
        timestamp_format="iso8601",
        clock=clock,
    )

    signed = sign(auth, httpx.Request("DELETE", "https://api.example/v1/items/7"))

    canonical = f"DELETE\n/v1/items/7\n2026-01-01T00:00:00Z\n{hashlib.sha256().hexdigest()}"
    mac = hmac.new(SECRET.encode(), canonical.encode(), "sha512").digest()
    assert signed.headers["date"] == "2026-01-01T00:00:00Z"
    assert signed.headers["authorization"] == f"HMAC-sha512 key-42:{b64encode(mac).decode()}"


def test_a_nonce_is_fresh_for_every_request(clock: FakeClock) -> None:
    auth = HmacAuth(SECRET, template="{nonce}:{timestamp}", nonce_header="X-Nonce", clock=clock)

    first, second = (sign(auth, httpx.Request("GET", "https://api.example/")) for _ in "ab")

    assert first.headers["x-nonce"] != second.headers["x-nonce"]
    nonce = first.headers["x-nonce"]
    assert first.headers["x-signature"] == expected(f"{nonce}:{NOW}".encode())


def test_a_base64_secret_is_decoded_into_the_key(clock: FakeClock) -> None:
    raw_key = b"\x00\x01binary-key"
    auth = HmacAuth(b64encode(raw_key).decode(), secret_encoding="base64", clock=clock)

    signed = sign(auth, httpx.Request("GET", "https://api.example/x"))

    canonical = f"GET\n/x\n{NOW}\n{hashlib.sha256().hexdigest()}".encode()
    assert signed.headers["x-signature"] == hmac.new(raw_key, canonical, "sha256").hexdigest()


def test_an_unknown_placeholder_is_an_error_that_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \{url\}; known: .*\{path\}"):
        HmacAuth(SECRET, template="{method} {url}")


def test_neither_repr_nor_a_bad_secrets_error_shows_the_secret() -> None:
    with pytest.raises(ValueError, match="not valid base64") as caught:
        HmacAuth("not*base64*" + SECRET, secret_encoding="base64")

    assert SECRET not in str(caught.value)
    assert SECRET not in repr(HmacAuth(SECRET, key_id="key-42"))
