"""Each operation as {{ cookiecutter.vendor_name }}'s HTTP request (pure: shared by both adapters).

An object's content travels as the request's or the answer's body; its content type as
``Content-Type`` and its metadata as one JSON header (`METADATA_HEADER`), so that names and
values come back exactly as they were given.

TODO(vendor): the paths, headers and bodies of {{ cookiecutter.vendor_name }}'s API reference (and the
double in testing.py, which answers them).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from nexus_connector_core import CallContext, ListObjects, PutObject

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "METADATA_HEADER",
    "OBJECTS",
    "content_of",
    "info_path",
    "list_params",
    "object_path",
    "put_headers",
]

#: put, get and delete act on ``/v1/objects/{key}``; list reads ``/v1/objects``.
OBJECTS = "/v1/objects"
#: What an object is when its content type is not given.
DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: The header that carries an object's metadata, as JSON.
METADATA_HEADER = "X-Object-Metadata"
#: Where, in a call's ``ctx.extras``, the content read by its first attempt is kept.
_CONTENT = "storage.content"


def object_path(key: str) -> str:
    """The path of an object: each segment percent-encoded, the slashes kept."""
    return f"{OBJECTS}/{quote(key, safe='/')}"


def info_path(key: str) -> str:
    """The path of what the store knows of an object (size, type, metadata), for exists."""
    return f"/v1/info/{quote(key, safe='/')}"


def content_of(request: PutObject, ctx: CallContext) -> bytes:
    """The object's content, read once per call: a file or a generator can be read only
    once, so every retry sends what the first attempt read. The whole object is in memory
    while it is sent; a vendor with multipart or chunked uploads can stream instead (see
    nexus-connector-s3)."""
    content = ctx.extra(_CONTENT)
    if content is None:
        content = ctx.extras[_CONTENT] = request.read()
    return bytes(content)


def put_headers(request: PutObject) -> dict[str, str]:
    """The headers of a put: the content type and the metadata."""
    return {
        "Content-Type": request.content_type or DEFAULT_CONTENT_TYPE,
        METADATA_HEADER: json.dumps(dict(request.metadata), sort_keys=True),
    }


def list_params(request: ListObjects) -> dict[str, Any]:
    """The query of one page of a listing."""
    params: dict[str, Any] = {"prefix": request.prefix, "limit": request.limit}
    if request.cursor is not None:
        params["cursor"] = request.cursor
    return params
