"""A vendor request built as httpx's client builds it, without the client's machinery.

`httpx.AsyncClient.request` spends more CPU on a request than aiohttp spends sending it: it
merges the client's headers, cookies and parameters into a new `httpx.Request` one header
at a time (each lookup re-encodes every name), runs the request through its auth, redirect
and event-hook loops, and reads the answer through four layers of generators. The toolkit's
clients use little of that: headers fixed when the adapter is made, no parameters of their
own, no redirects followed, no event hooks. `RequestBuilder` makes the same request from
plain lists: the same method, URL, headers in the same order, body and extensions as
``client.build_request(...)`` followed by the client's auth, and `read_whole` marks an
answer read from its body as `httpx.Response.aread` would. The adapters drive the exchange
(`HttpAdapter.request`, `AsyncHttpAdapter.request`); whatever this path does not cover
(``files``, ``cookies``, per-request ``auth``, ``follow_redirects``, ``extensions``, a client
given event hooks) goes through httpx's own client, unchanged.

No I/O here: both twins share it.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import httpx

try:  # httpx's own body encoder (content, form data, JSON), so bodies are byte for byte its
    from httpx._content import encode_request
except ImportError:  # pragma: no cover - httpx moved it: every request takes httpx's path
    encode_request = None  # type: ignore[assignment]

__all__ = [
    "LEAN_ARGUMENTS",
    "RequestBuilder",
    "Target",
    "log_exchange",
    "read_whole",
]

#: The keyword arguments of ``request`` the lean path builds itself; any other sends the
#: request through httpx's client.
LEAN_ARGUMENTS = frozenset({"content", "data", "json", "params", "headers"})

#: A header as a `httpx.Headers` keeps it: raw name, lower-case name, value.
Header = tuple[bytes, bytes, bytes]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# httpx's logger: its client logs each exchange there at INFO, and so do we.
_HTTPX_LOG = logging.getLogger("httpx")


class Target(NamedTuple):
    """Where requests to one path go, worked out once per path: the URL (under
    ``base_url``), its ``Host`` header, and the transport that serves its scheme."""

    url: httpx.URL
    host: bytes
    transport: Any


def _headers_of(headers: Any) -> list[Header]:
    """`headers` (a mapping, `httpx.Headers` or pairs) as `httpx.Headers` would keep them:
    str names and values encoded as ASCII (anything else raises as httpx does)."""
    if isinstance(headers, httpx.Headers):
        return [(raw, raw.lower(), value) for raw, value in headers.raw]
    items: Iterable[tuple[Any, Any]] = headers.items() if isinstance(headers, Mapping) else headers
    kept: list[Header] = []
    for name, value in items:
        raw = name if isinstance(name, bytes) else name.encode("ascii")
        if isinstance(value, bytes):
            kept.append((raw, raw.lower(), value))
        elif isinstance(value, str):
            kept.append((raw, raw.lower(), value.encode("ascii")))
        else:
            raise TypeError(f"Header value must be str or bytes, not {type(value)}")
    return kept


def _set(headers: list[Header], name: str, value: str) -> None:
    """``headers[name] = value`` as `httpx.Headers` sets it: the first header of that name
    replaced in place, any other removed; else added at the end."""
    raw = name.encode("utf-8")
    lower = raw.lower()
    header = (raw, lower, value.encode("utf-8"))
    found = [at for at, (_, key, _) in enumerate(headers) if key == lower]
    if not found:
        headers.append(header)
        return
    for at in reversed(found[1:]):
        del headers[at]
    headers[found[0]] = header


class RequestBuilder:
    """Builds an adapter's requests as its httpx client would (see the module's docstring).

    Args:
        client: the adapter's client: its headers (read once, here: the toolkit fixes them
            when the adapter is made) and its cookie jar (read at each request).
    """

    __slots__ = ("_base", "_cookies")

    def __init__(self, client: httpx.Client | httpx.AsyncClient) -> None:
        self._base = _headers_of(client.headers)
        self._cookies = client.cookies

    @staticmethod
    def covers(kwargs: Mapping[str, Any]) -> bool:
        """Whether a request with these keyword arguments can be built here."""
        return encode_request is not None and LEAN_ARGUMENTS.issuperset(kwargs)

    def build(
        self,
        method: str,
        target: Target,
        timeout: float | None,
        auth_header: tuple[str, str] | None = None,
        *,
        content: Any = None,
        data: Any = None,
        json: Any = None,
        params: Any = None,
        headers: Any = None,
    ) -> httpx.Request:
        """The request ``client.build_request(method, target.url, timeout=timeout, ...)``
        builds, with `auth_header` set as the client's auth flow would set it."""
        method = method.upper()
        url = target.url if params is None else httpx.URL(target.url, params=params)
        merged = self._base
        if headers:
            given = _headers_of(headers)
            replaced = {lower for _, lower, _ in given}
            merged = [header for header in merged if header[1] not in replaced] + given
        else:
            merged = list(merged)
        if self._cookies:
            merged = self._with_cookies(method, url, merged)
        assert encode_request is not None
        defaults, stream = encode_request(content=content, data=data, json=json)
        names = {lower for _, lower, _ in merged}
        for name, value in defaults.items():
            lower = name.lower().encode("ascii")
            if lower in names or (lower == b"transfer-encoding" and b"content-length" in names):
                continue
            merged.append((name.encode("utf-8"), lower, value.encode("utf-8")))
            names.add(lower)
        automatic: list[Header] = []
        if b"host" not in names and target.host:
            automatic.append((b"Host", b"host", target.host))
        if (
            b"content-length" not in names
            and b"transfer-encoding" not in names
            and method in _BODY_METHODS
        ):
            automatic.append((b"Content-Length", b"content-length", b"0"))
        if automatic:
            merged = automatic + merged
        if auth_header is not None:
            _set(merged, *auth_header)
        request = httpx.Request(
            method,
            url,
            headers=[(raw, value) for raw, _, value in merged],
            stream=stream,
            extensions={"timeout": _timeouts(timeout)},
        )
        if isinstance(stream, httpx.ByteStream):
            request.read()
        return request

    def _with_cookies(self, method: str, url: httpx.URL, headers: list[Header]) -> list[Header]:
        # Rare (a vendor that sets cookies): the jar's own code, on a request of the headers
        # so far, as httpx adds the Cookie header before the body's headers.
        request = httpx.Request(
            method, url, headers=[(raw, value) for raw, _, value in headers], stream=_NO_BODY
        )
        self._cookies.set_cookie_header(request)
        return _headers_of(request.headers)


_NO_BODY = httpx.ByteStream(b"")


def _timeouts(timeout: float | None) -> dict[str, float | None]:
    # httpx.Timeout(timeout).as_dict()
    return {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}


def read_whole(response: httpx.Response, body: bytes) -> None:
    """Mark `response`, whose stream gave `body` whole and is closed, read as
    ``await response.aread()`` leaves it (an answer with a ``Content-Encoding`` must be
    read by httpx, which decodes it)."""
    response._content = body
    response._num_bytes_downloaded = len(body)
    response.is_stream_consumed = True
    response.is_closed = True


def log_exchange(request: httpx.Request, response: httpx.Response, started: float) -> None:
    """What httpx's client does with an answer read whole, besides cookies: its
    ``elapsed`` (since `started`, `time.perf_counter()`) and its INFO log line."""
    response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
    if _HTTPX_LOG.isEnabledFor(logging.INFO):
        _HTTPX_LOG.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            request.url,
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
