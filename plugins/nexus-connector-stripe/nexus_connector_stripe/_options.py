"""The ``options`` table of a connector whose vendor is ``stripe``."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

import msgspec

from nexus_connector_core.http import HttpTransport

__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "StripeOptions"]

#: Stripe's API origin; the adapter appends ``/v1/payment_intents``, ``/v1/refunds``.
DEFAULT_BASE_URL = "https://api.stripe.com"

#: The ``Stripe-Version`` every request pins unless the options name another. From this
#: version on (2025-03-31.basil) a partial capture or a cancellation no longer counts as a
#: refund in the Charge's ``amount_refunded``, which is how the adapter reads `refunded`.
API_VERSION = "2025-03-31.basil"

_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(\.[a-z]+)?")


class StripeOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the adapter talks to Stripe. Every field is optional::

        [connectors.payment]
        vendor = "stripe"
        credentials = { api_key = "env:STRIPE_SECRET_KEY" }
        options = { api_version = "2025-03-31.basil" }

    >>> StripeOptions().base_url, StripeOptions().api_version
    ('https://api.stripe.com', '2025-03-31.basil')
    """

    #: The origin requests go to (a proxy, a local test server), with a path prefix if the
    #: proxy needs one; the adapter appends Stripe's paths, version prefix included
    #: (``/v1/payment_intents``).
    base_url: str = DEFAULT_BASE_URL
    #: The ``Stripe-Version`` header of every request, so that an upgrade of the account's
    #: default version changes nothing here: ``2025-03-31.basil`` or later.
    api_version: str = API_VERSION
    #: Seconds an HTTP request may take when the pipeline gives no per-attempt timeout,
    #: from 0.001 to 86400; the connector's ``resilience.timeout`` wins whenever set.
    timeout: Annotated[float, msgspec.Meta(ge=0.001, le=86_400)] = 30.0
    #: The asynchronous adapter's transport: ``auto`` (aiohttp's under httpx's API when
    #: ``nexus-connector-core[aiohttp]`` is installed, else httpx's), ``httpx`` or
    #: ``aiohttp``. The synchronous adapter always uses httpx's.
    transport: HttpTransport = "auto"

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL!r}, "
                f"got {self.base_url!r}"
            )
        if parts.query or parts.fragment:
            raise ValueError(
                "base_url takes no query or fragment (the adapter appends /v1/... to it), "
                f"such as {DEFAULT_BASE_URL!r}; got {self.base_url!r}"
            )
        match = _VERSION.fullmatch(self.api_version)
        if match is None or match[1] < API_VERSION[:10]:
            raise ValueError(
                f"api_version must be a Stripe API version from {API_VERSION!r} on "
                f"(YYYY-MM-DD.name), got {self.api_version!r}: earlier versions count a "
                "partial capture as a refund"
            )
