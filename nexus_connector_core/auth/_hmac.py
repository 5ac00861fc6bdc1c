"""HMAC request signing: a signature over a canonical string the vendor's scheme defines.

Vendors sign different parts of a request in different orders, so the canonical string is a
template. Placeholders:

==================  ==========================================================================
``{method}``        the method, upper case
``{path}``          the path as sent (percent-encoded), without the query
``{query}``         the query string as sent, without ``?``
``{sorted_query}``  the query parameters sorted by name, RFC 3986-encoded (AWS style)
``{host}``          the ``Host`` header
``{timestamp}``     the time of signing, in `timestamp_format`, from the injected clock
``{nonce}``         a random 32-hex-digit value, fresh per request
``{body}``          the raw body (its bytes are signed exactly)
``{body_sha256}``   the hex SHA-256 of the body (of b"" when there is none)
``{headers}``       the `signed_headers` as ``name:value`` lines (names lower case)
``{signed_headers}`` their names joined with ``;``
``{header[NAME]}``  any request header's value by lower-case name (empty when absent)
==================  ==========================================================================

The signature goes into `signature_header`, formatted by `header_value` (placeholders
``{signature}``, ``{key_id}``, ``{timestamp}``, ``{nonce}``, ``{signed_headers}``,
``{algorithm}``); the timestamp and nonce go into their own headers when named.

    >>> import httpx
    >>> from nexus_connector_core.testing import FakeClock
    >>> auth = HmacAuth("s3cr3t", clock=FakeClock())
    >>> request = httpx.Request("POST", "https://api.example/v1/x", content=b"{}")
    >>> request = next(auth.auth_flow(request))
    >>> request.headers["X-Timestamp"], len(request.headers["X-Signature"])
    ('1767225600', 64)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import string
from base64 import b64decode, b64encode
from collections.abc import Generator, Sequence
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Literal
from urllib.parse import parse_qsl, quote

import httpx

from .._clock import SYSTEM_CLOCK, Clock
from .._credentials import Secret
from ._simple import as_secret

__all__ = ["DEFAULT_TEMPLATE", "HmacAuth"]

#: The canonical string when none is given.
DEFAULT_TEMPLATE = "{method}\n{path}\n{timestamp}\n{body_sha256}"

Algorithm = Literal["sha1", "sha256", "sha384", "sha512"]
TimestampFormat = Literal["unix", "unix_ms", "iso8601", "http"]

_CANONICAL_FIELDS = frozenset(
    {
        "method",
        "path",
        "query",
        "sorted_query",
        "host",
        "timestamp",
        "nonce",
        "body",
        "body_sha256",
        "headers",
        "signed_headers",
        "header",
    }
)
_HEADER_FIELDS = frozenset(
    {"signature", "key_id", "timestamp", "nonce", "signed_headers", "algorithm"}
)


def _fields(template: str, allowed: frozenset[str], what: str) -> set[str]:
    """The placeholders of `template`; ValueError naming any unknown one."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        name = field.split("[", 1)[0].split(".", 1)[0]
        if name not in allowed:
            known = ", ".join("{" + n + "}" for n in sorted(allowed))
            raise ValueError(f"{what} has an unknown placeholder {{{field}}}; known: {known}")
        names.add(name)
    return names


class _HeaderValues:
    """``{header[name]}``: a request header's value, empty when absent."""

    __slots__ = ("_headers",)

    def __init__(self, headers: httpx.Headers) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        return str(self._headers.get(name, ""))


def _sorted_query(query: bytes) -> str:
    pairs = sorted(parse_qsl(query.decode("ascii"), keep_blank_values=True))
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def _timestamp(now: float, style: TimestampFormat) -> str:
    if style == "unix":
        return str(int(now))
    if style == "unix_ms":
        return str(int(now * 1000))
    if style == "iso8601":
        return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return formatdate(now, usegmt=True)


class HmacAuth(httpx.Auth):
    """Sign each request with an HMAC over a canonical string (see the module's docstring).

    Args:
        secret: the shared signing key.
        key_id: the key's public id, for ``{key_id}`` in `header_value`.
        template: the canonical string; `DEFAULT_TEMPLATE` by default.
        algorithm: the hash of the HMAC.
        encoding: ``hex`` or ``base64`` for the signature.
        secret_encoding: how `secret` turns into key bytes: ``utf-8``, ``base64``, ``hex``.
        signature_header: where the signature goes.
        header_value: the header's value; e.g. ``"HMAC {key_id}:{signature}"``.
        timestamp_header: where the timestamp goes (None: nowhere, only in the signature).
        timestamp_format: ``unix`` seconds, ``unix_ms``, ``iso8601`` (UTC) or ``http`` date.
        signed_headers: the headers ``{headers}`` and ``{signed_headers}`` list.
        nonce_header: where the nonce goes, when the scheme sends one.
        clock: where the timestamp comes from (a `FakeClock` in tests).

    >>> HmacAuth("s3cr3t", key_id="k1", header_value="HMAC {key_id}:{signature}")
    HmacAuth(key_id='k1', algorithm='sha256', secret=Secret('**********'))
    """

    requires_request_body = True

    def __init__(
        self,
        secret: Secret | str,
        *,
        key_id: str | None = None,
        template: str = DEFAULT_TEMPLATE,
        algorithm: Algorithm = "sha256",
        encoding: Literal["hex", "base64"] = "hex",
        secret_encoding: Literal["utf-8", "base64", "hex"] = "utf-8",
        signature_header: str = "X-Signature",
        header_value: str = "{signature}",
        timestamp_header: str | None = "X-Timestamp",
        timestamp_format: TimestampFormat = "unix",
        signed_headers: Sequence[str] = (),
        nonce_header: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if algorithm not in ("sha1", "sha256", "sha384", "sha512"):
            raise ValueError(f"algorithm must be sha1, sha256, sha384 or sha512, not {algorithm!r}")
        self._secret = as_secret(secret, "secret")
        self._key = _key_bytes(self._secret, secret_encoding)
        self.key_id = key_id
        self.template = template
        self.algorithm = algorithm
        self.encoding = encoding
        self.signature_header = signature_header
        self.header_value = header_value
        self.timestamp_header = timestamp_header
        self.timestamp_format = timestamp_format
        self.signed_headers = tuple(name.lower() for name in signed_headers)
        self.nonce_header = nonce_header
        self.clock = clock
        used = _fields(template, _CANONICAL_FIELDS, "template")
        used |= _fields(header_value, _HEADER_FIELDS, "header_value")
        self._needs_nonce = "nonce" in used or nonce_header is not None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = _timestamp(self.clock.time(), self.timestamp_format)
        nonce = os.urandom(16).hex() if self._needs_nonce else ""
        if self.timestamp_header:
            request.headers[self.timestamp_header] = timestamp
        if self.nonce_header:
            request.headers[self.nonce_header] = nonce
        canonical = self.canonical_string(request, timestamp=timestamp, nonce=nonce)
        mac = hmac.new(self._key, canonical, self.algorithm).digest()
        signature = mac.hex() if self.encoding == "hex" else b64encode(mac).decode("ascii")
        request.headers[self.signature_header] = self.header_value.format(
            signature=signature,
            key_id=self.key_id or "",
            timestamp=timestamp,
            nonce=nonce,
            signed_headers=";".join(self.signed_headers),
            algorithm=self.algorithm,
        )
        yield request

    def canonical_string(self, request: httpx.Request, *, timestamp: str, nonce: str = "") -> bytes:
        """The bytes signed for `request`: the template filled in (the body byte for byte)."""
        raw_path, _, query = request.url.raw_path.partition(b"?")
        body = request.content
        headers = request.headers
        filled = self.template.format(
            method=request.method.upper(),
            path=raw_path.decode("ascii"),
            query=query.decode("ascii"),
            sorted_query=_sorted_query(query),
            host=headers.get("host", ""),
            timestamp=timestamp,
            nonce=nonce,
            # surrogateescape: bytes that are not UTF-8 survive the round trip unchanged
            body=body.decode("utf-8", "surrogateescape"),
            body_sha256=hashlib.sha256(body).hexdigest(),
            headers="\n".join(
                f"{name}:{headers.get(name, '').strip()}" for name in self.signed_headers
            ),
            signed_headers=";".join(self.signed_headers),
            header=_HeaderValues(headers),
        )
        return filled.encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return (
            f"HmacAuth(key_id={self.key_id!r}, algorithm={self.algorithm!r}, "
            f"secret={self._secret!r})"
        )


def _key_bytes(secret: Secret, encoding: str) -> bytes:
    value = secret.reveal()
    if encoding == "utf-8":
        return value.encode()
    try:
        return b64decode(value, validate=True) if encoding == "base64" else bytes.fromhex(value)
    except ValueError:
        # The value itself stays out of the message.
        raise ValueError(f"the HMAC secret is not valid {encoding}") from None
