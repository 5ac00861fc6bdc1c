"""The headers of a webhook delivery, matched case-insensitively."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias

from .._errors import WebhookVerificationError

__all__ = ["Headers", "HeadersInput"]

#: What `verify` accepts as headers: a mapping (a framework's headers object, a dict) or
#: name/value pairs as ASGI and WSGI servers hand them over, in str or bytes.
HeadersInput: TypeAlias = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


def _text(value: str | bytes) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        # HTTP field values are bytes; latin-1 maps each one to one character, losslessly.
        return bytes(value).decode("latin-1")
    raise TypeError(f"a header name or value is str or bytes, got {type(value).__name__}")


class Headers(Mapping[str, str]):
    """A read-only, case-insensitive view of a delivery's headers.

    >>> headers = Headers({"X-Hub-Signature-256": "sha256=abc"})
    >>> headers["x-hub-signature-256"]
    'sha256=abc'

    A name given more than once is joined with ``", "`` as HTTP does; a signature header
    sent twice therefore no longer parses and the delivery is rejected, never guessed at.
    """

    __slots__ = ("_fields",)

    _fields: dict[str, tuple[str, str]]

    def __init__(self, headers: HeadersInput | None = None) -> None:
        fields: dict[str, tuple[str, str]] = {}
        if isinstance(headers, Headers):
            fields.update(headers._fields)
        elif headers is not None:
            pairs = headers.items() if isinstance(headers, Mapping) else headers
            for raw_name, raw_value in pairs:
                name, value = _text(raw_name), _text(raw_value)
                folded = name.lower()
                if folded in fields:
                    first, previous = fields[folded]
                    fields[folded] = (first, f"{previous}, {value}")
                else:
                    fields[folded] = (name, value)
        self._fields = fields

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def require(self, name: str) -> str:
        """The value of header `name` without surrounding whitespace.

        Raises `WebhookVerificationError` ("missing header NAME") when it is absent or empty.
        """
        field = self._fields.get(name.lower())
        value = field[1].strip() if field else ""
        if not value:
            raise WebhookVerificationError(f"missing header {name}")
        return value

    def __repr__(self) -> str:
        # Names only: values carry signatures, and tokens when an app passes every header.
        return f"Headers({sorted(self)!r})"
