"""Standard Webhooks (standardwebhooks.com): the scheme of Svix and the vendors that use it.

``webhook-signature`` holds space-separated ``v1,<base64 HMAC-SHA256>`` entries (several
during a key rotation) of ``{webhook-id}.{webhook-timestamp}.{body}``; the secret is written
``whsec_<base64 of the key>``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from .._errors import WebhookVerificationError
from ._headers import Headers
from ._hmac import HmacVerifier

__all__ = ["StandardWebhooksVerifier"]

_SECRET_PREFIX = b"whsec_"
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


class StandardWebhooksVerifier(HmacVerifier):
    """Verifies Standard Webhooks deliveries (symmetric ``v1`` signatures).

    >>> verifier = StandardWebhooksVerifier()                       # webhook-id, ...
    >>> svix = StandardWebhooksVerifier(name="svix", header_prefix="svix-")

    Secrets are given as the sender shows them, ``whsec_`` followed by base64; any other
    secret is used as the raw key. Entries of other versions (``v1a``, asymmetric) are
    skipped: a delivery signed only with those is rejected.
    """

    def __init__(self, *, name: str = "standard-webhooks", header_prefix: str = "webhook-") -> None:
        super().__init__(
            name=name,
            header=f"{header_prefix}signature",
            encoding="base64",
            prefix="v1,",
            signed_content="{id}.{timestamp}.{body}",
            timestamp_header=f"{header_prefix}timestamp",
            id_header=f"{header_prefix}id",
        )

    def signatures(self, headers: Headers) -> list[str]:
        header = self.options.header
        offered = [
            entry[len("v1,") :]
            for entry in headers.require(header).split()
            if entry.startswith("v1,")
        ]
        if not offered:
            raise WebhookVerificationError(
                f"malformed header {header}: expected space-separated 'v1,<base64>' entries"
            )
        return offered

    def keys(self, secrets: Sequence[bytes]) -> Sequence[bytes]:
        return [_key(secret) for secret in secrets]

    def __repr__(self) -> str:
        return f"StandardWebhooksVerifier(name={self.name!r})"


def _key(secret: bytes) -> bytes:
    if not secret.startswith(_SECRET_PREFIX):
        return secret
    encoded = secret[len(_SECRET_PREFIX) :].rstrip(b"=")
    try:
        if not _BASE64.fullmatch(encoded):
            raise ValueError("not base64")
        # Senders show the key with or without padding; restore it before decoding.
        key = base64.b64decode(encoded + b"=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise WebhookVerificationError(
            "a configured secret starts with 'whsec_' but the rest is not base64: copy the "
            "signing secret again from the sender's dashboard"
        )
    return key
