"""Entry-point module: registers the ``smtp`` email vendor by name.

Nothing here imports smtplib or aiosmtplib: the adapters load when a connector first uses
``vendor = "smtp"``.
"""

from nexus_connector_core import Registrar, hookimpl


@hookimpl
def register_email_vendors(register: Registrar) -> None:
    register(
        "smtp",
        "nexus_connector_smtp._sync:SmtpEmailAdapter",
        async_impl="nexus_connector_smtp._async:AsyncSmtpEmailAdapter",
        options="nexus_connector_smtp._options:SmtpOptions",
        # username and password are optional: an open relay or a local server takes none.
        credentials=(),
        idempotency_keys=False,
        description="email over SMTP (STARTTLS or implicit TLS, AUTH), smtplib / aiosmtplib",
    )
