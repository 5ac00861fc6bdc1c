"""Keeping credentials out of what vendors send back, and vendor text fit for a message.

A vendor, a proxy or a token endpoint may echo a request back in an error: the API key as
sent, URL-encoded in a form or a query, or inside an ``Authorization: Basic`` header
(base64 of ``id:secret``). `Redactor` masks a secret in every form this library itself
puts it on the wire; `vendor_text` turns a vendor's free text into something a message may
quote: printable, one line, bounded, redacted.
"""

from __future__ import annotations

import json
from base64 import b64encode, urlsafe_b64encode
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

from .._credentials import Secret

__all__ = ["MASK", "Redactor", "vendor_text"]

MASK = "**********"

#: The longest vendor text a message quotes.
MAX_VENDOR_TEXT = 300

_MIN_FORM = 4  # shorter encoded forms would mask ordinary words


def _forms(value: str) -> set[str]:
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    raw = value.encode()
    forms.add(b64encode(raw).decode().rstrip("="))
    forms.add(urlsafe_b64encode(raw).decode().rstrip("="))
    return {form for form in forms if len(form) >= _MIN_FORM}


def _reveal(secret: Secret | str) -> str:
    return secret.reveal() if isinstance(secret, Secret) else secret


class Redactor:
    """Masks secrets, and their encoded forms, in text.

    `secrets` are masked as written, URL-encoded (``%2F`` and ``+`` styles), JSON-escaped
    and base64-encoded; each `pairs` entry ``(user, secret)`` also as the credentials of
    HTTP Basic auth (base64 of ``user:secret``, both raw and form-encoded, RFC 6749 §2.3.1).
    `named` secrets are replaced by their name in angle brackets, which keeps a message
    readable where a vendor quotes an identifier (an account id in a path).

    >>> redactor = Redactor(["s3cr3t/key"], pairs=[("client", "s3cr3t/key")])
    >>> redactor("echo: s3cr3t%2Fkey and Basic Y2xpZW50OnMzY3IzdC9rZXk=")
    'echo: ********** and Basic **********='
    >>> Redactor(named={"account_sid": "AC42ab"})("/Accounts/AC42ab/Messages")
    '/Accounts/<account_sid>/Messages'
    """

    __slots__ = ("_forms",)

    def __init__(
        self,
        secrets: Iterable[Secret | str] = (),
        *,
        pairs: Iterable[tuple[str, Secret | str]] = (),
        named: Mapping[str, Secret | str] | None = None,
    ) -> None:
        masks: dict[str, str] = {}
        for name, secret in (named or {}).items():
            if value := _reveal(secret):
                masks.update(dict.fromkeys(_forms(value), f"<{name}>"))
        for secret in secrets:
            if value := _reveal(secret):
                masks.update(dict.fromkeys(_forms(value), MASK))
        for user, secret in pairs:
            if not (value := _reveal(secret)):
                continue
            for joined in (f"{user}:{value}", f"{quote_plus(user)}:{quote_plus(value)}"):
                masks[b64encode(joined.encode()).decode().rstrip("=")] = MASK
        # Longest first: a form inside another (the secret in its base64) is masked whole.
        self._forms = tuple(sorted(masks.items(), key=lambda item: len(item[0]), reverse=True))

    def __call__(self, text: str) -> str:
        for form, mask in self._forms:
            if form in text:
                text = text.replace(form, mask)
        return text

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __repr__(self) -> str:
        return f"Redactor({len(self._forms)} forms)"


def vendor_text(text: object, redact: Redactor | None = None, limit: int = MAX_VENDOR_TEXT) -> str:
    """A vendor's free text (an error message) as a message may quote it: a string, control
    characters and line breaks replaced by spaces, at most `limit` characters, secrets
    masked. Anything that is not a string gives ``""``.

    >>> vendor_text("bad\\r\\nX-Injected: 1\\x00 " + "x" * 400, limit=20)
    'bad X-Injected: 1 x…'
    """
    if not isinstance(text, str):
        return ""
    if redact:  # first, on the whole text: a secret cut in two would escape the mask
        text = redact(text)
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned
