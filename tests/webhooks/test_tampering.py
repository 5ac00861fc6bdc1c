"""Property: a delivery changed in any signed part is rejected, and only ever with
WebhookVerificationError, whatever the headers and body hold.

"Signed part" is per scheme: the body always; the signature header; the timestamp header
(Slack, Standard Webhooks) and the message id (Standard Webhooks). GitHub's and Shopify's id
headers are not signed by the vendor; they only feed replay protection.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, strategies as st

from nexus_connector_core import PluginRegistry
from nexus_connector_core.webhooks import DEFAULT_TOLERANCE, WebhookVerificationError, verify

AT = 1_767_225_600  # when the conftest's signer signs

SIGNED_HEADERS = {
    "github": ["X-Hub-Signature-256"],
    "slack": ["X-Slack-Signature", "X-Slack-Request-Timestamp"],
    "shopify": ["X-Shopify-Hmac-Sha256"],
    "standard-webhooks": ["webhook-signature", "webhook-timestamp", "webhook-id"],
}
TIMESTAMPED = ["slack", "standard-webhooks"]
#: Schemes whose signature is hex, where a change of letter case is not a change.
HEX = {"github", "slack"}

bodies = st.binary(max_size=512)
texts = st.text(max_size=80)


def _verify(key: str, registry: PluginRegistry, signer: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("now", AT)
    return verify(key, secret=signer.secrets[key], registry=registry, **kwargs)


def _rejected(key: str, registry: PluginRegistry, signer: Any, **kwargs: Any) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        _verify(key, registry, signer, **kwargs)
    assert caught.value.verifier == key
    assert caught.value.reason
    return caught.value.reason


@st.composite
def edits(draw: st.DrawFn, value: str) -> str:
    """`value` with one character replaced, inserted or deleted, or replaced entirely."""
    kind = draw(st.sampled_from(["replace", "insert", "delete", "whole"]))
    if kind == "whole" or not value:
        return draw(texts)
    index = draw(st.integers(0, len(value) - 1))
    if kind == "delete":
        return value[:index] + value[index + 1 :]
    char = draw(st.characters())
    if kind == "insert":
        return value[:index] + char + value[index:]
    return value[:index] + char + value[index + 1 :]


@pytest.mark.parametrize("key", SIGNED_HEADERS)
@given(body=bodies)
def test_an_untouched_delivery_verifies(
    key: str, body: bytes, webhook_registry: PluginRegistry, signer: Any
) -> None:
    event = _verify(key, webhook_registry, signer, headers=signer.sign(key, body), body=body)
    assert event.body == body


@pytest.mark.parametrize("key", SIGNED_HEADERS)
@given(body=bodies, other=bodies)
def test_a_changed_body_is_rejected(
    key: str, body: bytes, other: bytes, webhook_registry: PluginRegistry, signer: Any
) -> None:
    assume(other != body)
    reason = _rejected(key, webhook_registry, signer, headers=signer.sign(key, body), body=other)
    assert reason == "signature mismatch"


@pytest.mark.parametrize("key", SIGNED_HEADERS)
@given(body=bodies, data=st.data())
def test_a_changed_signed_header_is_rejected(
    key: str, body: bytes, data: st.DataObject, webhook_registry: PluginRegistry, signer: Any
) -> None:
    headers = signer.sign(key, body)
    name = data.draw(st.sampled_from(SIGNED_HEADERS[key]), label="header")
    original = headers[name]
    changed = data.draw(edits(original), label="changed")
    # Surrounding whitespace is not part of an HTTP field value, nor hex letter case.
    assume(changed.strip() != original)
    assume(not (key in HEX and changed.strip().lower() == original.lower()))
    headers[name] = changed
    _rejected(key, webhook_registry, signer, headers=headers, body=body)


@pytest.mark.parametrize("key", SIGNED_HEADERS)
@given(body=bodies, data=st.data())
def test_a_removed_signed_header_is_rejected(
    key: str, body: bytes, data: st.DataObject, webhook_registry: PluginRegistry, signer: Any
) -> None:
    headers = signer.sign(key, body)
    name = data.draw(st.sampled_from(SIGNED_HEADERS[key]), label="header")
    del headers[name]
    reason = _rejected(key, webhook_registry, signer, headers=headers, body=body)
    assert reason == f"missing header {name}"


@pytest.mark.parametrize("key", TIMESTAMPED)
@given(body=bodies, shift=st.integers(1, 10**9))
def test_a_signed_timestamp_moved_is_rejected(
    key: str, body: bytes, shift: int, webhook_registry: PluginRegistry, signer: Any
) -> None:
    headers = signer.sign(key, body)
    name = SIGNED_HEADERS[key][1] if key == "slack" else "webhook-timestamp"
    for moved in (AT + shift, max(AT - shift, 0)):
        if moved == AT:
            continue
        tampered = {**headers, name: str(moved)}
        reason = _rejected(key, webhook_registry, signer, headers=tampered, body=body, now=moved)
        assert reason == "signature mismatch"


drifts = st.one_of(
    st.floats(DEFAULT_TOLERANCE + 0.001, 1e10), st.floats(-1e10, -DEFAULT_TOLERANCE - 0.001)
)


@pytest.mark.parametrize("key", TIMESTAMPED)
@given(body=bodies, drift=drifts)
def test_a_genuine_delivery_outside_the_tolerance_is_rejected(
    key: str, body: bytes, drift: float, webhook_registry: PluginRegistry, signer: Any
) -> None:
    headers = signer.sign(key, body)
    reason = _rejected(key, webhook_registry, signer, headers=headers, body=body, now=AT + drift)
    assert reason.startswith("timestamp too old" if drift > 0 else "timestamp too new")


header_names = st.sampled_from(
    sorted({name for names in SIGNED_HEADERS.values() for name in names} | {"Content-Type"})
)
anything = st.one_of(texts, st.text(alphabet="0123456789abcdefv=,+/ ", max_size=100))


#: (headers, body, now): anything a sender, a proxy or an attacker could hand over.
deliveries = st.tuples(
    st.dictionaries(header_names | st.text(max_size=20), anything, max_size=6),
    bodies,
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)


@pytest.mark.parametrize("key", SIGNED_HEADERS)
@given(delivery=deliveries)
def test_arbitrary_headers_and_bodies_only_ever_raise_webhook_verification_error(
    key: str,
    delivery: tuple[dict[str, str], bytes, float | None],
    webhook_registry: PluginRegistry,
    signer: Any,
) -> None:
    headers, body, now = delivery
    _rejected(key, webhook_registry, signer, headers=headers, body=body, now=now)
