"""The built-in verifiers, as the built-in plugin registers them (``module:attribute``)."""

from __future__ import annotations

from ._hmac import HmacVerifier
from ._standard import StandardWebhooksVerifier

__all__ = ["GITHUB", "SHOPIFY", "SLACK", "STANDARD_WEBHOOKS"]

#: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``; the id is
#: ``X-GitHub-Delivery`` (not signed). GitHub signs no timestamp.
GITHUB = HmacVerifier(
    name="github",
    header="X-Hub-Signature-256",
    prefix="sha256=",
    id_header="X-GitHub-Delivery",
)

#: ``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">`` with the time in
#: ``X-Slack-Request-Timestamp``. Slack sends no message id.
SLACK = HmacVerifier(
    name="slack",
    header="X-Slack-Signature",
    prefix="v0=",
    signed_content="v0:{timestamp}:{body}",
    timestamp_header="X-Slack-Request-Timestamp",
)

#: ``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>``; the id is
#: ``X-Shopify-Webhook-Id`` (not signed). Shopify signs no timestamp.
SHOPIFY = HmacVerifier(
    name="shopify",
    header="X-Shopify-Hmac-Sha256",
    encoding="base64",
    id_header="X-Shopify-Webhook-Id",
)

#: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>``.
STANDARD_WEBHOOKS = StandardWebhooksVerifier()
