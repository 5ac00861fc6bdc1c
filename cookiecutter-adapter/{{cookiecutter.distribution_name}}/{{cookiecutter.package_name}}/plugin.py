{%- set C = cookiecutter.__class -%}
{%- set CAT = {"sms": "Sms", "email": "Email", "payment": "Payment", "cloud_storage": "Storage", "shipping": "Shipping"}[cookiecutter.category] -%}
"""Entry-point module: registers the ``{{ cookiecutter.vendor_key }}`` {{ cookiecutter.category }} vendor by name.

Discovery imports only this module; the adapters (and httpx) load when a connector first
uses the vendor.
"""

from nexus_connector_core import Registrar, hookimpl

_PACKAGE = "{{ cookiecutter.package_name }}"


@hookimpl
def register_{{ cookiecutter.category }}_vendors(register: Registrar) -> None:
    register(
        "{{ cookiecutter.vendor_key }}",
        f"{_PACKAGE}._adapter:{{ C }}{{ CAT }}Adapter",
        async_impl=f"{_PACKAGE}._adapter:Async{{ C }}{{ CAT }}Adapter",
        options=f"{_PACKAGE}._options:{{ C }}Options",
{%- if cookiecutter.auth_method in ("bearer", "api_key_header") %}
        credentials=("api_key",),
{%- elif cookiecutter.auth_method == "basic" %}
        credentials=("username", "password"),
{%- elif cookiecutter.auth_method == "oauth2_client_credentials" %}
        credentials=("client_id", "client_secret"),
{%- endif %}
{%- if cookiecutter.category == "payment" %}
        # {{ cookiecutter.vendor_name }} answers a repeated Idempotency-Key from its own store
        # (TODO(vendor): check its API reference; set False if it keeps no keys).
        idempotency_keys=True,
{%- else %}
        # TODO(vendor): True if {{ cookiecutter.vendor_name }} dedupes requests by an idempotency
        # key (send ctx.idempotency_key in _adapter.py then).
        idempotency_keys=False,
{%- endif %}
        description="{{ cookiecutter.vendor_name }} {{ {"sms": "SMS", "cloud_storage": "object storage"}.get(cookiecutter.category, cookiecutter.category) }} API (HTTP)",
    )
