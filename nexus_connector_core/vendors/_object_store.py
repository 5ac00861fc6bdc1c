"""What the embedded object stores (memory, filesystem) share: paging, URL signing, errors."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from .._cloud_storage import ListObjects
from .._errors import ObjectNotFoundError

__all__ = ["CHUNK_SIZE", "not_found", "select_page", "url_signature"]

#: Bytes per chunk that `open` streams.
CHUNK_SIZE = 1 << 16


def select_page(keys: Iterable[str], request: ListObjects) -> tuple[list[str], str | None]:
    """The keys of one listing page, sorted, and the cursor of the next page (None: last).

    The cursor is the last key of the page: the next page starts after it, so keys added or
    removed between pages neither repeat nor shift the listing.

    >>> select_page(["b", "a", "c", "x"], ListObjects(prefix="", limit=2))
    (['a', 'b'], 'b')
    """
    after = request.cursor
    matching = sorted(
        k for k in keys if k.startswith(request.prefix) and (after is None or k > after)
    )
    page = matching[: request.limit]
    return page, (page[-1] if len(matching) > request.limit else None)


def url_signature(secret: bytes, method: str, key: str, expires: int) -> str:
    """The HMAC-SHA256 (hex) that signs a URL granting `method` on `key` until `expires`."""
    message = f"{method}\n{key}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def not_found(key: str) -> ObjectNotFoundError:
    """The error for a key the store does not hold (S3's ``NoSuchKey``)."""
    return ObjectNotFoundError(f"no object with key {key!r}", code="NoSuchKey", status_code=404)
