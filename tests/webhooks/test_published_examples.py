"""The built-in verifiers accept the vendors' own published examples, byte for byte.

Sources:
- GitHub: docs.github.com, "Validating webhook deliveries", section "Testing the webhook
  payload validation".
- Standard Webhooks: the reference library's tests, standard-webhooks/standard-webhooks,
  libraries/python/tests/test_webhooks.py (``test_sign_function``, and the invalid and
  multiple-signature cases).
- Slack: api.slack.com/authentication/verifying-requests-from-slack, the worked example.
- Shopify publishes no example; its case is computed here with `hmac` and `base64`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from nexus_connector_core import PluginRegistry
from nexus_connector_core.webhooks import WebhookVerificationError, verify
from nexus_connector_core.webhooks._presets import GITHUB, SLACK, STANDARD_WEBHOOKS

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#: The reference library's "invalid signature": the last character of the digest changed.
SW_INVALID = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
    b"%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


# -- GitHub ------------------------------------------------------------------------------------


def test_github_documentation_example_is_the_signature_we_compute() -> None:
    assert "sha256=" + GITHUB.signature(GITHUB_SECRET.encode(), GITHUB_BODY) == GITHUB_SIGNATURE


def test_github_documentation_example_verifies(webhook_registry: PluginRegistry) -> None:
    event = verify(
        "github",
        headers={"X-Hub-Signature-256": GITHUB_SIGNATURE},
        body=GITHUB_BODY,
        secret=GITHUB_SECRET,
        registry=webhook_registry,
    )
    assert (event.verifier, event.body, event.id, event.timestamp) == (
        "github",
        GITHUB_BODY,
        None,
        None,
    )


def test_github_documentation_example_with_another_body_is_rejected(
    webhook_registry: PluginRegistry,
) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(
            "github",
            headers={"X-Hub-Signature-256": GITHUB_SIGNATURE},
            body=b"Hello, World?",
            secret=GITHUB_SECRET,
            registry=webhook_registry,
        )
    assert caught.value.reason == "signature mismatch"
    assert caught.value.verifier == "github"


# -- Standard Webhooks -------------------------------------------------------------------------


def _sw_headers(signature: str) -> dict[str, str]:
    return {
        "webhook-id": SW_ID,
        "webhook-timestamp": str(SW_TIMESTAMP),
        "webhook-signature": signature,
    }


def test_standard_webhooks_reference_vector_is_the_signature_we_compute() -> None:
    key = STANDARD_WEBHOOKS.keys([SW_SECRET.encode()])[0]
    content = f"{SW_ID}.{SW_TIMESTAMP}.".encode() + SW_BODY
    assert "v1," + STANDARD_WEBHOOKS.signature(key, content) == SW_SIGNATURE


def test_standard_webhooks_reference_vector_verifies(webhook_registry: PluginRegistry) -> None:
    event = verify(
        "standard-webhooks",
        headers=_sw_headers(SW_SIGNATURE),
        body=SW_BODY,
        secret=SW_SECRET,
        now=SW_TIMESTAMP,
        registry=webhook_registry,
    )
    assert event.id == SW_ID
    assert event.timestamp == datetime(2021, 2, 25, 15, 2, 10, tzinfo=UTC)
    assert event.data == {"test": 2432232314}


def test_standard_webhooks_secret_may_be_the_raw_key(webhook_registry: PluginRegistry) -> None:
    raw_key = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
    event = verify(
        "standard-webhooks",
        headers=_sw_headers(SW_SIGNATURE),
        body=SW_BODY,
        secret=raw_key,
        now=SW_TIMESTAMP,
        registry=webhook_registry,
    )
    assert event.id == SW_ID


def test_standard_webhooks_reference_invalid_signature_is_rejected(
    webhook_registry: PluginRegistry,
) -> None:
    with pytest.raises(WebhookVerificationError, match="signature mismatch"):
        verify(
            "standard-webhooks",
            headers=_sw_headers(SW_INVALID),
            body=SW_BODY,
            secret=SW_SECRET,
            now=SW_TIMESTAMP,
            registry=webhook_registry,
        )


def test_standard_webhooks_reference_multiple_signatures_pass_when_one_matches(
    webhook_registry: PluginRegistry,
) -> None:
    other = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    header = " ".join([f"v1,{other}", f"v2,{other}", SW_SIGNATURE, f"v1,{other}"])
    event = verify(
        "standard-webhooks",
        headers=_sw_headers(header),
        body=SW_BODY,
        secret=SW_SECRET,
        now=SW_TIMESTAMP,
        registry=webhook_registry,
    )
    assert event.data == {"test": 2432232314}


# -- Slack -------------------------------------------------------------------------------------


def test_slack_documentation_example_is_the_signature_we_compute() -> None:
    content = f"v0:{SLACK_TIMESTAMP}:".encode() + SLACK_BODY
    assert "v0=" + SLACK.signature(SLACK_SECRET.encode(), content) == SLACK_SIGNATURE


def test_slack_documentation_example_verifies_and_decodes_the_form(
    webhook_registry: PluginRegistry,
) -> None:
    event = verify(
        "slack",
        headers={
            "X-Slack-Signature": SLACK_SIGNATURE,
            "X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=SLACK_BODY,
        secret=SLACK_SECRET,
        now=SLACK_TIMESTAMP + 60,
        registry=webhook_registry,
    )
    assert event.timestamp == datetime.fromtimestamp(SLACK_TIMESTAMP, tz=UTC)
    assert event.data["command"] == "/webhook-collect"
    assert event.data["text"] == ""
    assert event.id is None


def test_slack_documentation_example_is_too_old_today(webhook_registry: PluginRegistry) -> None:
    with pytest.raises(WebhookVerificationError, match="timestamp too old"):
        verify(
            "slack",
            headers={
                "X-Slack-Signature": SLACK_SIGNATURE,
                "X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP),
            },
            body=SLACK_BODY,
            secret=SLACK_SECRET,
            registry=webhook_registry,
        )


# -- Shopify -----------------------------------------------------------------------------------


def test_shopify_base64_hmac_of_the_raw_body_verifies(webhook_registry: PluginRegistry) -> None:
    secret, body = "hush", b'{"id":820982911946154508,"email":"jon@example.com"}'
    signature = base64.b64encode(hmac.new(b"hush", body, hashlib.sha256).digest()).decode()
    event = verify(
        "shopify",
        headers={
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            "Content-Type": "application/json",
        },
        body=body,
        secret=secret,
        registry=webhook_registry,
    )
    assert event.id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert event.data == {"id": 820982911946154508, "email": "jon@example.com"}
