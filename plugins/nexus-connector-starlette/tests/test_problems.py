"""Our errors as HTTP answers: the status, Retry-After, and an RFC 9457 body in our own words,
with no secret and no vendor payload."""

from __future__ import annotations

import json

import pytest
from nexus_connector_starlette._problems import MAX_RETRY_AFTER, problem_for

from nexus_connector_core import (
    AuthenticationError,
    CircuitOpenError,
    ConfigError,
    ConnectorError,
    CredentialNotFoundError,
    IdempotencyConflictError,
    InvalidRequestError,
    ObjectNotFoundError,
    PaymentDeclinedError,
    PluginError,
    RateLimitExceededError,
    StateBackendUnavailableError,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
    WebhookVerificationError,
)

#: What a vendor's answer or our config may carry, and a body must never show.
SECRET = "sk_live_51Hx9SECRETkey"
PAYLOAD = "card ending 4242 of Ada Lovelace: insufficient_funds"


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (CircuitOpenError("open", retry_after=29.2), 503, "circuit_open", "30"),
        (VendorTimeoutError("slow"), 504, "vendor_timeout", None),
        (VendorTimeoutError("deadline", deadline_exceeded=True), 504, "vendor_timeout", None),
        (
            VendorUnavailableError("down", status_code=502, retry_after=5),
            503,
            "vendor_unavailable",
            "5",
        ),
        (VendorUnavailableError("reset"), 503, "vendor_unavailable", None),
        (RateLimitExceededError("429", retry_after=0.2), 429, "rate_limited", "1"),
        (RateLimitExceededError("ours", local=True, retry_after=0.0), 429, "rate_limited", "0"),
        (StateBackendUnavailableError("redis"), 503, "state_unavailable", None),
        (PaymentDeclinedError("no", code="card_declined"), 402, "payment_declined", None),
        (InvalidRequestError("bad", status_code=400), 422, "invalid_request", None),
        (ObjectNotFoundError("gone"), 404, "not_found", None),
        (IdempotencyConflictError("again"), 409, "idempotency_conflict", None),
        (VendorError("teapot", status_code=418), 502, "vendor_error", None),
    ],
)
def test_each_error_has_its_status_code_and_retry_after(
    error: ConnectorError, status: int, code: str, retry_after: str | None
) -> None:
    problem = problem_for(error)

    assert problem.status == status
    assert problem.body["status"] == status
    assert problem.body["type"] == "about:blank"
    assert problem.body["code"] == code
    assert problem.headers.get("Retry-After") == retry_after
    assert problem.body.get("retry_after") == (int(retry_after) if retry_after else None)


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("connectors.email.vendor: unknown vendor 'x'", path="connectors.email"),
        PluginError("plugin acme failed to load", plugin="acme"),
        AuthenticationError(f"the vendor refused the key {SECRET[:8]}..."),
        CredentialNotFoundError("environment variable X is not set", reference="env:X"),
        RuntimeError(f"a bug with {SECRET}"),
        KeyError("x"),
    ],
)
def test_config_and_internal_errors_are_500_without_details(error: BaseException) -> None:
    problem = problem_for(error)

    assert (problem.status, problem.headers) == (500, {})
    assert problem.body == {"type": "about:blank", "title": "Internal Server Error", "status": 500}


@pytest.mark.parametrize(
    "error",
    [
        PaymentDeclinedError(
            f"declined: {PAYLOAD}",
            code="card_declined",
            decline_code="stolen_card",
            vendor_message=PAYLOAD,
            fields={"payment_method": (PAYLOAD,)},
            connector="payment",
            vendor="stripe",
        ),
        InvalidRequestError(
            f"rejected with key {SECRET}: {PAYLOAD}",
            code="parameter_invalid",
            vendor_message=PAYLOAD,
            fields={"to_address.postal_code": (PAYLOAD,)},
        ),
        VendorUnavailableError(f"503 from https://api.example.com/?key={SECRET}: {PAYLOAD}"),
        CircuitOpenError(f"open after {PAYLOAD}", retry_after=3, vendor="stripe"),
    ],
)
def test_no_secret_vendor_payload_or_vendor_name_reaches_the_body(error: ConnectorError) -> None:
    text = json.dumps(problem_for(error).body)

    for leaked in (SECRET, PAYLOAD, "stolen_card", "card_declined", "parameter_invalid", "stripe"):
        assert leaked not in text


@pytest.mark.parametrize(
    ("seconds", "header"),
    [
        (float("nan"), None),
        (float("inf"), None),
        (-1.0, None),
        (None, None),
        (2**70, str(MAX_RETRY_AFTER)),
        (1e-300, "1"),
        (59.000001, "60"),
    ],
)
def test_a_retry_after_is_whole_seconds_within_a_day_or_left_out(
    seconds: float | None, header: str | None
) -> None:
    problem = problem_for(CircuitOpenError("open", retry_after=seconds))

    assert problem.headers.get("Retry-After") == header


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("replayed", 400),
        ("body too large: 20 bytes, the limit is 10", 400),
        ("signature mismatch", 401),
        ("missing header Stripe-Signature", 401),
        ("timestamp too old: signed 400 s ago, the tolerance is 300 s", 401),
    ],
)
def test_a_rejected_webhook_is_401_unless_replayed_or_unread(reason: str, status: int) -> None:
    problem = problem_for(WebhookVerificationError(reason, verifier="stripe"))

    assert problem.status == status
    assert problem.body["detail"] == f"webhook rejected: {reason}"
