"""Vendor ``graphql`` of category ``api``: a GraphQL endpoint over HTTP (POST, JSON), on the
core's HTTP toolkit.

    [connectors.shop]
    category = "api"
    vendor = "graphql"
    options = { url = "https://shop.example.com/graphql" }
    auth = { kind = "bearer", token = "env:SHOP_TOKEN" }

``await shop.query(document, variables)`` returns a `GraphQLResult`. The connector has two
operations: ``query`` (a read: cached when a cache is configured, retried) and
``mutation`` (not idempotent: retried only after failures that surely did nothing, unless
``mutations_idempotent = true`` or ``idempotency_header`` names the header the server
deduplicates by). Subscriptions need a WebSocket session.

The answer's ``errors`` (the spec's error result format) become the library's errors by
their ``extensions.code``::

    UNAUTHENTICATED, UNAUTHORIZED, FORBIDDEN           AuthenticationError
    BAD_USER_INPUT, GRAPHQL_PARSE_FAILED,              InvalidRequestError
      GRAPHQL_VALIDATION_FAILED, BAD_REQUEST
    NOT_FOUND                                          ObjectNotFoundError
    RATE_LIMITED, THROTTLED, TOO_MANY_REQUESTS         RateLimitExceededError
    INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE         VendorUnavailableError
    anything else                                      VendorError

An answer with ``data`` keeps it with its errors (partial data: the fields that failed are
null, their errors in `GraphQLResult.errors`); an answer with errors and no data raises the
first error's class, every error's path and message in the error's ``fields``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import httpx
import msgspec

from .._adapters import AdapterSettings
from .._api import API, GraphQLErrorDetail, GraphQLRequest, GraphQLResult, check_header_name
from .._api_config import ApiAuth
from .._config_ranges import between, check_ranges
from .._context import CallContext
from .._errors import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    ObjectNotFoundError,
    RateLimitExceededError,
    VendorError,
    VendorUnavailableError,
)
from .._operations import Operation
from ..http import (
    AsyncHttpAdapter,
    ErrorKind,
    ErrorTable,
    HttpAdapter,
    HttpTransport,
    HttpVendor,
    status_error,
    vendor_text,
)
from .http_api import auth_flow, check_base_url

__all__ = ["GRAPHQL_CODES", "AsyncGraphQLAdapter", "GraphQLAdapter", "GraphQLOptions"]

#: What the common ``extensions.code`` values mean (Apollo, Hasura, Shopify, GitHub...).
GRAPHQL_CODES: ErrorTable = {
    "UNAUTHENTICATED": ErrorKind(AuthenticationError, "check the connector's auth table"),
    "UNAUTHORIZED": ErrorKind(AuthenticationError, "check the connector's auth table"),
    "FORBIDDEN": ErrorKind(AuthenticationError, "the credentials lack a permission"),
    "ACCESS_DENIED": ErrorKind(AuthenticationError, "the credentials lack a permission"),
    "BAD_USER_INPUT": ErrorKind(InvalidRequestError, maybe_processed=False),
    "BAD_REQUEST": ErrorKind(InvalidRequestError, maybe_processed=False),
    "GRAPHQL_PARSE_FAILED": ErrorKind(InvalidRequestError, maybe_processed=False),
    "GRAPHQL_VALIDATION_FAILED": ErrorKind(InvalidRequestError, maybe_processed=False),
    "VALIDATION_ERROR": ErrorKind(InvalidRequestError, maybe_processed=False),
    "NOT_FOUND": ErrorKind(ObjectNotFoundError, maybe_processed=False),
    "RATE_LIMITED": ErrorKind(RateLimitExceededError),
    "THROTTLED": ErrorKind(RateLimitExceededError),
    "TOO_MANY_REQUESTS": ErrorKind(RateLimitExceededError),
    "INTERNAL_SERVER_ERROR": ErrorKind(VendorUnavailableError),
    "SERVICE_UNAVAILABLE": ErrorKind(VendorUnavailableError),
}


class GraphQLOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``options`` of a ``graphql`` connector."""

    takes_endpoints: ClassVar[bool] = False

    #: The GraphQL endpoint (``https://shop.example.com/graphql``).
    url: str
    #: Headers of every request (not secrets).
    headers: dict[str, str] = {}
    #: Seconds a request may take when the resilience table gives no timeout.
    timeout: Annotated[float, between(0.001, 3600.0)] = 30.0
    verify: bool = True
    #: The asynchronous twin's transport: ``auto`` (aiohttp's under httpx's API when the
    #: extra ``nexus-connector-core[aiohttp]`` is installed, else httpx's), ``httpx`` or
    #: ``aiohttp``. The synchronous twin always uses httpx's.
    transport: HttpTransport = "auto"
    #: Declare that this API's mutations may be repeated (upserts, client-made ids).
    mutations_idempotent: bool = False
    #: The header the server reads idempotency keys from: mutations carry the call's key
    #: (yours, or one made per call) and may be retried.
    idempotency_header: str | None = None
    #: Filled from the connector's ``auth`` table.
    auth: ApiAuth | None = None

    def __post_init__(self) -> None:
        check_ranges(self)
        check_base_url(self.url, "url")
        if self.idempotency_header is not None:
            check_header_name(self.idempotency_header)
        for name, value in self.headers.items():
            check_header_name(name)
            if not (value.isascii() and value.isprintable()):
                raise ValueError(f"header {name!r} must be printable ASCII")

    def operations(self) -> tuple[Operation[Any, Any], ...]:
        """``query`` (a read) and ``mutation``."""
        return (
            Operation("query", API, GraphQLRequest, GraphQLResult, idempotent=True, reads=True),
            Operation(
                "mutation",
                API,
                GraphQLRequest,
                GraphQLResult,
                idempotent=self.mutations_idempotent,
                sends_key=self.idempotency_header is not None,
            ),
        )


