"""Static credentials sent with every request: an API key, a bearer token, HTTP Basic.

Each is an `httpx.Auth`, so one object serves `httpx.Client` and `httpx.AsyncClient`. The
values are kept as `Secret`s and revealed only while a request is being built: repr and str
never show them.

    >>> import httpx
    >>> auth = BearerAuth("sk_live_123")
    >>> auth
    BearerAuth(token=Secret('**********'))
    >>> request = next(auth.auth_flow(httpx.Request("GET", "https://api.example/v1/me")))
    >>> request.headers["Authorization"]
    'Bearer sk_live_123'
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Callable, Generator

import httpx

from .._credentials import Secret
from .._errors import ConfigError

__all__ = ["ApiKeyAuth", "BasicAuth", "BearerAuth", "as_secret", "header_value", "static_header"]

#: What an HTTP field value may not hold (RFC 9110 5.5): a line break would end the header.
FORBIDDEN_IN_HEADERS = frozenset("\r\n\x00")


def as_secret(value: Secret | str, what: str) -> Secret:
    """`value` as a `Secret`; `what` names it in the error for a wrong type."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    raise TypeError(f"{what} must be a Secret or a str, got {type(value).__name__}")


def header_value(value: str, what: str) -> str:
    """`value`, checked to be sendable in a header; else a `ConfigError` naming `what` (never
    the value): a secret read with its trailing newline (``echo`` into a file, a Kubernetes
    secret) would otherwise fail deep in the HTTP client, quoting itself in the error."""
    if not FORBIDDEN_IN_HEADERS.isdisjoint(value):
        raise ConfigError(
            f"the {what} contains a line break or NUL, which an HTTP header cannot carry; "
            "check the secret for a trailing newline or stray characters"
        )
    return value


class ApiKeyAuth(httpx.Auth):
    """An API key in a request header (``X-API-Key`` by default) or a query parameter.

    >>> ApiKeyAuth("k-123", header="Authorization", prefix="Token ")
    ApiKeyAuth(header='Authorization', key=Secret('**********'))
    >>> ApiKeyAuth("k-123", query="api_key")
    ApiKeyAuth(query='api_key', key=Secret('**********'))

    Prefer a header: a key in the query string is part of the URL, which proxies, access
    logs and httpx's own request log record.
    """

    def __init__(
        self,
        key: Secret | str,
        *,
        header: str | None = None,
        query: str | None = None,
        prefix: str = "",
    ) -> None:
        if header is not None and query is not None:
            raise ValueError("send the API key in a header or in the query, not both")
        if header is None and query is None:
            header = "X-API-Key"
        if prefix and query is not None:
            raise ValueError("prefix applies to a header; a query parameter carries the bare key")
        self._key = as_secret(key, "key")
        self.header = header
        self.query = query
        self.prefix = prefix

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.query is not None:
            request.url = request.url.copy_merge_params({self.query: self._key.reveal()})
        else:
            name, value = self.header_pair()
            request.headers[name] = value
        yield request

    def header_pair(self) -> tuple[str, str]:
        """The header (name, value) this auth sets, the key revealed now (a header key)."""
        assert self.header is not None, "an API key sent in the query has no header"
        return self.header, header_value(
            self.prefix + self._key.reveal(), f"API key for the {self.header} header"
        )

    def __repr__(self) -> str:
        where = f"header={self.header!r}" if self.query is None else f"query={self.query!r}"
        return f"ApiKeyAuth({where}, key={self._key!r})"


class BearerAuth(httpx.Auth):
    """A static token sent as ``Authorization: Bearer <token>`` (RFC 6750).

    For tokens that expire, use `OAuth2ClientCredentials` or `OAuth2RefreshToken`.
    """

    def __init__(self, token: Secret | str) -> None:
        self._token = as_secret(token, "token")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        name, value = self.header_pair()
        request.headers[name] = value
        yield request

    def header_pair(self) -> tuple[str, str]:
        """The header (name, value) this auth sets, the token revealed now."""
        return "Authorization", header_value(f"Bearer {self._token.reveal()}", "bearer token")

    def __repr__(self) -> str:
        return f"BearerAuth(token={self._token!r})"


class BasicAuth(httpx.Auth):
    """HTTP Basic (RFC 7617): ``Authorization: Basic base64(username:password)``.

    Some vendors put the secret in the username (Stripe's API key, with an empty password),
    so the repr masks both.

    >>> BasicAuth("ACxxxxxxxx", "auth-token")
    BasicAuth(username='**********', password='**********')
    """

    def __init__(self, username: Secret | str, password: Secret | str = "") -> None:
        self._username = as_secret(username, "username")
        self._password = as_secret(password, "password")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        name, value = self.header_pair()
        request.headers[name] = value
        yield request

    def header_pair(self) -> tuple[str, str]:
        """The header (name, value) this auth sets, the credentials revealed now."""
        pair = f"{self._username.reveal()}:{self._password.reveal()}".encode()
        return "Authorization", "Basic " + b64encode(pair).decode("ascii")

    def __repr__(self) -> str:
        return f"BasicAuth(username='{self._username}', password='{self._password}')"


def static_header(auth: httpx.Auth | None) -> Callable[[], tuple[str, str]] | None:
    """How to make the one header `auth` sets on each request, when that is all its flow
    does: the `header_pair` of a `BearerAuth`, a `BasicAuth` or an `ApiKeyAuth` sent in a
    header, exactly these classes (a subclass may do more). Clients that know it (the HTTP
    toolkit's adapters) set that header instead of running the flow, which costs a
    generator and a header lookup a request; any other auth is run as a flow."""
    exact = type(auth) in (BearerAuth, BasicAuth, ApiKeyAuth)
    if not exact or (isinstance(auth, ApiKeyAuth) and auth.query is not None):
        return None
    assert isinstance(auth, BearerAuth | BasicAuth | ApiKeyAuth)
    return auth.header_pair
