"""The generic HMAC verifier, configured for GitHub, Slack, Shopify and most vendors' schemes.

A scheme is: which content is signed (a template over the body, the timestamp, the message
id and the URL), with which hash, how the digest is written (hex or base64, after a prefix
such as ``sha256=``), and in which headers the signature, timestamp and id travel.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string
from collections.abc import Sequence
from typing import Literal

import msgspec

from .._errors import WebhookVerificationError
from ._headers import Headers
from ._verifier import VerifiedDelivery

__all__ = ["HmacOptions", "HmacVerifier"]

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]

_FIELDS = frozenset({"body", "timestamp", "id", "url"})
#: Whole seconds since the epoch, as every scheme here sends them; no sign, no spaces.
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


class HmacOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The configuration of the generic ``hmac`` verifier (``verify("hmac", options=...)``)."""

    #: The header carrying the signature (``X-Acme-Signature``).
    header: str
    #: The hash of the HMAC.
    algorithm: Algorithm = "sha256"
    #: How the digest is written: ``hex`` (lowercase or uppercase) or ``base64`` (standard,
    #: padded).
    encoding: Encoding = "hex"
    #: What precedes the digest in the header (``sha256=``, ``v0=``).
    prefix: str = ""
    #: What is signed: literal text and ``{body}``, ``{timestamp}``, ``{id}``, ``{url}``
    #: (``v0:{timestamp}:{body}``); ``{{`` and ``}}`` are literal braces.
    signed_content: str = "{body}"
    #: The header carrying the signing time in seconds since the epoch, if any; the
    #: delivery is then rejected outside the tolerance.
    timestamp_header: str | None = None
    #: The header carrying the message id, if any; used for replay protection.
    id_header: str | None = None


def _parse_template(template: str) -> tuple[tuple[str, bytes], ...]:
    """``"v0:{timestamp}:{body}"`` -> (("", b"v0:"), ("timestamp", b""), ...)."""
    parts: list[tuple[str, bytes]] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if literal:
            parts.append(("", literal.encode()))
        if field is None:
            continue
        if field not in _FIELDS or spec or conversion:
            raise ValueError(
                f"signed_content {template!r}: unknown placeholder {{{field}}}; use "
                "{body}, {timestamp}, {id} or {url}"
            )
        parts.append((field, b""))
    return tuple(parts)