def _details(errors: Any, redact: Any) -> tuple[GraphQLErrorDetail, ...]:
    if not isinstance(errors, list):
        return ()
    details = []
    for error in errors[:100]:
        if not isinstance(error, Mapping):
            continue
        extensions = error.get("extensions")
        extensions = dict(extensions) if isinstance(extensions, Mapping) else {}
        code = extensions.get("code")
        shown_code = vendor_text(code, redact, limit=60) if isinstance(code, str) else None
        path = error.get("path")
        details.append(
            GraphQLErrorDetail(
                message=vendor_text(error.get("message"), redact) or "(no message)",
                path=tuple(p for p in path if isinstance(p, str | int))
                if isinstance(path, list)
                else (),
                code=shown_code or None,
                extensions=extensions,
            )
        )
    return tuple(details)


class _GraphQL(HttpVendor):
    """What the twins share: the request's body, and the reading of answers."""

    vendor_name = "the GraphQL API"
    errors = GRAPHQL_CODES

    def __init__(self, settings: AdapterSettings) -> None:
        options: GraphQLOptions = settings.options
        flow, secrets, pairs = auth_flow(settings, options.auth, options.transport)
        super().__init__(
            settings,
            base_url=options.url,
            auth=flow,
            headers={
                "accept": "application/graphql-response+json, application/json",
                **options.headers,
            },
            timeout=options.timeout,
            secrets=secrets,
            pairs=pairs,
            verify=options.verify,
            transport=options.transport,
        )
        self.url = options.url
        self._key_header = options.idempotency_header

    def _body(self, request: GraphQLRequest, ctx: CallContext) -> dict[str, Any]:
        payload: dict[str, Any] = {"query": request.document}
        if request.variables:
            payload["variables"] = request.variables
        if request.operation_name is not None:
            payload["operationName"] = request.operation_name
        headers = {"content-type": "application/json"}
        if (
            self._key_header is not None
            and ctx.idempotency_key is not None
            and ctx.operation.sends_key
        ):
            headers[self._key_header] = ctx.idempotency_key
        return {"content": msgspec.json.encode(payload), "headers": headers}

    def _result(self, response: httpx.Response, ctx: CallContext) -> GraphQLResult:
        body = self.json(response)
        if not isinstance(body, Mapping) or not ("data" in body or "errors" in body):
            if not response.is_success:
                raise self.error_for(response)
            raise VendorError(
                f"{self.vendor_name} answered {response.status_code} with a body that is not "
                "a GraphQL result (no data, no errors)",
                status_code=response.status_code,
                maybe_processed=True,
            )
        details = _details(body.get("errors"), self.redact)
        data = body.get("data")
        if data is None and (details or not response.is_success):
            raise self._error(response, details, ctx)
        extensions = body.get("extensions")
        return GraphQLResult(
            data=data,
            errors=details,
            extensions=dict(extensions) if isinstance(extensions, Mapping) else {},
            vendor=self.vendor,
        )

    def _error(
        self, response: httpx.Response, details: tuple[GraphQLErrorDetail, ...], ctx: CallContext
    ) -> ConnectorError:
        """The error of an answer without data: the first error's code decides."""
        first = details[0] if details else None
        code = first.code.upper() if first is not None and first.code else None
        status = response.status_code
        # An unknown failure of a mutation may come after it acted; a refused query did not.
        maybe = ctx.operation.name == "mutation" or status >= 500
        error = status_error(
            status if status >= 400 else 200,
            vendor=self.vendor_name,
            code=code,
            message=first.message if first is not None else None,
            retry_after=self.retry_after(response),
            table=self.errors,
            maybe_processed=maybe,
        )
        if isinstance(error, VendorError):
            fields: dict[str, tuple[str, ...]] = {}
            for detail in details:
                where = ".".join(map(str, detail.path)) or "(document)"
                fields[where] = (*fields.get(where, ()), detail.message)
            error.fields = fields
        return error


class GraphQLAdapter(_GraphQL, HttpAdapter):
    """The synchronous ``graphql`` adapter."""

    def query(self, request: GraphQLRequest, ctx: CallContext) -> GraphQLResult:
        """Run a query."""
        response = self.request("POST", self.url, ctx, check=False, **self._body(request, ctx))
        return self._result(response, ctx)

    mutation = query


class AsyncGraphQLAdapter(_GraphQL, AsyncHttpAdapter):
    """The asynchronous ``graphql`` adapter."""

    async def query(self, request: GraphQLRequest, ctx: CallContext) -> GraphQLResult:
        """Run a query."""
        response = await self.request(
            "POST", self.url, ctx, check=False, **self._body(request, ctx)
        )
        return self._result(response, ctx)

    mutation = query
