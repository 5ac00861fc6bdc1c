{%- set C = cookiecutter.__class -%}
"""A local {{ cookiecutter.vendor_name }} for tests, an application's or the plugin's: a `FaultServer`
responder that speaks {{ cookiecutter.vendor_name }}'s documented object-storage API.

`{{ C }}Double` keeps objects as {{ cookiecutter.vendor_name }} does (``objects``: content, content type
and metadata by key), lists them sorted by key, a page at a time; `connector` is the table
of a connector to it. Faults (errors, resets, stalls) are the server's to script. In an
application's test:

>>> from nexus_connector_core import ConnectorManager
>>> from nexus_connector_core.testing import FaultServer
>>> from {{ cookiecutter.package_name }}.testing import {{ C }}Double, connector
>>> double = {{ C }}Double()
>>> with FaultServer(default=double) as server:
...     config = {"connectors": {"files": connector(server.url)}}
...     with ConnectorManager.from_config(config) as manager:
...         info = manager.connector("files").put("invoices/0042.pdf", b"%PDF-1.7")
>>> double.objects["invoices/0042.pdf"]["content"]
b'%PDF-1.7'

TODO(vendor): make the double answer as {{ cookiecutter.vendor_name }}'s API reference documents
(paths, auth, bodies, statuses, error codes): it knows the vendor, not our client, so that it
catches the client's mistakes.
"""

from __future__ import annotations
{% if cookiecutter.auth_method in ("basic", "oauth2_client_credentials") %}
import base64
{%- endif %}
import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from nexus_connector_core.testing import Fault, ReceivedRequest

__all__ = [
    "FAULTS",
    "RETRY_AFTER",
    "{{ C }}Double",
    "connector",
    "credentials",
    "vendor_error",
]
{%- include "common/double_auth.py" %}


#: The answers of the faults the conformance suite asks for (`StorageFaultKind`).
FAULTS: Mapping[str, Fault] = {
    "transient": vendor_error(503, "unavailable", "Try again later"),
    "auth": AUTH_REFUSED,
}
_OBJECTS = "/v1/objects"
_INFO = "/v1/info/"


class {{ C }}Double:
    """Answers like {{ cookiecutter.vendor_name }}; ``objects`` holds what it stores, by key."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, request: ReceivedRequest) -> Fault:
        refused = _credentials_answer(request)
        if refused is not None:
            return refused
        path, _, query = request.path.partition("?")
        with self._lock:
            if path == _OBJECTS and request.method == "GET":
                return self._list(parse_qs(query, keep_blank_values=True))
            if path.startswith(_INFO) and request.method == "GET":
                found = self.objects.get(unquote(path.removeprefix(_INFO)))
                if found is None:
                    return vendor_error(404, "no_such_key", "No object by that key")
                return Fault.respond(200, _info(found))
            if path.startswith(_OBJECTS + "/"):
                return self._object(request, unquote(path.removeprefix(_OBJECTS + "/")))
        return vendor_error(404, "not_found", f"No route for {request.method} {path}")

    def _object(self, request: ReceivedRequest, key: str) -> Fault:
        if request.method == "PUT":
            stored = {
                "key": key,
                "content": request.body,
                "content_type": request.headers.get("content-type", "application/octet-stream"),
                "metadata": json.loads(request.headers.get("x-object-metadata", "{}")),
                "etag": hashlib.sha256(request.body).hexdigest()[:32],
            }
            self.objects[key] = stored
            return Fault.respond(200, _info(stored))
        if request.method == "DELETE":
            self.objects.pop(key, None)
            return Fault.respond(204)
        found = self.objects.get(key)
        if request.method != "GET":
            return vendor_error(405, "method_not_allowed", f"{request.method} is not allowed")
        if found is None:
            return vendor_error(404, "no_such_key", "No object by that key")
        headers = {"Content-Type": found["content_type"], "ETag": found["etag"]}
        return Fault.respond(200, found["content"], headers)

    def _list(self, query: Mapping[str, list[str]]) -> Fault:
        prefix = query.get("prefix", [""])[0]
        cursor = query.get("cursor", [""])[0]
        limit = int(query.get("limit", ["1000"])[0])
        keys = sorted(k for k in self.objects if k.startswith(prefix) and k > cursor)
        page = keys[:limit]
        next_cursor = page[-1] if len(keys) > limit else None
        return Fault.respond(
            200, {"items": [_info(self.objects[k]) for k in page], "next_cursor": next_cursor}
        )


def _info(stored: Mapping[str, Any]) -> dict[str, Any]:
    """An object's description, as the API gives it."""
    return {
        "key": stored["key"],
        "size": len(stored["content"]),
        "etag": stored["etag"],
        "content_type": stored["content_type"],
        "metadata": stored["metadata"],
    }


def connector(base_url: str, **options: Any) -> dict[str, Any]:
    """The table of a ``files`` connector (category cloud_storage) whose vendor is the
    double at `base_url`."""
    return {
        "category": "cloud_storage",
        "vendor": "{{ cookiecutter.vendor_key }}",
        "options": {"base_url": base_url, **options},
        "credentials": credentials(),
    }
