{%- set C = cookiecutter.__class -%}
"""The {{ cookiecutter.vendor_name }} object-storage adapters: the base holds all but the sending, each
twin sends.

`nexus_connector_core.http` sends within ``ctx.timeout``, sets ``ctx.request_sent`` and
``ctx.status_code``, and maps every failure and error answer to the library's errors. Every
storage operation is idempotent, so the pipeline retries each after a transient failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

import httpx
from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    InvalidRequestError,
    ListObjects,
    ObjectInfo,
    ObjectKey,
    ObjectPage,
    PutObject,
    SignedUrlRequest,
)
{%- include "common/auth_imports.py" %}
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

from ._answers import ERRORS, read_info, read_page
from ._options import {{ C }}Options
from ._requests import OBJECTS, content_of, info_path, list_params, object_path, put_headers

__all__ = {{ ["Async" ~ C ~ "StorageAdapter", C ~ "StorageAdapter"] | sort(case_sensitive=true) | tojson }}
{%- include "common/base.py" %}

    def _info(self, response: httpx.Response) -> ObjectInfo:
        return self.read(response, lambda body: read_info(body, self.vendor), "an object")

    def _page(self, response: httpx.Response) -> ObjectPage:
        return self.read(response, lambda body: read_page(body, self.vendor), "a listing")

    def _exists(self, response: httpx.Response) -> bool:
        if response.status_code == 404:
            return False
        if not response.is_success:
            raise self.error_for(response)
        return True

    def _deleted(self, response: httpx.Response) -> None:
        if not response.is_success and response.status_code != 404:  # gone already: fine
            raise self.error_for(response)

    def _cannot_sign(self) -> InvalidRequestError:
        # TODO(vendor): if {{ cookiecutter.vendor_name }} signs URLs, build them here (no request:
        # signing is local) and set signed_urls="http" in tests/test_conformance.py.
        return InvalidRequestError(
            f"{self.vendor_name} cannot sign URLs; fetch the object with get or open",
            maybe_processed=False,
        )


#: The size of the chunks `open` hands over.
CHUNK_SIZE = 64 * 1024


def _chunks(content: bytes) -> Iterator[bytes]:
    for start in range(0, len(content), CHUNK_SIZE):
        yield content[start : start + CHUNK_SIZE]


async def _achunks(content: bytes) -> AsyncIterator[bytes]:
    for chunk in _chunks(content):
        yield chunk


class {{ C }}StorageAdapter(_{{ C }}, HttpAdapter):
    """Stores objects through {{ cookiecutter.vendor_name }}'s HTTP API."""

    def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        content, headers = content_of(request, ctx), put_headers(request)
        path = object_path(request.key)
        response = self.request("PUT", path, ctx, content=content, headers=headers)
        return self._info(response)

    def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        return self.request("GET", object_path(request.key), ctx).content

    def open(self, request: ObjectKey, ctx: CallContext) -> AbstractContextManager[Iterator[bytes]]:
        """The object in chunks. It is read whole first (simple, bounded by its size); for
        objects larger than memory, stream the answer as nexus-connector-s3's open does."""
        return contextlib.nullcontext(_chunks(self.get(request, ctx)))

    def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        self._deleted(self.request("DELETE", object_path(request.key), ctx, check=False))

    def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        return self._exists(self.request("GET", info_path(request.key), ctx, check=False))

    def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        return self._page(self.request("GET", OBJECTS, ctx, params=list_params(request)))

    def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        raise self._cannot_sign()


class Async{{ C }}StorageAdapter(_{{ C }}, AsyncHttpAdapter):
    """The asynchronous twin of `{{ C }}StorageAdapter`."""

    async def put(self, request: PutObject, ctx: CallContext) -> ObjectInfo:
        content, headers = content_of(request, ctx), put_headers(request)
        path = object_path(request.key)
        response = await self.request("PUT", path, ctx, content=content, headers=headers)
        return self._info(response)

    async def get(self, request: ObjectKey, ctx: CallContext) -> bytes:
        return (await self.request("GET", object_path(request.key), ctx)).content

    async def open(
        self, request: ObjectKey, ctx: CallContext
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """The object in chunks (see `{{ C }}StorageAdapter.open`)."""
        return contextlib.nullcontext(_achunks(await self.get(request, ctx)))

    async def delete(self, request: ObjectKey, ctx: CallContext) -> None:
        response = await self.request("DELETE", object_path(request.key), ctx, check=False)
        self._deleted(response)

    async def exists(self, request: ObjectKey, ctx: CallContext) -> bool:
        response = await self.request("GET", info_path(request.key), ctx, check=False)
        return self._exists(response)

    async def list(self, request: ListObjects, ctx: CallContext) -> ObjectPage:
        return self._page(await self.request("GET", OBJECTS, ctx, params=list_params(request)))

    async def signed_url(self, request: SignedUrlRequest, ctx: CallContext) -> str:
        raise self._cannot_sign()
