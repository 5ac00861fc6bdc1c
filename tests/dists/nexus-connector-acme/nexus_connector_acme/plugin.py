"""Entry-point module: registers by name only, so discovery imports nothing heavy."""

from nexus_connector_core import Registrar, hookimpl


@hookimpl
def register_email_vendors(register: Registrar) -> None:
    register(
        "acme",
        "nexus_connector_acme.adapter:AcmeEmailAdapter",
        async_impl="nexus_connector_acme.adapter:AsyncAcmeEmailAdapter",
        options="nexus_connector_acme.options:AcmeOptions",
        credentials=("api_key",),
        description="Acme Mail (test fixture)",
    )
