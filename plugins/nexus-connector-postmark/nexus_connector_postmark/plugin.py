"""Entry-point module: registers the ``postmark`` email vendor and webhook verifier by name.

Nothing here imports httpx or the adapter: they load when a connector first uses Postmark.
"""

from nexus_connector_core import Registrar, hookimpl

_PACKAGE = "nexus_connector_postmark"


@hookimpl
def register_email_vendors(register: Registrar) -> None:
    register(
        "postmark",
        f"{_PACKAGE}._adapter:PostmarkEmailAdapter",
        async_impl=f"{_PACKAGE}._adapter:AsyncPostmarkEmailAdapter",
        options=f"{_PACKAGE}._options:PostmarkOptions",
        credentials=("server_token",),
        # Postmark has no idempotency keys: a send that may have reached it is never retried.
        idempotency_keys=False,
        description="Postmark HTTP API: /email and /email/batch (X-Postmark-Server-Token)",
    )


@hookimpl
def register_webhook_verifiers(register: Registrar) -> None:
    register(
        "postmark",
        f"{_PACKAGE}._webhook:POSTMARK_BASIC_AUTH",
        description="Postmark webhooks: HTTP Basic credentials of the webhook URL",
    )
