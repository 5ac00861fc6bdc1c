"""Entry-point module: registers the ``twilio`` SMS vendor and webhook verifier by name.

Discovery imports only this module; the adapters (and httpx) load when a connector first
uses the vendor, the verifier when ``verify("twilio", ...)`` first asks for it.
"""

from nexus_connector_core import Registrar, hookimpl

_PACKAGE = "nexus_connector_twilio"


@hookimpl
def register_sms_vendors(register: Registrar) -> None:
    register(
        "twilio",
        f"{_PACKAGE}._adapter:TwilioSmsAdapter",
        async_impl=f"{_PACKAGE}._adapter:AsyncTwilioSmsAdapter",
        options=f"{_PACKAGE}._options:TwilioOptions",
        credentials=("account_sid", "auth_token"),
        # Twilio's Messages API takes no idempotency key: a send is never retried once it
        # may have reached Twilio.
        idempotency_keys=False,
        description="Twilio Programmable Messaging REST API (SMS)",
    )


@hookimpl
def register_webhook_verifiers(register: Registrar) -> None:
    register(
        "twilio",
        f"{_PACKAGE}._webhooks:TWILIO",
        description="Twilio: X-Twilio-Signature (HMAC-SHA1 of the URL and sorted form fields)",
    )
