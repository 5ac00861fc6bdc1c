{%- set C = cookiecutter.__class -%}
"""The ``options`` table of a connector whose vendor is ``{{ cookiecutter.vendor_key }}``."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["DEFAULT_BASE_URL", "{{ C }}Options"]

#: {{ cookiecutter.vendor_name }}'s API origin; the adapter appends its paths (``/v1/...``).
#: TODO(vendor): {{ cookiecutter.vendor_name }}'s production origin, from its API reference.
DEFAULT_BASE_URL = "https://api.{{ cookiecutter.vendor_key.replace('_', '-') }}.example"


class {{ C }}Options(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
):
    """How the adapter talks to {{ cookiecutter.vendor_name }}. Every field is optional.

    >>> {{ C }}Options().base_url == DEFAULT_BASE_URL
    True
    """

    #: The API's origin: {{ cookiecutter.vendor_name }}'s, a sandbox, a proxy, or a local double.
    base_url: str = DEFAULT_BASE_URL
{%- if cookiecutter.auth_method == "oauth2_client_credentials" %}
    #: Where access tokens come from (None: ``base_url`` + ``/oauth/token``).
    token_url: str | None = None
{%- endif %}
    #: Seconds a request may take when the connector sets no timeout, from 0.001 to 86400.
    timeout: Annotated[float, msgspec.Meta(ge=0.001, le=86_400)] = 30.0

    def __post_init__(self) -> None:
        for name in ({% if cookiecutter.auth_method == "oauth2_client_credentials" %}"base_url", "token_url"{% else %}"base_url",{% endif %}):
            value = getattr(self, name)
            if value is not None and not value.startswith(("https://", "http://")):
                raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
