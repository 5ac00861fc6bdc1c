"""The ``postmark`` webhook verifier: Postmark signs nothing, so a delivery is accepted when
its HTTP Basic credentials (from the webhook URL) match one of the configured secrets."""

from __future__ import annotations

import base64
import json

import pytest
from nexus_connector_postmark import normalise_event

from nexus_connector_core import PluginRegistry, WebhookVerificationError
from nexus_connector_core.webhooks import verify

SECRET = "postmark-hooks:Zq8-w1Lr_33kd"
MALFORMED = "malformed header Authorization"
BODY = json.dumps(
    {
        "RecordType": "Delivery",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": "john@example.com",
        "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
    }
).encode()


def basic(credentials: str) -> dict[str, str]:
    token = base64.b64encode(credentials.encode()).decode()
    return {"authorization": f"Basic {token}", "Content-Type": "application/json"}


def test_a_delivery_with_the_configured_credentials_is_accepted_and_normalised(
    registry: PluginRegistry,
) -> None:
    event = verify("postmark", headers=basic(SECRET), body=BODY, secret=SECRET, registry=registry)

    assert (event.verifier, event.id, event.timestamp) == ("postmark", None, None)
    assert normalise_event(event.data).kind == "delivered"


def test_any_of_several_secrets_matches_during_a_rotation(registry: PluginRegistry) -> None:
    secrets = ["postmark-hooks:new-password-1", SECRET]

    event = verify("postmark", headers=basic(SECRET), body=BODY, secret=secrets, registry=registry)

    assert event.body == BODY


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing header Authorization"),
        (basic("postmark-hooks:guessed"), "credentials mismatch"),
        (basic("postmark-hooks"), f"{MALFORMED}: expected base64 of username:password"),
        ({"Authorization": "Bearer abc"}, f"{MALFORMED}: expected Basic credentials"),
        ({"Authorization": "Basic %%%"}, f"{MALFORMED}: credentials are not base64"),
    ],
    ids=["missing", "wrong", "no-colon", "not-basic", "not-base64"],
)
def test_a_delivery_without_the_right_credentials_is_rejected_with_a_reason(
    registry: PluginRegistry, headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify("postmark", headers=headers, body=BODY, secret=SECRET, registry=registry)

    assert (caught.value.reason, caught.value.verifier) == (reason, "postmark")
    assert SECRET not in str(caught.value)
