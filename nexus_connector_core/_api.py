"""Category ``api``: any HTTP, GraphQL, WebSocket or gRPC API, with operations declared per
connector instead of fixed by the category.

A connector of category ``api`` declares its operations: an ``http`` connector one per
endpoint table (``[connectors.crm.endpoints.find_contact]``), a ``graphql`` connector
``query`` and ``mutation``, a ``websocket`` connector ``connect``, a ``grpc`` connector its
calls by idempotency. Each is an `Operation` of that connector with its own ``idempotent``
and ``reads`` flags, so retry, breaker, cache, idempotency, fallback, telemetry and the log
apply to it as to any other::

    crm = manager.connector("crm")
    contact = crm.call("find_contact", path={"contact_id": 42}).json()

Requests are checked before anything is sent (`ApiRequest.build`): every path parameter
given, none unknown, each a non-empty segment that cannot climb (``..``) or end the path
(``/``, ``?``, ``#``), then percent-encoded; query values of simple types, finite numbers
only; header names that are tokens and values without line breaks. A caller's mistake is a
`ValueError` naming the endpoint and the parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote

import msgspec

from ._context import CallContext
from ._operations import Category, Operation

__all__ = [
    "API",
    "ApiAdapter",
    "ApiOptions",
    "ApiRequest",
    "ApiResponse",
    "AsyncApiAdapter",
    "GraphQLErrorDetail",
    "GraphQLRequest",
    "GraphQLResult",
    "HTTP_METHODS",
    "check_header_name",
    "check_path",
    "check_path_template",
    "check_variables",
    "expand_path",
    "placeholders",
]

#: The category key.
API = "api"

#: The methods an endpoint may declare.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: The methods RFC 9110 (9.2.2) defines as idempotent: an endpoint's default.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

T = TypeVar("T")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Headers the transport writes itself: a caller's would corrupt the framing.
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection", "upgrade"})
_MAX_PATH_VALUE = 1024
_NOT_IN_SEGMENT = frozenset("/\\?#")


# -- requests and answers ---------------------------------------------------------------------


class ApiRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One call of a declared endpoint, checked (build it with `ApiRequest.build`).

    Attributes:
        endpoint: the endpoint's name.
        path: the path parameters, each already a checked string.
        params: the query parameters, in order, as (name, value) strings.
        headers: extra headers of this call (names lower-cased).
        content: the body, when there is one (``json=`` is encoded here once).
        content_type: the body's media type.
    """

    endpoint: str
    path: dict[str, str] = {}
    params: tuple[tuple[str, str], ...] = ()
    headers: dict[str, str] = {}
    content: bytes | None = None
    content_type: str | None = None

    @classmethod
    def build(
        cls,
        endpoint: str,
        template: str,
        *,
        path: Mapping[str, object] | None = None,
        params: Mapping[str, object] | None = None,
        json: object = msgspec.UNSET,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiRequest:
        """A checked request for `endpoint`, whose path is `template`; a `ValueError` (or
        `TypeError`) saying what is wrong and where, before anything is sent."""
        where = f"endpoint {endpoint!r}"
        checked = check_path(endpoint, template, path or {})
        if json is not msgspec.UNSET and content is not None:
            raise ValueError(f"{where}: pass json= or content=, not both")
        body, content_type = content, None
        if content is not None and not isinstance(content, bytes | bytearray):
            raise TypeError(f"{where}: content must be bytes, got {type(content).__name__}")
        if json is not msgspec.UNSET:
            body, content_type = _json_body(where, json), "application/json"
        return cls(
            endpoint=endpoint,
            path=checked,
            params=_query(where, params or {}),
            headers=_headers(where, headers or {}),
            content=bytes(body) if body is not None else None,
            content_type=content_type,
        )


class ApiResponse(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """The answer of an endpoint: status, headers and body.

    `data` is the body decoded into the endpoint's ``response_type`` when it declares one
    (checked when the answer arrives: a body that does not fit is a `VendorError`); `json`
    returns it, or decodes the body as JSON when no type is declared.

    >>> answer = ApiResponse(status=200, headers={}, content=b'{"id": 42}', vendor="http",
    ...                      endpoint="find_contact")
    >>> answer.json()["id"], answer.ok
    (42, True)
    """

    status: int
    headers: dict[str, str]
    content: bytes
    vendor: str
    endpoint: str
    data: T | None = None

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx (any other raised before you saw it)."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body: `data` when the endpoint declares a type, else decoded from JSON
        (`msgspec.DecodeError`, a `ValueError`, when it is not JSON)."""
        if self.data is not None:
            return self.data
        return msgspec.json.decode(self.content)

    @property
    def text(self) -> str:
        """The body as text (UTF-8; undecodable bytes replaced)."""
        return self.content.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"ApiResponse({self.endpoint}: {self.status}, {len(self.content)} bytes)"


class GraphQLRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One GraphQL operation: the document, its variables and the operation to run."""

    document: str
    variables: dict[str, Any] = {}
    operation_name: str | None = None


class GraphQLErrorDetail(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a GraphQL answer's ``errors`` (the spec's "error result format")."""

    message: str
    path: tuple[str | int, ...] = ()
    code: str | None = None
    extensions: dict[str, Any] = {}


class GraphQLResult(msgspec.Struct, frozen=True, kw_only=True):
    """A GraphQL answer with data: `data`, and the `errors` of fields that failed while
    others succeeded (partial data; an answer with errors and no data is raised instead)."""

    data: Any
    errors: tuple[GraphQLErrorDetail, ...] = ()
    extensions: dict[str, Any] = {}
    vendor: str = "graphql"


# -- what api vendors implement ---------------------------------------------------------------


@runtime_checkable
class ApiOptions(Protocol):
    """The options type of an ``api`` vendor declares the connector's operations.

    ``takes_endpoints`` says whether the connector's ``endpoints`` tables are its own (the
    ``http`` vendor) or refused; `operations` builds the operations from the options (the
    endpoints already merged in)."""

    takes_endpoints: ClassVar[bool]

    def operations(self) -> tuple[Operation[Any, Any], ...]: ...


@runtime_checkable
class ApiAdapter(Protocol):
    """An ``http`` adapter serves every endpoint with one method: ``call(request, ctx)``;
    the endpoint is ``request.endpoint`` (and ``ctx.operation``)."""

    def call(self, request: ApiRequest, ctx: CallContext) -> ApiResponse[Any]: ...


@runtime_checkable
class AsyncApiAdapter(Protocol):
    """The asynchronous twin of `ApiAdapter`."""

    async def call(self, request: ApiRequest, ctx: CallContext) -> ApiResponse[Any]: ...


def contract(operations: tuple[Operation[Any, Any], ...]) -> Category:
    """The category of one ``api`` connector: its declared operations."""
    return Category(API, operations)


# -- paths --------------------------------------------------------------------------------------


def placeholders(template: str) -> tuple[str, ...]:
    """The ``{name}`` placeholders of a path template, in order.

    >>> placeholders("/contacts/{contact_id}/notes/{note_id}")
    ('contact_id', 'note_id')
    """
    return tuple(_PLACEHOLDER.findall(template))


def check_path_template(template: str) -> str:
    """`template` when it is a path an endpoint may declare, else a `ValueError`: it starts
    with ``/``, has no query or fragment, no ``.`` or ``..`` segment, and its braces are
    placeholders ``{name}`` (a name once)."""
    if not isinstance(template, str) or not template.startswith("/"):
        raise ValueError("path must start with '/' (it is appended to options.base_url)")
    if not template.isprintable() or " " in template:
        raise ValueError("path must not contain spaces or control characters")
    if "?" in template or "#" in template:
        raise ValueError("path must not hold a query or fragment; pass params= per call")
    names = placeholders(template)
    if len(set(names)) != len(names):
        raise ValueError("path must hold each placeholder once")
    if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
        raise ValueError("path braces must be placeholders such as {contact_id}")
    if any(segment in (".", "..") for segment in template.split("/")):
        raise ValueError("path must not have '.' or '..' segments")
    return template


def check_path(endpoint: str, template: str, values: Mapping[str, object]) -> dict[str, str]:
    """The path parameters of a call of `endpoint` (whose path is `template`), checked: all
    placeholders given and no other, each value a safe segment (see `ApiRequest.build`)."""
    where = f"endpoint {endpoint!r}"
    expected = placeholders(template)
    missing = [name for name in expected if name not in values]
    unknown = [str(name) for name in values if name not in expected]
    if missing or unknown:
        wants = ", ".join(expected) or "none"
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown {', '.join(unknown)}")
        raise ValueError(f"{where} ({template}) takes path parameters: {wants}; {'; '.join(parts)}")
    return {name: _path_value(where, name, value) for name, value in values.items()}


def expand_path(template: str, values: Mapping[str, str]) -> str:
    """`template` with each placeholder replaced by its value, percent-encoded (values are
    checked by `ApiRequest.build`).

    >>> expand_path("/contacts/{contact_id}", {"contact_id": "a b&c"})
    '/contacts/a%20b%26c'
    """
    return _PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), template)


def _path_value(where: str, name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(
            f"{where}: path parameter {name!r} must be a str or an int, got {type(value).__name__}"
        )
    text = str(value)
    problem = None
    if not text:
        problem = "is empty"
    elif text in (".", ".."):
        problem = f"is {text!r}, which would climb the path"
    elif not _NOT_IN_SEGMENT.isdisjoint(text):
        problem = "holds '/', '\\', '?' or '#', which would change the URL"
    elif not text.isprintable():
        problem = "holds control characters"
    elif len(text) > _MAX_PATH_VALUE:
        problem = f"is longer than {_MAX_PATH_VALUE} characters"
    else:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            problem = "is not valid Unicode text (a lone surrogate)"
    if problem is not None:
        raise ValueError(f"{where}: path parameter {name!r} {problem}")
    return text


# -- query, headers, body -----------------------------------------------------------------------


def _scalar(where: str, name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: query parameter {name!r} is {value}, not a finite number")
        return repr(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{where}: query parameter {name!r} is not valid Unicode text"
            ) from None
        return value
    raise TypeError(
        f"{where}: query parameter {name!r} must be a str, int, float or bool (or a list of "
        f"them), got {type(value).__name__}"
    )


def _query(where: str, params: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: a query parameter's name must be a non-empty str")
        if value is None:
            continue  # left out, as httpx and requests do
        items = value if isinstance(value, list | tuple) else (value,)
        pairs.extend((name, _scalar(where, name, item)) for item in items)
    return tuple(pairs)


def check_header_name(name: str) -> str:
    """`name` lower-cased when it is an HTTP field name (a token), else a `ValueError`."""
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid HTTP header name")
    return name.lower()


def _headers(where: str, headers: Mapping[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in headers.items():
        try:
            key = check_header_name(name)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if key in _FRAMING:
            raise ValueError(f"{where}: header {name!r} is set by the transport, not per call")
        if not isinstance(value, str) or not (value.isascii() and value.isprintable()):
            # The value is never quoted: it may be a credential.
            raise ValueError(
                f"{where}: header {name!r} must be a str of printable ASCII (no line breaks "
                "or control characters)"
            )
        checked[key] = value
    return checked


def _finite(where: str, value: Any, depth: int = 0) -> None:
    if depth > 64:
        raise ValueError(f"{where}: json body is nested more than 64 levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: json body holds {value}, which JSON cannot carry")
    if isinstance(value, dict):
        for item in value.values():
            _finite(where, item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _finite(where, item, depth + 1)


def _json_body(where: str, value: object) -> bytes:
    try:
        builtins = msgspec.to_builtins(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"{where}: json body cannot be encoded: {exc}") from None
    _finite(where, builtins)
    try:
        return msgspec.json.encode(builtins)
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"{where}: json body cannot be encoded ({type(exc).__name__})") from None


def check_variables(variables: Mapping[str, Any]) -> dict[str, Any]:
    """GraphQL variables as plain JSON values (structs and dataclasses converted), finite
    numbers only; a `ValueError` or `TypeError` otherwise."""
    if not isinstance(variables, Mapping):
        raise TypeError(f"variables must be a mapping, got {type(variables).__name__}")
    try:
        builtins = msgspec.to_builtins(dict(variables), str_keys=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"GraphQL variables cannot be encoded: {exc}") from None
    _finite("GraphQL variables", builtins)
    result: dict[str, Any] = builtins
    return result
