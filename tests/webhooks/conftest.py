"""Fixtures of the webhook tests: a registry with the built-in verifiers, and a signer.

The signer writes deliveries the way each vendor documents it, with `hmac` and `base64`
directly, so the tests check the verifiers against the schemes, not against themselves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import ClassVar

import pytest

from nexus_connector_core import PluginRegistry, hookimpl
from nexus_connector_core.hookspecs import Registrar

#: Seconds since the epoch at which the tests' deliveries are signed and checked.
SIGNED_AT = 1_767_225_600

_PRESETS = "nexus_connector_core.webhooks._presets"


class BuiltinWebhookVerifiers:
    """The registrations the built-in plugin makes (``_builtin.register_webhook_verifiers``).

    Registered on a registry without the built-in plugin, so the tests neither depend on nor
    conflict with the built-in plugin's own registration of the same keys.
    """

    @hookimpl
    def register_webhook_verifiers(self, register: Registrar) -> None:
        register(
            "hmac",
            "nexus_connector_core.webhooks._hmac:HmacVerifier.from_options",
            options="nexus_connector_core.webhooks._hmac:HmacOptions",
            description="generic HMAC signature: header, algorithm, encoding, signed content",
        )
        register(
            "standard-webhooks",
            f"{_PRESETS}:STANDARD_WEBHOOKS",
            description="Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature",
        )
        register("github", f"{_PRESETS}:GITHUB", description="GitHub: X-Hub-Signature-256")
        register("slack", f"{_PRESETS}:SLACK", description="Slack: X-Slack-Signature (v0)")
        register("shopify", f"{_PRESETS}:SHOPIFY", description="Shopify: X-Shopify-Hmac-Sha256")


@pytest.fixture(scope="session")
def webhook_registry() -> PluginRegistry:
    """A registry offering exactly the built-in webhook verifiers."""
    registry = PluginRegistry(builtins=False)
    registry.register(BuiltinWebhookVerifiers(), name="webhook-verifiers")
    return registry


class Signer:
    """Signs a delivery for a verifier key; returns its headers."""

    secrets: ClassVar[dict[str, str]] = {
        "github": "gh-webhook-secret",
        "slack": "8f742231b10e8888abcd99yyyzzz85a5",
        "shopify": "shpss_0123456789abcdef",
        "standard-webhooks": "whsec_" + base64.b64encode(b"k" * 24).decode(),
    }

    @staticmethod
    def _hmac(key: bytes, content: bytes) -> bytes:
        return hmac.new(key, content, hashlib.sha256).digest()

    def github(self, body: bytes, secret: str, delivery: str = "72d3162e") -> dict[str, str]:
        digest = self._hmac(secret.encode(), body).hex()
        return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery}

    def slack(self, body: bytes, secret: str, timestamp: int = SIGNED_AT) -> dict[str, str]:
        digest = self._hmac(secret.encode(), f"v0:{timestamp}:".encode() + body).hex()
        return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": str(timestamp)}

    def shopify(self, body: bytes, secret: str, webhook_id: str = "b54557e4") -> dict[str, str]:
        digest = base64.b64encode(self._hmac(secret.encode(), body)).decode()
        return {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Webhook-Id": webhook_id}

    def standard(
        self, body: bytes, secret: str, msg_id: str = "msg_1", timestamp: int = SIGNED_AT
    ) -> dict[str, str]:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        content = f"{msg_id}.{timestamp}.".encode() + body
        signature = base64.b64encode(self._hmac(key, content)).decode()
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{signature}",
        }

    def sign(self, key: str, body: bytes, *, secret: str | None = None) -> dict[str, str]:
        """Headers of a valid delivery of `body` for the verifier `key`, signed at SIGNED_AT."""
        secret = secret or self.secrets[key]
        if key == "standard-webhooks":
            return self.standard(body, secret)
        method = getattr(self, key)
        headers: dict[str, str] = method(body, secret)
        return headers


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()
