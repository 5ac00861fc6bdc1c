"""The declared APIs as documents other tools read: a Postman Collection (format v2.1.0) and
an OpenAPI 3.1 description.

Built from the resolved config of ``api`` connectors: ``http`` endpoints (method, path with
its parameters, the idempotency header, static headers, the response type's JSON Schema)
and, in the Postman collection, ``graphql`` connectors (a POST of a sample document). No
secret value is ever written: every credential is a Postman variable left empty, whose
description names where the value comes from (``env:CRM_SECRET``), and OpenAPI names only
the security scheme. Base URLs are variables too (``{{crm_base_url}}``), so one collection
serves every environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from ._api import API, placeholders
from ._api_config import (
    ApiKeyAuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    Endpoint,
    OAuth2ClientCredentialsConfig,
    OAuth2RefreshTokenConfig,
    load_response_type,
)
from ._config import Config
from ._connector_settings import ConnectorSettings
from ._credentials import Secret
from ._errors import ConfigError
from ._version import __version__

__all__ = [
    "EXPORTED_VENDORS",
    "POSTMAN_SCHEMA",
    "exportable",
    "openapi_document",
    "postman_collection",
]

#: The schema a Postman Collection v2.1.0 names in ``info.schema``.
POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
_PROVIDED = re.compile(r"[a-z][a-z0-9_-]*:")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


#: The vendors of category ``api`` whose connectors declare requests an export can show.
EXPORTED_VENDORS = ("http", "graphql")


def exportable(config: Config, names: Iterable[str] = ()) -> list[ConnectorSettings]:
    """The ``api`` connectors to export: `names` (each must be one, of a vendor in
    `EXPORTED_VENDORS`), else all of those (a ``websocket`` or ``grpc`` connector declares no
    request to show, and is left out)."""
    wanted = list(names)
    apis = {n: s for n, s in config.connectors.items() if s.category == API}
    for name in wanted:
        if name not in config.connectors:
            raise ConfigError(f"no connector named {name!r}", source=config.source)
        if name not in apis:
            raise ConfigError(
                f"connector {name!r} is not of category 'api' (it has no declared endpoints)",
                path=f"connectors.{name}",
                source=config.source,
            )
        if apis[name].vendor.key not in EXPORTED_VENDORS:
            raise ConfigError(
                f"connector {name!r} (vendor {apis[name].vendor.key!r}) declares no requests "
                f"to export; export covers the vendors {', '.join(EXPORTED_VENDORS)}",
                path=f"connectors.{name}.vendor",
                source=config.source,
            )
    chosen = (
        [apis[n] for n in wanted]
        if wanted
        else [s for s in apis.values() if s.vendor.key in EXPORTED_VENDORS]
    )
    if not chosen:
        raise ConfigError(
            "no connector of category 'api' with vendor 'http' or 'graphql' to export: declare "
            'one with category = "api"',
            source=config.source,
        )
    return chosen


def _shown_url(url: str) -> str:
    """A URL without credentials, query or fragment (which may hold secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _origin(settings: ConnectorSettings) -> str:
    options = settings.options
    base = options.base_url if settings.vendor.key == "http" else options.url
    return _shown_url(str(base)).rstrip("/")


def _endpoints(settings: ConnectorSettings) -> Mapping[str, Endpoint]:
    if settings.vendor.key != "http":
        return {}
    endpoints: Mapping[str, Endpoint] = settings.options.endpoints
    return endpoints


# -- Postman ----------------------------------------------------------------------------------


class _Variables:
    """The collection's variables: base URLs and credentials (never their values)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def value(self, key: str, value: str, description: str) -> str:
        self.items.append(
            {"key": key, "value": value, "type": "string", "description": description}
        )
        return f"{{{{{key}}}}}"

    def secret(self, key: str, secret: Secret | None, what: str) -> str:
        source = ""
        reference = secret.reference if secret is not None else None
        if reference and _PROVIDED.match(reference) and not reference.startswith("literal:"):
            source = f" (the connector reads it from {reference})"
        return self.value(
            key, "", f"{what}: a secret, left empty; set it in a Postman environment{source}"
        )


def _attributes(pairs: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v, "type": "string"} for k, v in pairs.items()]


def _postman_auth(
    name: str, auth: Any, variables: _Variables
) -> tuple[dict[str, Any] | None, list[dict[str, str]], list[dict[str, str]]]:
    """The folder's auth, and the headers and query parameters each request adds."""
    if auth is None:
        return None, [], []
    if isinstance(auth, BearerAuthConfig):
        token = variables.secret(f"{name}_token", auth.token, "the bearer token")
        return {"type": "bearer", "bearer": _attributes({"token": token})}, [], []
    if isinstance(auth, BasicAuthConfig):
        user = variables.secret(f"{name}_username", auth.username, "the Basic username")
        password = variables.secret(f"{name}_password", auth.password, "the Basic password")
        basic = _attributes({"username": user, "password": password})
        return {"type": "basic", "basic": basic}, [], []
    if isinstance(auth, ApiKeyAuthConfig):
        key = variables.secret(f"{name}_api_key", auth.key, "the API key")
        if auth.query is not None:
            return None, [], [{"key": auth.query, "value": key}]
        return None, [{"key": auth.header or "X-API-Key", "value": auth.prefix + key}], []
    if isinstance(auth, OAuth2ClientCredentialsConfig):
        client_id = variables.secret(f"{name}_client_id", auth.client_id, "the OAuth2 client id")
        client_secret = variables.secret(
            f"{name}_client_secret", auth.client_secret, "the OAuth2 client secret"
        )
        scope = auth.scope if isinstance(auth.scope, str) else " ".join(auth.scope or ())
        attributes = {
            "grant_type": "client_credentials",
            "accessTokenUrl": _shown_url(auth.token_url),
            "clientId": client_id,
            "clientSecret": client_secret,
            "client_authentication": "header" if auth.client_auth == "basic" else "body",
            "addTokenTo": "header",
            "tokenName": f"{name} token",
        }
        if scope:
            attributes["scope"] = scope
        return {"type": "oauth2", "oauth2": _attributes(attributes)}, [], []
    assert isinstance(auth, OAuth2RefreshTokenConfig)
    token = variables.secret(
        f"{name}_access_token", None, "an access token from the refresh-token grant"
    )
    return {"type": "bearer", "bearer": _attributes({"token": token})}, [], []


def _postman_url(origin: str, template: str, query: list[dict[str, str]]) -> dict[str, Any]:
    segments = []
    variables = []
    for segment in template.strip("/").split("/"):
        names = placeholders(segment)
        if names and segment == f"{{{names[0]}}}":
            segments.append(f":{names[0]}")
            variables.append({"key": names[0], "value": "", "description": "path parameter"})
        else:
            segments.append(re.sub(r"\{(\w+)\}", r"{{\1}}", segment))
    url: dict[str, Any] = {
        "raw": origin + "/" + "/".join(segments),
        "host": [origin],
        "path": segments,
    }
    if variables:
        url["variable"] = variables
    return _with_query(url, query)


def _with_query(url: dict[str, Any], query: list[dict[str, str]]) -> dict[str, Any]:
    """`url` with the query parameters in both its ``query`` and its ``raw`` form, which
    Postman shows and some importers read instead of the parts."""
    if query:
        url["query"] = query
        url["raw"] += "?" + "&".join(f"{q['key']}={q['value']}" for q in query)
    return url


def _postman_http(
    settings: ConnectorSettings, origin: str, headers: list[dict[str, str]], query: list[Any]
) -> list[dict[str, Any]]:
    items = []
    common = [{"key": k, "value": v} for k, v in settings.options.headers.items()]
    for endpoint_name, endpoint in _endpoints(settings).items():
        header = [*common, *headers]
        header += [{"key": k, "value": v} for k, v in endpoint.headers.items()]
        if endpoint.idempotency_header:
            header.append(
                {
                    "key": endpoint.idempotency_header,
                    "value": "{{$guid}}",
                    "description": "a new key per operation; reuse it to retry safely",
                }
            )
        request: dict[str, Any] = {
            "method": endpoint.method,
            "header": header,
            "url": _postman_url(origin, endpoint.path, list(query)),
        }
        if endpoint.description:
            request["description"] = endpoint.description
        if endpoint.method in _BODY_METHODS:
            header.append({"key": "Content-Type", "value": "application/json"})
            request["body"] = {"mode": "raw", "raw": "{}"}
        items.append({"name": endpoint_name, "request": request})
    return items


def _postman_graphql(
    origin: str, headers: list[dict[str, str]], query: list[Any]
) -> list[dict[str, Any]]:
    document = {"query": "query { __typename }", "variables": {}}
    url = _with_query({"raw": origin, "host": [origin]}, list(query))
    return [
        {
            "name": "query",
            "request": {
                "method": "POST",
                "header": [*headers, {"key": "Content-Type", "value": "application/json"}],
                "url": url,
                "body": {"mode": "raw", "raw": msgspec.json.encode(document).decode()},
                "description": "A GraphQL document: replace the query and its variables.",
            },
        }
    ]


def postman_collection(config: Config, names: Iterable[str] = ()) -> dict[str, Any]:
    """A Postman Collection v2.1.0 of the ``api`` connectors `names` (all by default): one
    folder per connector, one request per endpoint, variables for base URLs and secrets."""
    variables = _Variables()
    folders = []
    chosen = exportable(config, names)
    for settings in chosen:
        name = settings.name
        origin = variables.value(f"{name}_base_url", _origin(settings), f"{name}'s base URL")
        auth, headers, query = _postman_auth(name, settings.options.auth, variables)
        if settings.vendor.key == "http":
            items = _postman_http(settings, origin, headers, query)
        elif settings.vendor.key == "graphql":
            items = _postman_graphql(origin, headers, query)
        else:
            continue
        folder: dict[str, Any] = {
            "name": name,
            "description": f"Connector {name!r} (vendor {settings.vendor.key!r})",
            "item": items,
        }
        if auth is not None:
            folder["auth"] = auth
        folders.append(folder)
    return {
        "info": {
            "name": "Nexus Connector: " + ", ".join(s.name for s in chosen),
            "description": f"Exported by nexus-connector {__version__} from {config.source}",
            "schema": POSTMAN_SCHEMA,
        },
        "item": folders,
        "variable": variables.items,
    }


# -- OpenAPI ----------------------------------------------------------------------------------


def _security_scheme(auth: Any) -> dict[str, Any] | None:
    if auth is None:
        return None
    if isinstance(auth, BearerAuthConfig | OAuth2RefreshTokenConfig):
        return {"type": "http", "scheme": "bearer"}
    if isinstance(auth, BasicAuthConfig):
        return {"type": "http", "scheme": "basic"}
    if isinstance(auth, ApiKeyAuthConfig):
        where = "query" if auth.query is not None else "header"
        return {"type": "apiKey", "in": where, "name": auth.query or auth.header or "X-API-Key"}
    assert isinstance(auth, OAuth2ClientCredentialsConfig)
    scopes = [auth.scope] if isinstance(auth.scope, str) else list(auth.scope or ())
    scopes = [s for scope in scopes for s in scope.split()]
    flow = {"tokenUrl": _shown_url(auth.token_url), "scopes": dict.fromkeys(scopes, "")}
    return {"type": "oauth2", "flows": {"clientCredentials": flow}}


def openapi_document(config: Config, names: Iterable[str] = ()) -> dict[str, Any]:
    """An OpenAPI 3.1 description of the ``http`` endpoints of the ``api`` connectors
    `names` (all by default); each path carries its connector's server. Two connectors
    declaring the same method on the same path cannot share one document (export them
    one at a time)."""
    chosen = [s for s in exportable(config, names) if s.vendor.key == "http"]
    if not chosen:
        raise ConfigError("no 'http' connector to describe in OpenAPI", source=config.source)
    types = {
        load_response_type(e.response_type)
        for s in chosen
        for e in _endpoints(s).values()
        if e.response_type
    }
    ordered = sorted(types, key=lambda t: f"{t.__module__}.{t.__qualname__}")
    schemas, components = msgspec.json.schema_components(
        ordered, ref_template="#/components/schemas/{name}"
    )
    schema_of = dict(zip(ordered, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    owners: dict[tuple[str, str], str] = {}
    security: dict[str, Any] = {}
    for settings in chosen:
        scheme = _security_scheme(settings.options.auth)
        if scheme is not None:
            security[f"{settings.name}_auth"] = scheme
        for endpoint_name, endpoint in _endpoints(settings).items():
            method = endpoint.method.lower()
            owner = owners.setdefault((endpoint.path, method), settings.name)
            if owner != settings.name:
                raise ConfigError(
                    f"connectors {owner!r} and {settings.name!r} both declare {endpoint.method} "
                    f"{endpoint.path}; export them one at a time",
                    source=config.source,
                )
            item = paths.setdefault(endpoint.path, {"servers": [{"url": _origin(settings)}]})
            item[method] = _openapi_operation(settings, endpoint_name, endpoint, schema_of)
            if scheme is not None:
                item[method]["security"] = [{f"{settings.name}_auth": []}]
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Nexus Connector: " + ", ".join(s.name for s in chosen),
            "version": __version__,
            "description": f"Exported by nexus-connector from {config.source}",
        },
        "paths": paths,
    }
    if components or security:
        document["components"] = {}
        if components:
            document["components"]["schemas"] = components
        if security:
            document["components"]["securitySchemes"] = security
    return document


def _openapi_operation(
    settings: ConnectorSettings, name: str, endpoint: Endpoint, schema_of: Mapping[Any, Any]
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in placeholders(endpoint.path)
    ]
    if endpoint.idempotency_header:
        parameters.append(
            {
                "name": endpoint.idempotency_header,
                "in": "header",
                "required": False,
                "description": "The idempotency key: a repeat with it is applied once.",
                "schema": {"type": "string", "maxLength": 255},
            }
        )
    answer: dict[str, Any] = {"description": "Success"}
    if endpoint.response_type:
        schema = schema_of[load_response_type(endpoint.response_type)]
        answer["content"] = {"application/json": {"schema": schema}}
    operation: dict[str, Any] = {
        "operationId": f"{settings.name}_{name}",
        "tags": [settings.name],
        "responses": {"2XX": answer, "default": {"description": "An error"}},
    }
    if endpoint.description:
        operation["summary"] = endpoint.description
    if parameters:
        operation["parameters"] = parameters
    if endpoint.method in _BODY_METHODS:
        operation["requestBody"] = {"content": {"application/json": {"schema": {}}}}
    return operation
