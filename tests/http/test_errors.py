"""The HTTP toolkit's one mapping of httpx's exceptions and of vendors' error answers."""

from __future__ import annotations

import ssl

import httpx
import pytest

from nexus_connector_core import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    InvalidRequestError,
    ObjectNotFoundError,
    PaymentDeclinedError,
    RateLimitExceededError,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
)
from nexus_connector_core.http import ErrorKind, status_error, transport_error

REQUEST = httpx.Request("POST", "https://api.vendor.example/v1/charges")


def _exc(kind: type[Exception]) -> Exception:
    if issubclass(kind, httpx.StreamError):
        return kind()
    if issubclass(kind, httpx.RequestError | httpx.TooManyRedirects):
        return kind("boom", request=REQUEST)
    return kind("boom")


# (exception, error class, maybe_processed when the request was sent / not sent / unknown)
TREE: list[tuple[type[Exception], type[ConnectorError], tuple[bool, bool, bool]]] = [
    (httpx.ConnectTimeout, VendorTimeoutError, (False, False, False)),
    (httpx.PoolTimeout, VendorTimeoutError, (False, False, False)),
    (httpx.ConnectError, VendorUnavailableError, (False, False, False)),
    (httpx.ReadTimeout, VendorTimeoutError, (True, False, True)),
    (httpx.WriteTimeout, VendorTimeoutError, (True, False, True)),
    (httpx.ReadError, VendorUnavailableError, (True, False, True)),
    (httpx.WriteError, VendorUnavailableError, (True, False, True)),
    (httpx.CloseError, VendorUnavailableError, (True, False, True)),
    (httpx.RemoteProtocolError, VendorUnavailableError, (True, False, True)),
    (httpx.ProxyError, VendorUnavailableError, (True, False, True)),
    (httpx.NetworkError, VendorUnavailableError, (True, False, True)),
    (httpx.TransportError, VendorUnavailableError, (True, False, True)),
    (httpx.DecodingError, VendorUnavailableError, (True, True, True)),
    (httpx.TooManyRedirects, VendorError, (True, True, True)),
    (httpx.StreamConsumed, VendorUnavailableError, (True, False, True)),
    (httpx.ResponseNotRead, VendorUnavailableError, (True, False, True)),
    (httpx.HTTPError, VendorUnavailableError, (True, False, True)),
]


@pytest.mark.parametrize(("exc", "error", "maybe"), TREE, ids=[t[0].__name__ for t in TREE])
def test_every_httpx_error_maps_to_ours_with_whether_it_may_have_arrived(
    exc: type[Exception], error: type[ConnectorError], maybe: tuple[bool, bool, bool]
) -> None:
    mapped = [transport_error(_exc(exc), vendor="Acme", sent=sent) for sent in (True, False, None)]

    assert [type(m) for m in mapped] == [error] * 3
    assert tuple(m.maybe_processed for m in mapped) == maybe
    assert all("Acme" in str(m) and exc.__name__ in str(m) for m in mapped)


@pytest.mark.parametrize(
    "exc", [httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL]
)
def test_a_request_that_cannot_be_built_is_a_config_error_quoting_nothing(
    exc: type[Exception],
) -> None:
    secret = "sk_live_with_a_line_break"
    failure = exc(f"Illegal header value b'Bearer {secret}\\n'")

    mapped = transport_error(failure, vendor="Acme", path="connectors.pay.credentials")

    assert isinstance(mapped, ConfigError)
    assert (mapped.maybe_processed, mapped.retryable) == (False, False)
    assert secret not in str(mapped)
    assert mapped.path == "connectors.pay.credentials"


def test_httpxs_own_text_is_never_quoted_but_the_systems_reason_is() -> None:
    secret = "sk_live_0123456789"
    failure = httpx.ConnectError(f"proxy said no to {secret}", request=REQUEST)
    failure.__context__ = ConnectionRefusedError(111, "Connection refused")
    bad_certificate = httpx.ConnectError("[SSL] verify failed", request=REQUEST)
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate"
    bad_certificate.__context__ = cause

    refused = transport_error(failure, vendor="Acme", sent=False)
    untrusted = transport_error(bad_certificate, vendor="Acme", sent=False)

    assert secret not in str(refused)
    assert "Connection refused" in str(refused)
    assert "self-signed certificate" in str(untrusted)


@pytest.mark.parametrize(
    ("status", "error", "maybe"),
    [
        (400, InvalidRequestError, False),
        (401, AuthenticationError, False),
        (402, PaymentDeclinedError, False),
        (403, AuthenticationError, False),
        (404, ObjectNotFoundError, False),
        (409, VendorError, False),
        (413, InvalidRequestError, False),
        (422, InvalidRequestError, False),
        (429, RateLimitExceededError, False),
        (500, VendorUnavailableError, True),
        (502, VendorUnavailableError, True),
        (503, VendorUnavailableError, True),
        (302, VendorError, False),
    ],
)
def test_each_status_maps_to_the_most_specific_error(
    status: int, error: type[ConnectorError], maybe: bool
) -> None:
    mapped = status_error(status, vendor="Acme", message="nope")

    assert type(mapped) is error
    assert mapped.maybe_processed is maybe
    assert str(mapped) == f"Acme answered {status}: nope"


def test_the_vendors_code_table_wins_over_the_status() -> None:
    table = {
        "card_declined": ErrorKind(PaymentDeclinedError, "ask for another card"),
        "lock_timeout": ErrorKind(RateLimitExceededError, "", maybe_processed=False),
        "maintenance": ErrorKind(VendorUnavailableError, "", maybe_processed=False),
    }

    declined = status_error(400, vendor="Acme", code="card_declined", message="no", table=table)
    busy = status_error(409, vendor="Acme", code="lock_timeout", table=table, retry_after=2.0)
    down = status_error(503, vendor="Acme", code="maintenance", table=table)
    other = status_error(400, vendor="Acme", code="unknown_code", table=table)

    assert isinstance(declined, PaymentDeclinedError)
    assert declined.code == "card_declined"
    assert str(declined) == "Acme answered 400, code card_declined: no (ask for another card)"
    assert isinstance(busy, RateLimitExceededError)
    assert (busy.retry_after, busy.local, busy.maybe_processed) == (2.0, False, False)
    assert isinstance(down, VendorUnavailableError)
    assert not down.maybe_processed
    assert type(other) is InvalidRequestError


def test_a_vendor_may_say_an_error_answer_was_not_processed() -> None:
    mapped = status_error(503, vendor="Acme", maybe_processed=False, retry_after=5.0)

    assert isinstance(mapped, VendorUnavailableError)
    assert (mapped.maybe_processed, mapped.retry_after, mapped.status_code) == (False, 5.0, 503)
