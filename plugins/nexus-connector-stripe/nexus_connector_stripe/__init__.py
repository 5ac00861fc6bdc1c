"""Stripe for Nexus Connector: the ``stripe`` payment vendor and webhook verifier.

``vendor = "stripe"`` takes payments through Stripe's PaymentIntents API (form-encoded,
``Authorization: Bearer`` with the secret key, a pinned ``Stripe-Version``), with an
``Idempotency-Key`` on every mutating request; ``webhooks.verify("stripe", ...)`` checks
the ``Stripe-Signature`` of Stripe's webhooks and `read_event` reads the event.
`nexus_connector_stripe.testing` has a local Stripe double.

Names load on first use, so that plugin discovery, which imports ``.plugin``, stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = [
    "__version__",
    "AsyncStripePaymentAdapter",
    "STRIPE",
    "StripeEvent",
    "StripeOptions",
    "StripePaymentAdapter",
    "StripeVerifier",
    "read_event",
]

if TYPE_CHECKING:
    from ._adapter import AsyncStripePaymentAdapter, StripePaymentAdapter
    from ._options import StripeOptions
    from ._webhooks import STRIPE, StripeEvent, StripeVerifier, read_event
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "AsyncStripePaymentAdapter": "_adapter",
            "StripePaymentAdapter": "_adapter",
            "StripeOptions": "_options",
            "STRIPE": "_webhooks",
            "StripeEvent": "_webhooks",
            "StripeVerifier": "_webhooks",
            "read_event": "_webhooks",
        },
    )
