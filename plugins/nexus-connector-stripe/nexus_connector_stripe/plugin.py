"""Entry-point module: registers the ``stripe`` payment vendor and webhook verifier by name.

Discovery imports only this module; the adapters (and httpx) load when a connector first
uses the vendor, the verifier when ``verify("stripe", ...)`` first asks for it.
"""

from nexus_connector_core import Registrar, hookimpl

_PACKAGE = "nexus_connector_stripe"


@hookimpl
def register_payment_vendors(register: Registrar) -> None:
    register(
        "stripe",
        f"{_PACKAGE}._adapter:StripePaymentAdapter",
        async_impl=f"{_PACKAGE}._adapter:AsyncStripePaymentAdapter",
        options=f"{_PACKAGE}._options:StripeOptions",
        credentials=("api_key",),
        # Stripe honours Idempotency-Key on every POST: the pipeline makes one per call
        # (before the first attempt, reused on every retry), so a charge whose answer was
        # lost is asked again, and answered from Stripe's store, never charged twice.
        idempotency_keys=True,
        description="Stripe PaymentIntents and Refunds (API v1)",
    )


@hookimpl
def register_webhook_verifiers(register: Registrar) -> None:
    register(
        "stripe",
        f"{_PACKAGE}._webhooks:STRIPE",
        description="Stripe: Stripe-Signature t=...,v1=... (HMAC-SHA256 of t.body)",
    )
