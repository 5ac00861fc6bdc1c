"""{{ cookiecutter.vendor_name }}'s answers read as results, and its error codes (pure).

An error answer is ``{"error": {"code", "message"}}``, which `HttpVendor.read_error` reads;
its status decides the error class unless `ERRORS` says more about its code.
"""

from __future__ import annotations

from typing import Any

from nexus_connector_core import (
    AuthenticationError,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectPage,
)
from nexus_connector_core.http import ErrorKind, ErrorTable

__all__ = ["ERRORS", "read_info", "read_page"]

#: {{ cookiecutter.vendor_name }}'s error codes that say more than their HTTP status, and what to do.
#: TODO(vendor): the codes its API reference lists.
ERRORS: ErrorTable = {
    "unauthorized": ErrorKind(AuthenticationError, "check the connector's credentials"),
    "no_such_key": ErrorKind(ObjectNotFoundError, "the store has no object by that key"),
}


def read_info(body: Any, vendor: str) -> ObjectInfo:
    """An object's description (``{"key", "size", "etag", "content_type", "metadata"}``)."""
    return ObjectInfo(
        vendor=vendor,
        vendor_id=str(body["etag"]),
        key=str(body["key"]),
        size=int(body["size"]),
        etag=str(body["etag"]),
        content_type=body.get("content_type"),
        metadata={str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
        raw=body,
    )


def read_page(body: Any, vendor: str) -> ObjectPage:
    """One page of a listing; ``next_cursor`` None on the last."""
    cursor = body.get("next_cursor")
    return ObjectPage(
        vendor=vendor,
        items=[read_info(item, vendor) for item in body["items"]],
        next_cursor=str(cursor) if cursor else None,
        raw=body,
    )
