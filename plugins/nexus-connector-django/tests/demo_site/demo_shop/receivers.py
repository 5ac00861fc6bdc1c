"""What the shop does with Stripe's events: here, keep them."""

from typing import Any

from django.dispatch import receiver
from nexus_connector_django import webhook_received

from nexus_connector_core.webhooks import WebhookEvent

#: The events received, in order (tests read and clear it).
received: list[WebhookEvent] = []
#: Set to an exception to make the receiver fail (tests of a failing handler).
failing: list[Exception] = []


@receiver(webhook_received, sender="stripe")
def on_stripe_event(sender: str, event: WebhookEvent, **kwargs: Any) -> None:
    if failing:
        raise failing.pop()
    received.append(event)
