"""The ``stripe`` webhook verifier: a delivery signed as Stripe documents it verifies, one
changed anywhere it is signed is rejected, only ever with WebhookVerificationError; and
`read_event` reads Stripe's Event.

The scheme (docs.stripe.com/webhooks, "Verify signatures manually"): ``Stripe-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the endpoint secret>``, the
``whsec_...`` secret used as the HMAC key as it is. The signatures below are computed here
with hmac and hashlib, independently of the plugin.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, strategies as st
from nexus_connector_stripe import STRIPE, StripeEvent, read_event
from nexus_connector_stripe.testing import signature_header

from nexus_connector_core import PluginRegistry
from nexus_connector_core.state import MemoryStateBackend
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.webhooks import Headers, WebhookEvent, WebhookVerificationError, verify

SECRET = "whsec_zP9aZ8kQ3fT1mN6rB4xV7cL2"
NOW = 1_735_689_600  # 2025-01-01T00:00:00Z
EVENT = {
    "id": "evt_1QbTestEvent",
    "object": "event",
    "api_version": "2025-03-31.basil",
    "created": NOW - 2,
    "data": {
        "object": {"id": "pi_3QbTest", "object": "payment_intent", "amount": 1999},
        "previous_attributes": {"status": "requires_capture"},
    },
    "livemode": False,
    "type": "payment_intent.succeeded",
}
BODY = json.dumps(EVENT, indent=2).encode()


def sign(body: bytes = BODY, secret: str = SECRET, timestamp: int = NOW) -> str:
    """The v1 signature, as Stripe makes it."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def deliver(
    registry: PluginRegistry, header: str, body: bytes = BODY, **kwargs: Any
) -> WebhookEvent:
    kwargs.setdefault("secret", SECRET)
    kwargs.setdefault("now", NOW)
    headers = {"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"}
    return verify("stripe", headers=headers, body=body, registry=registry, **kwargs)


def rejected(registry: PluginRegistry, header: str, body: bytes = BODY, **kwargs: Any) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        deliver(registry, header, body, **kwargs)
    return caught.value.reason


def test_a_delivery_signed_with_stripes_scheme_verifies(registry: PluginRegistry) -> None:
    event = deliver(registry, f"t={NOW},v1={sign()}")

    assert (event.verifier, event.id, event.body) == ("stripe", "evt_1QbTestEvent", BODY)
    assert event.timestamp == datetime.fromtimestamp(NOW, UTC)
    assert event.data == EVENT


def test_a_tampered_body_is_rejected(registry: PluginRegistry) -> None:
    tampered = BODY.replace(b"1999", b"1")

    assert rejected(registry, f"t={NOW},v1={sign()}", tampered) == "signature mismatch"


def test_a_stale_timestamp_is_rejected_even_when_signed_with_it(registry: PluginRegistry) -> None:
    stale = NOW - 301

    reason = rejected(registry, f"t={stale},v1={sign(timestamp=stale)}")

    assert "tolerance" in reason


def test_a_timestamp_changed_after_signing_is_rejected(registry: PluginRegistry) -> None:
    assert rejected(registry, f"t={NOW - 1},v1={sign()}") == "signature mismatch"


def test_a_wrong_secret_is_rejected(registry: PluginRegistry) -> None:
    header = f"t={NOW},v1={sign(secret='whsec_someone_elses')}"

    assert rejected(registry, header) == "signature mismatch"


def test_an_extra_bogus_v1_before_the_right_one_is_accepted(registry: PluginRegistry) -> None:
    bogus = sign(secret="whsec_old_rolled_secret")

    event = deliver(registry, f"t={NOW},v1={bogus},v1={sign()}")

    assert event.id == "evt_1QbTestEvent"


def test_either_secret_verifies_while_one_is_rolled(registry: PluginRegistry) -> None:
    event = deliver(registry, f"t={NOW},v1={sign()}", secret=["whsec_new_one", SECRET])

    assert event.id == "evt_1QbTestEvent"


