"""The ``twilio`` webhook verifier: Twilio's published signatures verify, and a delivery
changed anywhere it is signed is rejected, only ever with WebhookVerificationError.

Vectors:

- Twilio's "Webhooks security" documentation (the worked example at
  twilio.com/docs/usage/security): auth token ``12345``, a POST to
  ``https://mycompany.com/myapp.php?foo=1&bar=2`` with CallSid, Caller, Digits, From and To,
  signed ``GvWf1cFY/Q7PnoempGyD5oXAezc=``.
- twilio-python's tests/unit/test_request_validator.py: the same URL with other numbers
  (``RSOYDt4T1cUTdK1PDd93/VVr8B8=``), repeated fields, the port rules, and a JSON body
  with bodySHA256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, strategies as st
from nexus_connector_twilio import TWILIO

from nexus_connector_core import PluginRegistry
from nexus_connector_core.state import MemoryStateBackend
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.webhooks import (
    Headers,
    VerifiedDelivery,
    WebhookEvent,
    WebhookVerificationError,
    verify,
)

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_FIELDS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}
DOCS_SIGNATURE = "GvWf1cFY/Q7PnoempGyD5oXAezc="
#: twilio-python's fields: the docs' example with other numbers.
FIELDS = {**DOCS_FIELDS, "Caller": "+14158675309", "From": "+14158675309"}
SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
JSON_BODY = b'{"property": "value", "boolean": true}'
JSON_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
JSON_URL = f"{URL}&bodySHA256={JSON_HASH}"
JSON_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="
FORM = "application/x-www-form-urlencoded"


def _deliver(
    registry: PluginRegistry,
    *,
    signature: str = SIGNATURE,
    fields: Any = FIELDS,
    url: str | None = URL,
    secret: Any = TOKEN,
    body: bytes | None = None,
    **extra: Any,
) -> WebhookEvent:
    """Verify a delivery of `fields` as a form (or of `body`) signed `signature`."""
    headers = {"X-Twilio-Signature": signature, "Content-Type": FORM, **extra.pop("headers", {})}
    raw = body if body is not None else urlencode(fields).encode()
    return verify(
        "twilio", headers=headers, body=raw, url=url, secret=secret, registry=registry, **extra
    )


def _rejected(registry: PluginRegistry, **kwargs: Any) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        _deliver(registry, **kwargs)
    assert caught.value.verifier == "twilio"
    return caught.value.reason


def _sign(url: str, signed_fields: str = "", token: str = TOKEN) -> str:
    digest = hmac.new(token.encode(), (url + signed_fields).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# -- published vectors -------------------------------------------------------------------------


def test_twilios_documented_example_verifies(registry: PluginRegistry) -> None:
    event = _deliver(registry, signature=DOCS_SIGNATURE, fields=DOCS_FIELDS)

    assert event.verifier == "twilio"
    assert event.data == DOCS_FIELDS
    assert (event.id, event.timestamp) == (None, None)


def test_twilio_pythons_example_verifies(registry: PluginRegistry) -> None:
    assert _deliver(registry).data == FIELDS


def test_a_field_sent_twice_is_signed_with_each_value_in_order(registry: PluginRegistry) -> None:
    fields = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]

    event = _deliver(registry, signature="IK+Dwps556ElfBT0I3Rgjkr1wJU=", fields=fields)

    assert event.data["Digits"] == ["5678", "1234"]


def test_a_value_repeated_under_one_name_is_signed_once(registry: PluginRegistry) -> None:
    fields = [("Digits", "1234"), ("Sid", "CA123"), ("Digits", "1234")]
    # As twilio-python's RequestValidator signs: per sorted name, its distinct values sorted.
    signed_once = _sign(URL, "Digits1234" + "SidCA123")
    signed_twice = _sign(URL, "Digits1234" + "Digits1234" + "SidCA123")

    event = _deliver(registry, signature=signed_once, fields=fields)

    assert event.data["Digits"] == ["1234", "1234"]
    assert _rejected(registry, signature=signed_twice, fields=fields) == "signature mismatch"


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        # signed without the port that the URL has
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", SIGNATURE),
        # signed as given, port included
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        # signed with the scheme's port that the URL lacks
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
    ids=["removes-port", "keeps-port", "adds-443", "adds-80"],
)
def test_the_url_is_tried_with_and_without_its_port(
    registry: PluginRegistry, url: str, signature: str
) -> None:
    assert _deliver(registry, url=url, signature=signature).data == FIELDS


def test_a_json_body_is_vouched_for_by_the_body_sha256_of_the_signed_url(
    registry: PluginRegistry,
) -> None:
    event = _deliver(
        registry,
        url=JSON_URL,
        signature=JSON_SIGNATURE,
        body=JSON_BODY,
        headers={"Content-Type": "application/json"},
    )

    assert event.data == {"property": "value", "boolean": True}


# -- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {**FIELDS, "Digits": "9999"},  # a changed value
        {**FIELDS, "Extra": "1"},  # an added field
        {k: v for k, v in FIELDS.items() if k != "Digits"},  # a removed field
        {**FIELDS, "digits": FIELDS["Digits"]},  # a renamed field
    ],
    ids=["changed", "added", "removed", "renamed"],
)
def test_changed_form_fields_are_rejected(registry: PluginRegistry, fields: Any) -> None:
    assert _rejected(registry, fields=fields) == "signature mismatch"


@pytest.mark.parametrize(
    "url",
    [
        "https://mycompany.com/myapp.php?foo=1&bar=3",
        "https://mycompany.com/other.php?foo=1&bar=2",
        "https://evil.example/myapp.php?foo=1&bar=2",
        "http://mycompany.com/myapp.php?foo=1&bar=2",
        "https://mycompany.com/myapp.php",
    ],
)
def test_another_url_is_rejected(registry: PluginRegistry, url: str) -> None:
    assert _rejected(registry, url=url) == "signature mismatch"


def test_another_auth_token_is_rejected(registry: PluginRegistry) -> None:
    assert _rejected(registry, secret="54321") == "signature mismatch"


def test_a_changed_json_body_is_rejected(registry: PluginRegistry) -> None:
    reason = _rejected(
        registry, url=JSON_URL, signature=JSON_SIGNATURE, body=JSON_BODY.replace(b"true", b"false")
    )

    assert reason == "body does not match the bodySHA256 of the URL"


def test_a_body_sha256_changed_to_match_a_forged_body_breaks_the_signature(
    registry: PluginRegistry,
) -> None:
    forged = b'{"property": "forged"}'
    url = f"{URL}&bodySHA256={hashlib.sha256(forged).hexdigest()}"

    assert _rejected(registry, url=url, signature=JSON_SIGNATURE, body=forged) == (
        "signature mismatch"
    )


def test_a_json_body_without_body_sha256_is_rejected_as_malformed(
    registry: PluginRegistry,
) -> None:
    reason = _rejected(registry, body=JSON_BODY, signature=_sign(URL))

    assert reason.startswith("malformed body")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Twilio-Signature": ""}, "missing header X-Twilio-Signature"),
        ({"X-Twilio-Signature": "not base64!"}, "malformed header X-Twilio-Signature"),
        (
            {"X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_SHA256"},
            "X-Twilio-Webhooks-Signature-Settings is set",
        ),
    ],
)
def test_a_missing_malformed_or_unsupported_signature_is_named(
    registry: PluginRegistry, headers: dict[str, str], reason: str
) -> None:
    assert _rejected(registry, headers=headers).startswith(reason)


@pytest.mark.parametrize("url", [None, "/myapp.php?foo=1", "ftp://mycompany.com/x", "https://h:x/"])
def test_the_url_must_be_the_absolute_http_url_twilio_requested(
    registry: PluginRegistry, url: str | None
) -> None:
    reason = _rejected(registry, url=url)

    assert "url" in reason


# -- secrets, ids and replays ------------------------------------------------------------------


def test_either_auth_token_verifies_during_a_rotation(registry: PluginRegistry) -> None:
    assert _deliver(registry, secret=["new-token", TOKEN]).data == FIELDS


def test_the_idempotency_token_is_the_delivery_id_and_stops_a_replay(
    registry: PluginRegistry,
) -> None:
    state = MemoryStateBackend(clock=FakeClock())
    headers = {"I-Twilio-Idempotency-Token": "b1ce7a1e-0000-4000-8000-000000000001"}

    first = _deliver(registry, headers=headers, state=state)
    reason = _rejected(registry, headers=headers, state=state)

    assert first.id == headers["I-Twilio-Idempotency-Token"]
    assert reason == "replayed"


def test_no_reason_shows_the_token_or_a_signature(registry: PluginRegistry) -> None:
    token = "a-long-auth-token-0123456789"
    reasons = [
        _rejected(registry, secret=token),
        _rejected(registry, secret=token, signature=_sign(URL, token=token)),
        _rejected(registry, secret=token, url=JSON_URL, body=b"{}"),
    ]

    for reason in reasons:
        assert token not in reason
        assert SIGNATURE not in reason


# -- robustness --------------------------------------------------------------------------------

texts = st.text(max_size=60)


@given(
    headers=st.dictionaries(
        st.sampled_from(["X-Twilio-Signature", "Content-Type", "I-Twilio-Idempotency-Token"]),
        st.one_of(texts, st.just(SIGNATURE)),
    ),
    body=st.one_of(st.binary(max_size=200), st.just(urlencode(FIELDS).encode())),
    url=st.one_of(texts, st.sampled_from([URL, JSON_URL, "https://[::1]:99999/x"])),
)
def test_any_delivery_is_verified_or_rejected_never_crashes(
    headers: dict[str, str], body: bytes, url: str
) -> None:
    outcome: VerifiedDelivery | str
    try:
        outcome = TWILIO.verify(
            headers=Headers(headers), body=body, secrets=[b"k"], url=url, now=0.0
        )
    except WebhookVerificationError as exc:
        outcome = exc.reason
    assert isinstance(outcome, VerifiedDelivery) or outcome  # a delivery, or a reason
