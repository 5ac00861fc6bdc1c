"""Vendor ``http`` of category ``api``: any REST API whose endpoints the config declares,
on the core's HTTP toolkit (deadlines on the wall clock, ``request_sent``, one mapping of
httpx's failures and of error answers, ``traceparent``).

    [connectors.crm]
    category = "api"
    vendor = "http"
    options = { base_url = "https://crm.example.com/api" }
    auth = { kind = "bearer", token = "env:CRM_TOKEN" }

    [connectors.crm.endpoints.create_invoice]
    method = "POST"
    path = "/invoices"
    idempotency_header = "Idempotency-Key"

Each endpoint is an operation of the connector; ``call(endpoint, path=..., params=...,
json=..., headers=...)`` sends it and returns an `ApiResponse`. A non-2xx answer raises the
error its status means (`status_error`: 400/422 `InvalidRequestError`, 401/403
`AuthenticationError`, 404 `ObjectNotFoundError`, 409 `VendorError`, 429
`RateLimitExceededError`, 5xx `VendorUnavailableError`), quoting the body's ``error`` /
``message`` fields only as `vendor_text` checks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import httpx
import msgspec

from .._adapters import AdapterSettings
from .._api import ApiRequest, ApiResponse, check_header_name, check_path, expand_path
from .._api_config import (
    ApiAuth,
    ApiKeyAuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    Endpoint,
    OAuth2ClientCredentialsConfig,
    endpoint_operation,
    load_response_type,
)
from .._config_ranges import between, check_ranges
from .._context import CallContext
from .._credentials import Secret
from .._errors import VendorError
from .._operations import Operation
from ..http import AsyncHttpAdapter, HttpAdapter, HttpTransport, HttpVendor

__all__ = [
    "AsyncHttpApiAdapter",
    "HttpApiAdapter",
    "HttpApiOptions",
    "auth_flow",
    "check_base_url",
]


def check_base_url(url: str, what: str = "base_url") -> str:
    """`url` when it is an absolute http(s) URL without query or fragment, else a
    `ValueError` (the URL itself is not quoted: it may carry credentials)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise ValueError(f"{what} is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{what} must be an absolute http:// or https:// URL")
    if parsed.query or parsed.fragment:
        raise ValueError(f"{what} must not have a query or fragment")
    if parsed.userinfo:
        raise ValueError(f"{what} must not hold credentials; use the auth table")
    return url


class HttpApiOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``options`` of an ``http`` connector (its endpoints and auth are its own tables)."""

    takes_endpoints: ClassVar[bool] = True

    #: The API's root; each endpoint's path is appended (``https://crm.example.com/api``).
    base_url: str
    #: Headers of every request (not secrets: exports show them).
    headers: dict[str, str] = {}
    #: Seconds a request may take when the resilience table gives no timeout.
    timeout: Annotated[float, between(0.001, 3600.0)] = 30.0
    #: Verify the server's TLS certificate.
    verify: bool = True
    #: The asynchronous twin's transport: ``auto`` (aiohttp's under httpx's API when the
    #: extra ``nexus-connector-core[aiohttp]`` is installed, else httpx's), ``httpx`` or
    #: ``aiohttp``. The synchronous twin always uses httpx's.
    transport: HttpTransport = "auto"
    #: Filled from ``[connectors.<name>.endpoints.*]``.
    endpoints: dict[str, Endpoint] = {}
    #: Filled from the connector's ``auth`` table.
    auth: ApiAuth | None = None

    def __post_init__(self) -> None:
        check_ranges(self)
        check_base_url(self.base_url)
        for name, value in self.headers.items():
            check_header_name(name)
            if not (value.isascii() and value.isprintable()):
                raise ValueError(f"header {name!r} must be printable ASCII")

    def operations(self) -> tuple[Operation[Any, Any], ...]:
        """One operation per declared endpoint."""
        return tuple(
            endpoint_operation(
                name,
                endpoint,
                load_response_type(endpoint.response_type) if endpoint.response_type else None,
            )
            for name, endpoint in self.endpoints.items()
        )


def auth_flow(
    settings: AdapterSettings, auth: ApiAuth | None, transport: HttpTransport = "auto"
) -> tuple[httpx.Auth | None, list[Secret], list[tuple[str, Secret]]]:
    """The `httpx.Auth` of an ``auth`` table, with the secrets to mask in vendor text (and
    the Basic pairs, masked in their encoded form too). OAuth2 tokens live in the manager's
    state backend, shared by every worker; token requests run under the connector's
    policies (its ``oauth_token`` resilience table, else its first operation's)."""
    from ..auth import (
        ApiKeyAuth,
        BasicAuth,
        BearerAuth,
        OAuth2ClientCredentials,
        OAuth2RefreshToken,
    )

    if auth is None:
        return None, [], []
    if isinstance(auth, BearerAuthConfig):
        return BearerAuth(auth.token), [auth.token], []
    if isinstance(auth, ApiKeyAuthConfig):
        flow = ApiKeyAuth(auth.key, header=auth.header, query=auth.query, prefix=auth.prefix)
        return flow, [auth.key], []
    if isinstance(auth, BasicAuthConfig):
        password = auth.password or Secret("")
        pair = (auth.username.reveal(), password)
        return BasicAuth(auth.username, password), [auth.username, password], [pair]
    common: dict[str, Any] = {
        "scope": auth.scope,
        "client_auth": auth.client_auth,
        "params": auth.params,
        "margin": auth.margin,
        "transport": transport,
    }
    if isinstance(auth, OAuth2ClientCredentialsConfig):
        grant: httpx.Auth = OAuth2ClientCredentials.for_adapter(
            settings,
            token_url=auth.token_url,
            client_id=auth.client_id.reveal(),
            client_secret=auth.client_secret,
            **common,
        )
        return grant, [auth.client_secret], []
    grant = OAuth2RefreshToken.for_adapter(
        settings,
        token_url=auth.token_url,
        client_id=auth.client_id.reveal(),
        client_secret=auth.client_secret,
        refresh_token=auth.refresh_token,
        **common,
    )
    secrets = [auth.refresh_token] + ([auth.client_secret] if auth.client_secret else [])
    return grant, secrets, []


class _HttpApi(HttpVendor):
    """What the twins share: the endpoints, the requests they make, the answers read."""

    vendor_name = "the API"

    def __init__(self, settings: AdapterSettings) -> None:
        options: HttpApiOptions = settings.options
        flow, secrets, pairs = auth_flow(settings, options.auth, options.transport)
        super().__init__(
            settings,
            base_url=options.base_url,
            auth=flow,
            headers=options.headers,
            timeout=options.timeout,
            secrets=secrets,
            pairs=pairs,
            verify=options.verify,
            transport=options.transport,
        )
        self.endpoints: Mapping[str, Endpoint] = options.endpoints
        self._decoders = {
            name: msgspec.json.Decoder(load_response_type(endpoint.response_type))
            for name, endpoint in options.endpoints.items()
            if endpoint.response_type
        }

    def _prepare(self, request: ApiRequest, ctx: CallContext) -> tuple[str, str, dict[str, Any]]:
        """The method, path and arguments of `request`'s exchange."""
        endpoint = self.endpoints.get(request.endpoint)
        ctx.request_sent = False  # until the toolkit sends it: a refusal here sent nothing
        if endpoint is None or request.endpoint != ctx.operation.name:
            raise ValueError(
                f"a call of operation {ctx.operation.name!r} carries a request for endpoint "
                f"{request.endpoint!r}; build requests with connector.call()"
            )
        # Checked again here: a request built by hand (nexus-connector call) skipped build().
        path = check_path(request.endpoint, endpoint.path, request.path)
        headers = {**endpoint.headers, **request.headers}
        if endpoint.idempotency_header is not None and ctx.idempotency_key is not None:
            headers[endpoint.idempotency_header] = ctx.idempotency_key
        if request.content_type is not None:
            headers.setdefault("content-type", request.content_type)
        kwargs: dict[str, Any] = {"headers": headers}
        if request.params:
            kwargs["params"] = list(request.params)
        if request.content is not None:
            kwargs["content"] = request.content
        return endpoint.method, expand_path(endpoint.path, path), kwargs

    def _response(self, request: ApiRequest, response: httpx.Response) -> ApiResponse[Any]:
        """The answer, its body decoded into the endpoint's type when it declares one."""
        content = response.content
        data = None
        decoder = self._decoders.get(request.endpoint)
        if decoder is not None and content:
            try:
                data = decoder.decode(content)
            except msgspec.DecodeError as exc:
                raise VendorError(
                    f"{self.vendor_name} answered {response.status_code} to "
                    f"{request.endpoint} with a body that is not the declared "
                    f"{self.endpoints[request.endpoint].response_type} ({exc})",
                    status_code=response.status_code,
                    maybe_processed=True,
                ) from None
        headers: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return ApiResponse(
            status=response.status_code,
            headers=headers,
            content=content,
            vendor=self.vendor,
            endpoint=request.endpoint,
            data=data,
        )


class HttpApiAdapter(_HttpApi, HttpAdapter):
    """The synchronous ``http`` adapter."""

    def call(self, request: ApiRequest, ctx: CallContext) -> ApiResponse[Any]:
        """Send one call of a declared endpoint."""
        method, path, kwargs = self._prepare(request, ctx)
        return self._response(request, self.request(method, path, ctx, **kwargs))


class AsyncHttpApiAdapter(_HttpApi, AsyncHttpAdapter):
    """The asynchronous ``http`` adapter."""

    async def call(self, request: ApiRequest, ctx: CallContext) -> ApiResponse[Any]:
        """Send one call of a declared endpoint."""
        method, path, kwargs = self._prepare(request, ctx)
        return self._response(request, await self.request(method, path, ctx, **kwargs))
