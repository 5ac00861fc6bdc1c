"""The ``stripe`` webhook verifier, and Stripe's events read into one shape.

Stripe signs each webhook delivery (docs.stripe.com/webhooks, "Verify signatures manually")
in one header::

    Stripe-Signature: t=1492774577,v1=5257a869e7ecebeda32a...e108d8bd,v0=...

``t`` is the signing time in seconds since the epoch; each ``v1`` is the hex HMAC-SHA256 of
``{t}.{body}`` (the raw body, byte for byte) under the endpoint's signing secret, which is
used exactly as the Dashboard shows it, ``whsec_`` prefix included. Several ``v1`` entries
appear while a secret is being rolled: any one that matches will do. ``v0`` (test-mode
signatures of an old scheme) and any other element are ignored. The delivery is rejected
outside the tolerance around ``t`` (five minutes by default, as Stripe's libraries do); the
event's ``id`` (``evt_...``, inside the signed body) is the delivery id for replay
protection.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from nexus_connector_core import WebhookVerificationError
from nexus_connector_core.webhooks import Headers, HmacVerifier, VerifiedDelivery, WebhookEvent

__all__ = ["STRIPE", "StripeEvent", "StripeVerifier", "read_event"]

_HEADER = "Stripe-Signature"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_LAST = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds


class StripeVerifier(HmacVerifier):
    """Verifies ``Stripe-Signature``; the secret is the endpoint's ``whsec_...`` signing secret.

    >>> from nexus_connector_core.webhooks import verify
    >>> event = verify("stripe", headers=request.headers, body=raw_body,
    ...                secret="whsec_...")                          # doctest: +SKIP
    >>> read_event(event).type                                     # doctest: +SKIP
    'payment_intent.succeeded'

    Pass the body exactly as received (a framework's parsed and re-serialised JSON no
    longer matches). During a secret roll pass both secrets.
    """

    def __init__(self) -> None:
        super().__init__(
            name="stripe",
            header=_HEADER,
            signed_content="{timestamp}.{body}",
            timestamp_header=_HEADER,  # t= travels in the signature header
        )

    def _elements(self, headers: Headers) -> tuple[str, list[str]]:
        """The header's ``t`` and its well-formed ``v1`` signatures."""
        timestamps: list[str] = []
        signatures: list[str] = []
        for element in headers.require(_HEADER).split(","):
            name, equals, value = element.strip().partition("=")
            if not equals:
                continue  # not ours to judge: Stripe says to discard other elements
            if name == "t":
                timestamps.append(value.strip())
            elif name == "v1" and _HEX64.fullmatch(value.strip()):
                signatures.append(value.strip().lower())
        if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
            raise WebhookVerificationError(
                f"malformed header {_HEADER}: expected one t=<seconds since the epoch>"
            )
        if not signatures:
            raise WebhookVerificationError(
                f"malformed header {_HEADER}: no v1=<64 hex digits> signature"
            )
        return timestamps[0], signatures

    def signatures(self, headers: Headers) -> list[str]:
        return self._elements(headers)[1]

    def timestamp(self, headers: Headers) -> str | None:
        return self._elements(headers)[0]

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[bytes],
        url: str | None,
        now: float,
    ) -> VerifiedDelivery:
        """Check the signature with every secret; see `WebhookVerifier.verify`."""
        del url, now  # Stripe signs no URL; the tolerance is checked by `verify`
        timestamp, offered = self._elements(headers)
        content = self.signed_content(body=body, timestamp=timestamp, id=None, url=None)
        matched = False
        for key in self.keys(secrets):
            expected = self.signature(key, content).encode()
            for candidate in offered:
                # Not short-circuited: every comparison runs, in constant time.
                matched |= hmac.compare_digest(expected, candidate.encode())
        if not matched:
            raise WebhookVerificationError("signature mismatch")
        data: Any = msgspec.UNSET
        event_id = None
        try:
            data = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            pass  # signed, so not rejected; WebhookEvent.data is left to `verify`
        else:
            if isinstance(data, Mapping) and isinstance(data.get("id"), str):
                event_id = data["id"] or None
        return VerifiedDelivery(id=event_id, timestamp=int(timestamp), data=data)

    def __repr__(self) -> str:
        return "StripeVerifier()"


class StripeEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A Stripe Event, normalised.

    Attributes:
        id: the event's id (``evt_...``).
        type: what happened (``payment_intent.succeeded``, ``charge.refunded``...).
        created: when Stripe created the event (UTC).
        object: ``data.object``: the object the event is about, as Stripe sent it (a
            PaymentIntent's ``id`` is the ``vendor_id`` of a `Payment`).
        previous_attributes: ``data.previous_attributes`` of an ``*.updated`` event.
        livemode: whether the event comes from live mode.
        api_version: the API version the event's object is rendered in.
        raw: the whole event.
    """

    id: str
    type: str
    created: datetime
    object: Mapping[str, Any]
    previous_attributes: Mapping[str, Any] | None = None
    livemode: bool = False
    api_version: str | None = None
    raw: Any = None


def read_event(event: WebhookEvent | bytes | Mapping[str, Any]) -> StripeEvent:
    """The `StripeEvent` in a verified delivery (or its body, or its decoded JSON).

    A ``ValueError`` says what is missing when the body is not a Stripe Event.
    """
    data: Any = event.data if isinstance(event, WebhookEvent) else event
    if isinstance(data, bytes | bytearray):
        try:
            data = msgspec.json.decode(data)
        except (msgspec.DecodeError, RecursionError):
            raise ValueError("the body is not JSON, so not a Stripe Event") from None
    if not isinstance(data, Mapping) or data.get("object") != "event":
        raise ValueError('not a Stripe Event: expected a JSON object with "object": "event"')
    inner = data.get("data")
    created = data.get("created")
    problems = [
        name
        for name, ok in (
            ("id", isinstance(data.get("id"), str)),
            ("type", isinstance(data.get("type"), str)),
            ("created", type(created) is int and 0 <= created <= _LAST),
            (
                "data.object",
                isinstance(inner, Mapping) and isinstance(inner.get("object"), Mapping),
            ),
        )
        if not ok
    ]
    if problems:
        raise ValueError(f"not a Stripe Event: missing or malformed {', '.join(problems)}")
    assert isinstance(inner, Mapping)
    assert isinstance(created, int)
    previous = inner.get("previous_attributes")
    version = data.get("api_version")
    return StripeEvent(
        id=data["id"],
        type=data["type"],
        created=datetime.fromtimestamp(created, UTC),
        object=inner["object"],
        previous_attributes=previous if isinstance(previous, Mapping) else None,
        livemode=data.get("livemode") is True,
        api_version=version if isinstance(version, str) else None,
        raw=data,
    )


#: The instance the plugin registers under ``stripe``.
STRIPE = StripeVerifier()
