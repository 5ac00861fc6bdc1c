"""Entry-point module: registers the ``smtp`` email vendor by name.

Nothing here imports smtplib or aiosmtplib: the adapters load when a connector first uses
``vendor = "smtp"``.
"""

from nexus_connector_core import Registrar, hookimpl

_PACKAGE = "nexus_connector_smtp"


@hookimpl
def register_email_vendors(register: Registrar) -> None:
    register(
        "smtp",
        f"{_PACKAGE}._adapter:SmtpEmailAdapter",
        async_impl=f"{_PACKAGE}._adapter:AsyncSmtpEmailAdapter",
        options=f"{_PACKAGE}._options:SmtpOptions",
        # username and password are optional: an open relay or a local server takes none.
        credentials=(),
        # SMTP has no idempotency keys: a send that may have reached the server is never
        # retried.
        idempotency_keys=False,
        description="email over SMTP (STARTTLS or implicit TLS, AUTH), smtplib / aiosmtplib",
    )
