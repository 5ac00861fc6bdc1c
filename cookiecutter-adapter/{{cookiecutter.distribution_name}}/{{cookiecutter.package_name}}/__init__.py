{%- set C = cookiecutter.__class -%}
{%- set CAT = {"sms": "Sms", "email": "Email", "payment": "Payment", "cloud_storage": "Storage", "shipping": "Shipping"}[cookiecutter.category] -%}
"""{{ cookiecutter.vendor_name }} for Nexus Connector: the ``{{ cookiecutter.vendor_key }}`` {{ cookiecutter.category }} vendor.

``vendor = "{{ cookiecutter.vendor_key }}"`` in a connector's table calls {{ cookiecutter.vendor_name }}'s HTTP API;
`{{ cookiecutter.package_name }}.testing` has a local {{ cookiecutter.vendor_name }} for tests.

Names load on first use, so that plugin discovery, which imports ``.plugin``, stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = [
{%- for name in ["Async" ~ C ~ CAT ~ "Adapter", C ~ "Options", C ~ CAT ~ "Adapter"] | sort(case_sensitive=true) %}
    "{{ name }}",
{%- endfor %}
    "__version__",
]

if TYPE_CHECKING:
    from ._adapter import (
{%- for name in ["Async" ~ C ~ CAT ~ "Adapter", C ~ CAT ~ "Adapter"] | sort(case_sensitive=true) %}
        {{ name }},
{%- endfor %}
    )
    from ._options import {{ C }}Options
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "Async{{ C }}{{ CAT }}Adapter": "_adapter",
            "{{ C }}{{ CAT }}Adapter": "_adapter",
            "{{ C }}Options": "_options",
        },
    )
