"""The config of an ``api`` connector: its endpoint tables and its ``auth`` table, checked
with their key paths and merged into its vendors' options.

    [connectors.crm]
    category = "api"
    vendor = "http"
    options = { base_url = "https://crm.example.com/api" }
    auth = { kind = "oauth2_client_credentials", token_url = "https://crm.example.com/token",
             client_id = "env:CRM_ID", client_secret = "env:CRM_SECRET" }

    [connectors.crm.endpoints.find_contact]
    method = "GET"
    path = "/contacts/{contact_id}"
    reads = true

Secrets in ``auth`` are references like a connector's credentials (``env:NAME``,
``file:PATH``, a provider's ``name:...``), resolved into `Secret`s.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeAlias

import msgspec

from ._api import (
    API,
    IDEMPOTENT_METHODS,
    ApiOptions,
    ApiRequest,
    ApiResponse,
    check_header_name,
    check_path_template,
    contract,
)
from ._config_problems import KeyPath, Problems
from ._credentials import CredentialProvider, Secret, resolve_reference
from ._errors import ConnectorError
from ._operations import Category, Operation

__all__ = [
    "ApiAuth",
    "ApiKeyAuthConfig",
    "BasicAuthConfig",
    "BearerAuthConfig",
    "Endpoint",
    "OAuth2ClientCredentialsConfig",
    "OAuth2RefreshTokenConfig",
    "endpoint_operation",
    "resolve_api",
]

#: The methods of `HTTP_METHODS`.
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Endpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One ``[connectors.<name>.endpoints.<endpoint>]`` table.

    ``idempotent`` defaults to the method's meaning (RFC 9110: GET, HEAD, OPTIONS, PUT and
    DELETE are idempotent; POST and PATCH are not). ``idempotency_header`` names the header
    the API reads idempotency keys from: the call's key (yours, or one made per call) is
    sent in it, so the endpoint may be retried even when it is not idempotent.
    ``response_type`` (``"package.module:Name"``, a msgspec-decodable type) decodes every
    answer's body into `ApiResponse.data`.
    """

    method: HttpMethod
    path: str
    reads: bool = False
    idempotent: bool | None = None
    idempotency_header: str | None = None
    response_type: str | None = None
    #: Headers every call of this endpoint sends (not secrets: they are exported).
    headers: dict[str, str] = {}
    #: One line for humans (the CLI, Postman and OpenAPI exports).
    description: str = ""

    def __post_init__(self) -> None:
        check_path_template(self.path)
        if self.idempotency_header is not None:
            check_header_name(self.idempotency_header)
        for name, value in self.headers.items():
            check_header_name(name)
            if not (value.isascii() and value.isprintable()):
                raise ValueError(f"header {name!r} must be printable ASCII")
        if self.reads and self.idempotent is False:
            raise ValueError("an endpoint that only reads is idempotent; drop idempotent = false")

    @property
    def is_idempotent(self) -> bool:
        """Whether repeating a call has no further effect (declared, else by the method)."""
        if self.idempotent is not None:
            return self.idempotent or self.reads
        return self.reads or self.method in IDEMPOTENT_METHODS


def load_response_type(reference: str) -> Any:
    """The type ``"package.module:Name"`` names, checked to be one msgspec decodes into."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected 'package.module:Name', got {reference!r}")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {reference!r}: {type(exc).__name__}: {exc}") from None
    try:
        msgspec.json.Decoder(found)
    except TypeError as exc:
        raise ValueError(f"{reference!r} is not a type msgspec can decode into: {exc}") from None
    return found


def endpoint_operation(
    name: str, endpoint: Endpoint, response_type: Any = None
) -> Operation[ApiRequest, Any]:
    """The `Operation` of one declared endpoint (served by the adapter's ``call``)."""
    result: Any = ApiResponse[response_type] if response_type is not None else ApiResponse
    return Operation(
        name,
        API,
        ApiRequest,
        result,
        idempotent=endpoint.is_idempotent,
        reads=endpoint.reads,
        adapter_method="call",
        sends_key=endpoint.idempotency_header is not None,
    )


# -- auth ----------------------------------------------------------------------------------------


class BearerAuthConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind",
    tag="bearer",
):  # fmt: skip
    """``auth = { kind = "bearer", token = "env:API_TOKEN" }``."""

    token: Secret


class ApiKeyAuthConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind",
    tag="api_key",
):  # fmt: skip
    """``auth = { kind = "api_key", key = "env:KEY", header = "X-API-Key" }`` (or
    ``query = "api_key"``; a ``prefix`` such as ``"Token "`` for a header)."""

    key: Secret
    header: str | None = None
    query: str | None = None
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.header is not None and self.query is not None:
            raise ValueError("send the API key in a header or in the query, not both")
        if self.header is not None:
            check_header_name(self.header)


class BasicAuthConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind",
    tag="basic",
):  # fmt: skip
    """``auth = { kind = "basic", username = "env:USER", password = "env:PASSWORD" }``."""

    username: Secret
    password: Secret | None = None


Scope: TypeAlias = str | list[str] | None


class OAuth2ClientCredentialsConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind",
    tag="oauth2_client_credentials",
):  # fmt: skip
    """OAuth2 client credentials: a token fetched once for every worker (kept in the state
    backend), refreshed before it expires, and once more on a 401."""

    token_url: str
    client_id: Secret
    client_secret: Secret
    scope: Scope = None
    #: ``basic`` (HTTP Basic, the default) or ``body`` (in the form).
    client_auth: Literal["basic", "body"] = "basic"
    #: Extra form fields of the token request (``audience``...).
    params: dict[str, str] = {}
    #: Refresh this many seconds before the token expires.
    margin: Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)] = 30.0


class OAuth2RefreshTokenConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind",
    tag="oauth2_refresh_token",
):  # fmt: skip
    """OAuth2 refresh token: access tokens from a long-lived refresh token."""

    token_url: str
    client_id: Secret
    refresh_token: Secret
    client_secret: Secret | None = None
    scope: Scope = None
    client_auth: Literal["basic", "body"] = "basic"
    params: dict[str, str] = {}
    margin: Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)] = 30.0


#: An ``auth`` table, by its ``kind``.
ApiAuth: TypeAlias = (
    BearerAuthConfig
    | ApiKeyAuthConfig
    | BasicAuthConfig
    | OAuth2ClientCredentialsConfig
    | OAuth2RefreshTokenConfig
)
_AUTH_KINDS: Mapping[str, type[msgspec.Struct]] = {
    str(cls.__struct_config__.tag): cls
    for cls in (
        BearerAuthConfig,
        ApiKeyAuthConfig,
        BasicAuthConfig,
        OAuth2ClientCredentialsConfig,
        OAuth2RefreshTokenConfig,
    )
}


def _secret_fields(cls: type[msgspec.Struct]) -> list[str]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)

    def holds(t: msgspec.inspect.Type) -> bool:
        if isinstance(t, msgspec.inspect.UnionType):
            return any(holds(m) for m in t.types)
        return isinstance(t, msgspec.inspect.CustomType) and t.cls is Secret

    return [f.encode_name for f in info.fields if holds(f.type)]


def _auth(
    table: Any,
    path: KeyPath,
    problems: Problems,
    providers: Callable[[str], CredentialProvider | None],
) -> ApiAuth | None:
    if not isinstance(table, dict):
        problems.add(path, 'expected a table such as { kind = "bearer", token = "env:TOKEN" }')
        return None
    kind = table.get("kind")
    cls = _AUTH_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        problems.add((*path, "kind"), f"expected one of: {', '.join(_AUTH_KINDS)}")
        return None
    table = dict(table)
    ok = True
    for name in _secret_fields(cls):
        value = table.get(name)
        if value is None:
            continue
        where = (*path, name)
        if not isinstance(value, str):
            problems.add(where, "expected a secret reference such as env:NAME or file:PATH")
            ok = False
            del table[name]
            continue
        try:
            table[name] = resolve_reference(value, providers)
        except ConnectorError as exc:
            problems.add(where, exc.message)
            ok = False
            del table[name]
    if not ok:
        return None
    auth: ApiAuth | None = problems.convert(table, cls, path)
    return auth


