"""Verify incoming webhooks: signatures, timestamps, rotation, replays.

>>> from nexus_connector_core.webhooks import verify
>>> event = verify("github", headers=request.headers, body=raw_body,
...                secret="It's a Secret to Everybody")          # doctest: +SKIP

`verify` returns a `WebhookEvent` (``id``, ``timestamp``, raw ``body``, decoded ``data``,
``verifier``) or raises `WebhookVerificationError` whose ``reason`` says why: a missing or
malformed header, a signature that matches none of the secrets, a timestamp outside the
tolerance (five minutes by default, both ways), a body over the size limit, or (with a state
backend) a replayed message id, remembered for three days (`DEFAULT_REPLAY_WINDOW`).
`receive` does the same and holds the id only while your handler runs (on a lease that a
heartbeat extends), so a delivery whose handling failed is accepted when the sender retries
it, and a duplicate is refused however long the handler runs.

Built in: ``github``, ``slack``, ``shopify``, ``standard-webhooks`` and ``hmac``, the generic
scheme configured with `HmacOptions`. A vendor plugin registers its own scheme under
``register_webhook_verifiers``, usually by configuring or subclassing `HmacVerifier`; see
`WebhookVerifier` for the contract.
"""

from __future__ import annotations

from .._errors import WebhookVerificationError
from ._async_entry import areceive, averify
from ._entry import receive, verify
from ._event import WebhookEvent, decode_body
from ._headers import Headers, HeadersInput
from ._hmac import HmacOptions, HmacVerifier
from ._lease import DEFAULT_LEASE
from ._standard import StandardWebhooksVerifier
from ._verifier import VerifiedDelivery, WebhookVerifier
from ._verify import (
    DEFAULT_MAX_BODY,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_TOLERANCE,
    SecretInput,
)

__all__ = [
    "verify",
    "averify",
    "receive",
    "areceive",
    "WebhookEvent",
    "WebhookVerificationError",
    "DEFAULT_LEASE",
    "DEFAULT_MAX_BODY",
    "DEFAULT_REPLAY_WINDOW",
    "DEFAULT_TOLERANCE",
    "SecretInput",
    # for plugin authors
    "WebhookVerifier",
    "VerifiedDelivery",
    "Headers",
    "HeadersInput",
    "HmacOptions",
    "HmacVerifier",
    "StandardWebhooksVerifier",
    "decode_body",
]