def test_a_v0_signature_is_ignored(registry: PluginRegistry) -> None:
    v0 = sign()  # right digest, wrong scheme

    assert "no v1" in rejected(registry, f"t={NOW},v0={v0}")
    assert deliver(registry, f"t={NOW},v0={v0},v1={sign()}").id == "evt_1QbTestEvent"


def test_the_secret_is_the_key_as_the_dashboard_shows_it_prefix_included(
    registry: PluginRegistry,
) -> None:
    without_prefix = sign(secret=SECRET.removeprefix("whsec_"))

    assert rejected(registry, f"t={NOW},v1={without_prefix}") == "signature mismatch"


def test_the_local_stripes_header_helper_signs_as_stripe_does(registry: PluginRegistry) -> None:
    header = signature_header(BODY, SECRET, NOW, extra="v0=ignored")

    assert header == f"v0=ignored,t={NOW},v1={sign()}"
    assert deliver(registry, header).id == "evt_1QbTestEvent"


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (f"v1={sign()}", "one t="),
        (f"t={NOW},t={NOW},v1={sign()}", "one t="),
        (f"t=-{NOW},v1={sign()}", "one t="),
        (f"t=soon,v1={sign()}", "one t="),
        (f"t={NOW}", "no v1"),
        (f"t={NOW},v1=abc", "no v1"),
        ("", "Stripe-Signature"),
    ],
    ids=["no-t", "two-t", "negative-t", "text-t", "no-v1", "short-v1", "empty"],
)
def test_a_malformed_header_is_rejected_and_says_why(
    registry: PluginRegistry, header: str, says: str
) -> None:
    assert says in rejected(registry, header)


def test_a_missing_header_is_rejected(registry: PluginRegistry) -> None:
    with pytest.raises(WebhookVerificationError, match="Stripe-Signature"):
        verify("stripe", headers={}, body=BODY, secret=SECRET, now=NOW, registry=registry)


def test_a_replayed_event_is_rejected_by_its_id(registry: PluginRegistry) -> None:
    state = MemoryStateBackend(clock=FakeClock())
    deliver(registry, f"t={NOW},v1={sign()}", state=state)

    again = signature_header(BODY, SECRET, NOW + 10)
    reason = rejected(registry, again, now=NOW + 10, state=state)

    assert "replay" in reason


@given(
    header=st.text(max_size=200),
    body=st.binary(max_size=200),
)
def test_any_header_and_body_only_ever_raise_webhook_verification_error(
    header: str, body: bytes
) -> None:
    with contextlib.suppress(WebhookVerificationError):
        STRIPE.verify(
            headers=Headers({"Stripe-Signature": header}),
            body=body,
            secrets=[SECRET.encode()],
            url=None,
            now=NOW,
        )


def test_read_event_gives_the_normalised_event() -> None:
    event = read_event(BODY)

    assert event == StripeEvent(
        id="evt_1QbTestEvent",
        type="payment_intent.succeeded",
        created=datetime.fromtimestamp(NOW - 2, UTC),
        object=EVENT["data"]["object"],  # type: ignore[index]
        previous_attributes={"status": "requires_capture"},
        livemode=False,
        api_version="2025-03-31.basil",
        raw=EVENT,
    )


def test_read_event_takes_a_verified_delivery(registry: PluginRegistry) -> None:
    delivery = deliver(registry, f"t={NOW},v1={sign()}")

    assert read_event(delivery).object["id"] == "pi_3QbTest"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b'{"object": "charge"}', '"object": "event"'),
        (
            b'{"object": "event", "id": "evt_1", "type": "x", "created": -5, "data": {}}',
            "created, data.object",
        ),
    ],
)
def test_read_event_says_what_is_wrong_with_a_body_that_is_not_an_event(
    body: bytes, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        read_event(body)