# -- the connector ---------------------------------------------------------------------------------


def resolve_api(
    name: str,
    endpoints: dict[str, Any],
    auth: dict[str, Any] | None,
    vendors: list[Any],
    *,
    path: KeyPath,
    problems: Problems,
    providers: Callable[[str], CredentialProvider | None],
) -> tuple[list[Any], Category] | None:
    """Check an ``api`` connector's endpoints and auth, merge them into each vendor's options
    (`VendorSettings`, resolved), and build its operations; None with problems recorded."""
    found = len(problems.items)
    checked: dict[str, Endpoint] = {}
    for endpoint_name, table in endpoints.items():
        where = (*path, "endpoints", endpoint_name)
        if not _valid_name(endpoint_name):
            problems.add(
                where,
                "an endpoint name must be lowercase letters, digits and '_', starting with a "
                "letter (it names the operation in logs, metrics and resilience tables)",
            )
            continue
        endpoint: Endpoint | None = problems.convert(table, Endpoint, where)
        if endpoint is None:
            continue
        if endpoint.response_type is not None:
            try:
                load_response_type(endpoint.response_type)
            except ValueError as exc:
                problems.add((*where, "response_type"), str(exc))
                continue
        checked[endpoint_name] = endpoint
    resolved_auth = None
    if auth is not None:
        resolved_auth = _auth(auth, (*path, "auth"), problems, providers)
    if len(problems.items) > found or not vendors:
        return None
    merged = []
    operations: tuple[Operation[Any, Any], ...] | None = None
    for index, vendor in enumerate(vendors):
        where = (*path, "vendor") if index == 0 else (*path, "fallback", index - 1)
        if not isinstance(vendor.options, ApiOptions):
            problems.add(where, f"vendor {vendor.key!r} is not an api vendor")
            return None
        options: Any = vendor.options
        names = {f.name for f in msgspec.structs.fields(options)}
        for written in ("endpoints", "auth"):
            if written in names and getattr(options, written):
                problems.add(
                    (*path, "options", written) if index == 0 else (*where, "options", written),
                    f"write {written} in the connector's own table: "
                    f"[connectors.{name}.{written}...]",
                )
                return None
        if checked and not options.takes_endpoints:
            problems.add(
                (*path, "endpoints"),
                f"vendor {vendor.key!r} declares its own operations; it takes no endpoints",
            )
            return None
        changes: dict[str, Any] = {}
        if options.takes_endpoints:
            changes["endpoints"] = checked
        if resolved_auth is not None:
            if "auth" not in names:
                problems.add((*path, "auth"), f"vendor {vendor.key!r} takes no auth table")
                return None
            changes["auth"] = resolved_auth
        options = msgspec.structs.replace(options, **changes)
        merged.append(msgspec.structs.replace(vendor, options=options))
        ops = options.operations()
        if operations is None:
            operations = ops
        elif [op.name for op in ops] != [op.name for op in operations]:
            problems.add(where, "a fallback vendor must serve the same operations as the primary")
            return None
    assert operations is not None
    if not operations:
        problems.add(
            (*path, "endpoints"),
            f"connector {name!r} declares no operation: add [connectors.{name}.endpoints.<name>] "
            "tables (method, path)",
        )
        return None
    return merged, contract(operations)


def _valid_name(name: str) -> bool:
    return (
        bool(name)
        and name[0].isascii()
        and name[0].islower()
        and all(c == "_" or (c.isascii() and (c.islower() or c.isdigit())) for c in name)
        and name != "oauth_token"
    )
