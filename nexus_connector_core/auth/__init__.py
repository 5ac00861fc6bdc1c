"""Auth for vendor HTTP APIs, as `httpx.Auth` flows that work on sync and async clients.

- `ApiKeyAuth` (header or query parameter), `BearerAuth`, `BasicAuth`: static credentials;
- `HmacAuth`: signs each request over a configurable canonical string;
- `OAuth2ClientCredentials`, `OAuth2RefreshToken`: tokens cached in the state backend,
  refreshed before expiry once for all callers and workers, one forced refresh and replay
  on a 401; token requests run through the connector's resilience policies.

Every secret is a `Secret`: no repr, str or error message shows it.

    >>> import httpx
    >>> from nexus_connector_core.auth import ApiKeyAuth
    >>> client = httpx.Client(auth=ApiKeyAuth("k-123", header="X-API-Key"))
"""

from __future__ import annotations

from ._hmac import DEFAULT_TEMPLATE, HmacAuth
from ._oauth2 import OAuth2Auth, OAuth2ClientCredentials, OAuth2RefreshToken
from ._oauth2_settings import OAuth2Keywords, OAuth2Options, OAuth2Wiring, token_resilience
from ._simple import ApiKeyAuth, BasicAuth, BearerAuth

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "DEFAULT_TEMPLATE",
    "HmacAuth",
    "OAuth2Auth",
    "OAuth2ClientCredentials",
    "OAuth2Keywords",
    "OAuth2Options",
    "OAuth2RefreshToken",
    "OAuth2Wiring",
    "token_resilience",
]
