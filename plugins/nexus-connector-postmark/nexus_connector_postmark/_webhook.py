"""The ``postmark`` webhook verifier: HTTP Basic credentials, since Postmark signs nothing.

Postmark's webhooks carry no signature. Its documentation recommends protecting the webhook
URL with HTTP Basic authentication (``https://<username>:<password>@example.com/webhook``
as the webhook URL, which Postmark sends as an ``Authorization: Basic`` header) or an IP
allow-list (https://postmarkapp.com/developer/webhooks/webhooks-overview). This verifier
checks the first; the secrets are the accepted ``username:password`` pairs::

    from nexus_connector_core.webhooks import verify
    from nexus_connector_postmark import normalise_event

    event = verify("postmark", headers=request.headers, body=raw_body,
                   secret=["hooks:new-password", "hooks:old-password"])
    postmark_event = normalise_event(event.data)

Basic credentials prove who sent the request, not that the body is untouched, and they carry
no time: use HTTPS, and know that the ``tolerance`` of `verify` has nothing to check.
"""

from __future__ import annotations

import binascii
import hmac
from base64 import b64decode
from collections.abc import Sequence

from nexus_connector_core import WebhookVerificationError
from nexus_connector_core.webhooks import Headers, VerifiedDelivery

__all__ = ["POSTMARK_BASIC_AUTH", "BasicAuthVerifier"]


class BasicAuthVerifier:
    """Accepts a delivery whose ``Authorization: Basic`` credentials match a secret.

    Each secret is ``username:password`` as written in the webhook URL; keep both to
    letters, digits, ``-`` and ``_`` so that the URL needs no percent-encoding. Comparison
    is constant-time and every secret is compared, so timing tells nothing about which one
    nearly matched.
    """

    name = "postmark"

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[bytes],
        url: str | None,
        now: float,
    ) -> VerifiedDelivery:
        """Check the credentials; see `nexus_connector_core.webhooks.WebhookVerifier`."""
        offered = _credentials(headers.require("Authorization"))
        matched = False
        for secret in secrets:
            matched |= hmac.compare_digest(offered, secret)
        if not matched:
            raise WebhookVerificationError("credentials mismatch", verifier=self.name)
        return VerifiedDelivery()


def _credentials(header: str) -> bytes:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise WebhookVerificationError("malformed header Authorization: expected Basic credentials")
    try:
        credentials = b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(
            "malformed header Authorization: credentials are not base64"
        ) from None
    if b":" not in credentials:
        raise WebhookVerificationError(
            "malformed header Authorization: expected base64 of username:password"
        )
    return credentials


#: The instance the plugin registers as ``postmark``.
POSTMARK_BASIC_AUTH = BasicAuthVerifier()
