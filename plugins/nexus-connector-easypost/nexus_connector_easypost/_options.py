"""``[connectors.<name>.options]`` of the ``easypost`` shipping vendor."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from nexus_connector_core.http import HttpTransport

__all__ = ["DEFAULT_BASE_URL", "AddressVerification", "EasyPostOptions"]

#: EasyPost's API origin; the adapter appends the versioned paths (``/v2/shipments``...).
DEFAULT_BASE_URL = "https://api.easypost.com"

#: How `validate_address` asks EasyPost to verify: ``verify`` answers ``valid=False`` with
#: EasyPost's messages by field for an address it cannot verify; ``verify_strict`` makes
#: EasyPost refuse it (422), raised as `InvalidRequestError` with the same messages in
#: `VendorError.fields`.
AddressVerification = Literal["verify", "verify_strict"]


class EasyPostOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the adapter talks to EasyPost. Every field is optional::

        [connectors.shipping]
        vendor = "easypost"
        credentials = { api_key = "env:EASYPOST_API_KEY" }
        options = { address_verification = "verify_strict" }

    >>> EasyPostOptions().base_url
    'https://api.easypost.com'
    """

    #: The origin requests go to (a proxy, a local test server); the adapter appends
    #: EasyPost's paths, version prefix included (``/v2/shipments``).
    base_url: str = DEFAULT_BASE_URL
    #: How `validate_address` verifies (see `AddressVerification`).
    address_verification: AddressVerification = "verify"
    #: Seconds a request may take when the connector's resilience sets no timeout, from
    #: 0.001 to 86400; the connector's ``resilience.timeout`` wins whenever it is set.
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
        if parts.path.rstrip("/").endswith("/v2") or parts.query or parts.fragment:
            raise ValueError(
                f"base_url must be the origin ({DEFAULT_BASE_URL!r}, or a proxy's prefix) "
                f"without EasyPost's /v2 or a query: the adapter appends /v2/...; got "
                f"{self.base_url!r}"
            )
