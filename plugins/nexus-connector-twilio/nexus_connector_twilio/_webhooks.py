"""The ``twilio`` webhook verifier: Twilio's X-Twilio-Signature request validation.

Twilio signs each webhook (incoming messages, status callbacks) with HMAC-SHA1 under the
account's auth token, base64-encoded in ``X-Twilio-Signature``. What it signs:

- a form body (``application/x-www-form-urlencoded``, most webhooks): the full URL it
  requested, followed by every form field's name and value, sorted by name (a name sent
  several times: each of its distinct values, sorted; a repeated value counts once, as in
  twilio-python's ``RequestValidator``), concatenated with no separator;
- a JSON body: the URL alone, whose query carries ``bodySHA256``, the hex SHA-256 of the
  raw body, which must match too.

Twilio is not consistent about the port in the URL it signs, so a URL without one is also
tried with the scheme's (443, 80), and a URL with one also without it, as Twilio's own
libraries do. No timestamp is signed; ``I-Twilio-Idempotency-Token`` (the same on Twilio's
retries, not signed) is the delivery id for replay protection.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import msgspec

from nexus_connector_core import WebhookVerificationError
from nexus_connector_core.webhooks import Headers, HmacVerifier, VerifiedDelivery, decode_body

__all__ = ["TWILIO", "TwilioVerifier"]

_FORM = "application/x-www-form-urlencoded"
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_DEFAULT_PORTS = {"https": "443", "http": "80"}


class TwilioVerifier(HmacVerifier):
    """Verifies ``X-Twilio-Signature``; pass the URL Twilio requested, query included.

    >>> from nexus_connector_core.webhooks import verify
    >>> event = verify("twilio", headers=request.headers, body=raw_body,
    ...                url="https://example.com/sms/status?tenant=7",
    ...                secret=auth_token)                          # doctest: +SKIP
    >>> event.data["MessageStatus"]                                # doctest: +SKIP
    'delivered'

    Behind a proxy, rebuild the public URL Twilio used (scheme, host, path and query) rather
    than the one your server saw. During an auth token rotation pass both tokens.
    """

    def __init__(self) -> None:
        super().__init__(
            name="twilio",
            header="X-Twilio-Signature",
            algorithm="sha1",
            encoding="base64",
            signed_content="{url}",
            id_header="I-Twilio-Idempotency-Token",
        )

    def verify(
        self,
        *,
        headers: Headers,
        body: bytes,
        secrets: Sequence[bytes],
        url: str | None,
        now: float,
    ) -> VerifiedDelivery:
        """Check the signature with every secret and URL form; see `WebhookVerifier`."""
        del now  # Twilio signs no timestamp
        if "X-Twilio-Webhooks-Signature-Settings" in headers:
            raise WebhookVerificationError(
                "X-Twilio-Webhooks-Signature-Settings is set: signatures made with a "
                "Webhook Rule's shared key are not supported"
            )
        [offered] = self.signatures(headers)
        if url is None:
            raise WebhookVerificationError(
                "the twilio scheme signs the request URL: pass url= to verify"
            )
        urls = _url_forms(url)
        body_hash = _body_sha256(url)
        data: Any = msgspec.UNSET
        if body_hash is None:
            fields = _form_fields(body)
            data = decode_body(body, _FORM)
        else:
            fields = ""
        matched = False
        for key in self.keys(secrets):
            for signed_url in urls:
                expected = self.signature(key, (signed_url + fields).encode("utf-8"))
                # Not short-circuited: every comparison runs, in constant time.
                matched |= hmac.compare_digest(expected.encode(), offered.encode())
        if not matched:
            raise WebhookVerificationError("signature mismatch")
        if body_hash is not None and not hmac.compare_digest(
            hashlib.sha256(body).hexdigest(), body_hash.lower()
        ):
            raise WebhookVerificationError("body does not match the bodySHA256 of the URL")
        return VerifiedDelivery(id=self.delivery_id(headers), data=data)

    def __repr__(self) -> str:
        return "TwilioVerifier()"


def _url_forms(url: str) -> tuple[str, ...]:
    """`url` as given, and with its port removed or the scheme's default port added.

    Only the port changes: the rest of the URL is kept byte for byte, as Twilio signed it.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookVerificationError("malformed url: not a valid absolute URL") from None
    default_port = _DEFAULT_PORTS.get(parts.scheme.lower())
    if default_port is None or not parts.netloc:
        raise WebhookVerificationError("malformed url: expected an absolute http(s) URL")
    start = url.index("//") + 2  # the authority follows the scheme's "//"
    head, tail = url[:start], url[start + len(parts.netloc) :]
    userinfo, at, host = parts.netloc.rpartition("@")
    if port is not None:
        host = host[: host.rindex(":")]
        other = f"{userinfo}{at}{host}"
    else:
        host = host.removesuffix(":")  # "host:" names no port
        other = f"{userinfo}{at}{host}:{default_port}"
    return (url, head + other + tail)


def _body_sha256(url: str) -> str | None:
    """The ``bodySHA256`` query parameter of a JSON delivery's URL, or None."""
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get("bodySHA256")
    if values is None:
        return None
    if len(values) != 1 or not _SHA256_HEX.fullmatch(values[0]):
        raise WebhookVerificationError("malformed bodySHA256: expected 64 hex digits")
    return values[0]


def _form_fields(body: bytes) -> str:
    """The form fields as Twilio appends them to the URL: sorted names, each with its
    sorted distinct values, joined."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise WebhookVerificationError(
            "malformed body: expected form fields, or a JSON body with bodySHA256 in the url"
        ) from None
    grouped: dict[str, set[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))


#: The instance the plugin registers under ``twilio``.
TWILIO = TwilioVerifier()
