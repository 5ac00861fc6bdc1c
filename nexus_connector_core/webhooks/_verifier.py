"""What a webhook verifier is: the protocol a plugin implements for its vendor's scheme.

A verifier checks one delivery against one scheme and says what it learned; everything
that is the same for every scheme (the body-size limit, turning secrets into bytes, the
timestamp tolerance, replay protection, decoding the body, the `WebhookEvent`) is done
once, by `verify`, around it.

Writing one for a vendor (Stripe signs ``t=<ts>,v1=<hex>`` in one header; Twilio signs the
URL and the sorted form fields): configure or subclass `HmacVerifier` when the scheme is an
HMAC, else implement `WebhookVerifier` directly, and register an instance::

    from nexus_connector_core import hookimpl

    @hookimpl
    def register_webhook_verifiers(register):
        register("stripe", "nexus_connector_stripe.webhooks:STRIPE",
                 description="Stripe-Signature: t=...,v1=... (HMAC-SHA256)")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec

from ._headers import Headers

__all__ = ["VerifiedDelivery", "WebhookVerifier"]


class VerifiedDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """What a verifier vouches for once a delivery's signature checks out.

    Attributes:
        id: the message id, when the scheme has one (``webhook-id``, ``X-GitHub-Delivery``);
            `verify` uses it for replay protection.
        timestamp: seconds since the epoch *as signed* (never an unsigned header): `verify`
            rejects it outside the tolerance. None when the scheme signs no time.
        data: the payload as the scheme defines it (Twilio's form fields), or UNSET to let
            `verify` decode the body as JSON or form fields.
    """

    id: str | None = None
    timestamp: int | float | None = None
    data: Any = msgspec.UNSET


@runtime_checkable
class WebhookVerifier(Protocol):
    """Checks one delivery against one vendor's signing scheme.

    Rules every implementation keeps (the core's tampering tests show how to check them):

    - Reject with `WebhookVerificationError` (a short reason: ``"missing header X"``,
      ``"malformed header X"``, ``"signature mismatch"``), never with another exception,
      whatever the headers and body hold.
    - Compare signatures with `hmac.compare_digest`; pass when any one of `secrets` matches
      (several are active while a secret is being rotated).
    - Never put a secret, an expected signature or a received header value in a reason.
    - Return the signed timestamp, but leave the tolerance check, replay protection and body
      decoding to `verify`.
    """

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[bytes],
        url: str | None,
        now: float,
    ) -> VerifiedDelivery:
        """Check the delivery; return what it vouches for or raise `WebhookVerificationError`.

        Args:
            headers: the delivery's headers, matched case-insensitively.
            body: the raw body, exactly as received.
            secrets: the active secrets, as configured, in UTF-8 (never empty).
            url: the full URL the delivery was sent to, for schemes that sign it.
            now: the current time in seconds since the epoch (pinned in tests).
        """
        ...