class HmacVerifier:
    """Verifies an HMAC signature of configurable content, in a header.

    >>> github = HmacVerifier(
    ...     name="github", header="X-Hub-Signature-256", prefix="sha256=",
    ...     id_header="X-GitHub-Delivery")
    >>> slack = HmacVerifier(
    ...     name="slack", header="X-Slack-Signature", prefix="v0=",
    ...     signed_content="v0:{timestamp}:{body}", timestamp_header="X-Slack-Request-Timestamp")

    Pass an instance to `verify`, or register one under a key. A scheme that places its
    parts elsewhere subclasses it and overrides one step of `verify`: `signatures` (where
    the signatures are: Stripe's ``t=...,v1=...``), `timestamp`, `delivery_id`,
    `signed_content` (Twilio's URL and sorted fields) or `keys` (secrets that are encoded,
    like Standard Webhooks' ``whsec_...``).
    """

    def __init__(
        self,
        *,
        header: str,
        algorithm: Algorithm = "sha256",
        encoding: Encoding = "hex",
        prefix: str = "",
        signed_content: str = "{body}",
        timestamp_header: str | None = None,
        id_header: str | None = None,
        name: str = "hmac",
    ) -> None:
        if algorithm not in ("sha1", "sha256", "sha512"):
            raise ValueError(f"algorithm {algorithm!r}: use sha1, sha256 or sha512")
        if encoding not in ("hex", "base64"):
            raise ValueError(f"encoding {encoding!r}: use hex or base64")
        self.options = HmacOptions(
            header=header,
            algorithm=algorithm,
            encoding=encoding,
            prefix=prefix,
            signed_content=signed_content,
            timestamp_header=timestamp_header,
            id_header=id_header,
        )
        self.name = name
        self._template = _parse_template(signed_content)
        used = {field for field, _ in self._template}
        if "timestamp" in used and not timestamp_header:
            raise ValueError("signed_content uses {timestamp}: set timestamp_header")
        if "id" in used and not id_header:
            raise ValueError("signed_content uses {id}: set id_header")
        self._signs_id = "id" in used
        size = hashlib.new(algorithm).digest_size
        if encoding == "hex":
            self._shape = re.compile(f"[0-9a-fA-F]{{{2 * size}}}")
            self._shape_text = f"{2 * size} hex digits"
        else:
            length = 4 * -(-size // 3)
            self._shape = re.compile(f"[A-Za-z0-9+/]{{{length - 2}}}[A-Za-z0-9+/=]{{2}}")
            self._shape_text = f"{length} base64 characters"

    @classmethod
    def from_options(cls, options: HmacOptions) -> HmacVerifier:
        """The verifier an `HmacOptions` describes (how the ``hmac`` key is configured)."""
        return cls(**msgspec.structs.asdict(options))

    # -- the steps of verify, each replaceable by a subclass ---------------------------------

    def signatures(self, headers: Headers) -> list[str]:
        """The signatures the delivery offers, as written (digest only, prefix removed)."""
        header, prefix = self.options.header, self.options.prefix
        value = headers.require(header)
        digest = value[len(prefix) :]
        if not value.startswith(prefix) or not self._shape.fullmatch(digest):
            expected = f"{prefix!r} and " if prefix else ""
            raise WebhookVerificationError(
                f"malformed header {header}: expected {expected}{self._shape_text}"
            )
        return [digest]

    def timestamp(self, headers: Headers) -> str | None:
        """The timestamp as sent (it is signed as written), or None if the scheme has none."""
        name = self.options.timestamp_header
        if name is None:
            return None
        value = headers.require(name)
        if not _TIMESTAMP.fullmatch(value):
            raise WebhookVerificationError(
                f"malformed header {name}: expected whole seconds since the epoch"
            )
        return value

    def delivery_id(self, headers: Headers) -> str | None:
        """The message id: required when signed, else optional (GitHub's delivery GUID)."""
        name = self.options.id_header
        if name is None:
            return None
        if self._signs_id:
            return headers.require(name)
        return headers.get(name, "").strip() or None

    def signed_content(
        self, *, body: bytes, timestamp: str | None, id: str | None, url: str | None
    ) -> bytes:
        """The bytes the sender signed, from the template."""
        if url is None and any(field == "url" for field, _ in self._template):
            raise WebhookVerificationError(
                f"the {self.name} scheme signs the request URL: pass url= to verify"
            )
        values = {"body": body, "timestamp": timestamp, "id": id, "url": url}
        out = bytearray()
        for field, literal in self._template:
            value = values[field] if field else literal
            out += value.encode() if isinstance(value, str) else value or b""
        return bytes(out)

    def keys(self, secrets: Sequence[bytes]) -> Sequence[bytes]:
        """The HMAC keys for the configured secrets (as they are, here)."""
        return secrets

    def signature(self, key: bytes, content: bytes) -> str:
        """The digest of `content` under `key`, written as the scheme writes it."""
        digest = hmac.new(key, content, self.options.algorithm).digest()
        if self.options.encoding == "hex":
            return digest.hex()
        return base64.b64encode(digest).decode("ascii")

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[bytes],
        url: str | None,
        now: float,
    ) -> VerifiedDelivery:
        """Check the signature with every key; see `WebhookVerifier.verify`."""
        del now  # the tolerance is checked by `verify`, on the timestamp returned
        offered = self.signatures(headers)
        if self.options.encoding == "hex":
            offered = [s.lower() for s in offered]
        timestamp = self.timestamp(headers)
        message_id = self.delivery_id(headers)
        content = self.signed_content(body=body, timestamp=timestamp, id=message_id, url=url)
        matched = False
        for key in self.keys(secrets):
            expected = self.signature(key, content).encode()
            for candidate in offered:
                # Not short-circuited: every comparison runs, in constant time.
                matched |= hmac.compare_digest(expected, candidate.encode())
        if not matched:
            raise WebhookVerificationError("signature mismatch")
        return VerifiedDelivery(
            id=message_id, timestamp=int(timestamp) if timestamp is not None else None
        )

    def __repr__(self) -> str:
        return f"HmacVerifier(name={self.name!r}, header={self.options.header!r})"
