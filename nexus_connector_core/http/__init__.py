"""The HTTP toolkit of vendor plugins: one way to call a vendor's HTTP API.

- `HttpVendor`, with the twins `HttpAdapter` (sync) and `AsyncHttpAdapter`: the base of an
  adapter. `request(method, path, ctx, ...)` sends within the attempt's time, sets
  ``ctx.request_sent`` and ``ctx.status_code``, and raises the library's errors.
- `transport_error`: the one mapping of httpx's exceptions, by whether the vendor may have
  received the request; `status_error` with a vendor's `ErrorTable` of `ErrorKind`s: the
  one mapping of error answers.
- `DeadlineTransport` / `AsyncDeadlineTransport` and `exchange`: httpx transports whose
  exchanges end at their deadline on the wall clock and record when the request left;
  `async_transport`: the asynchronous transport a connector's ``options.transport``
  (`HttpTransport`) names — aiohttp's under httpx's API (the extra
  ``nexus-connector-core[aiohttp]``) or httpx's own, with the same promises.
- `Redactor` and `vendor_text`: no credential, in any encoding, in a message; vendor text
  checked before it is quoted.

See docs/plugins.md ("The HTTP toolkit") for a whole adapter built on it.
"""

from ._adapter import (
    AsyncHttpAdapter,
    HttpAdapter,
    HttpVendor,
    answer_error,
    error_fields,
    json_body,
    tls_context,
)
from ._errors import TRANSPORT_ERRORS, ErrorKind, ErrorTable, status_error, transport_error
from ._redact import MASK, Redactor, vendor_text
from ._transport import (
    HTTP_TRANSPORTS,
    AsyncDeadlineTransport,
    DeadlineTransport,
    Exchange,
    HttpTransport,
    async_transport,
    exchange,
)

__all__ = [
    "HTTP_TRANSPORTS",
    "MASK",
    "TRANSPORT_ERRORS",
    "AsyncDeadlineTransport",
    "AsyncHttpAdapter",
    "DeadlineTransport",
    "ErrorKind",
    "ErrorTable",
    "Exchange",
    "HttpAdapter",
    "HttpTransport",
    "HttpVendor",
    "Redactor",
    "answer_error",
    "async_transport",
    "error_fields",
    "exchange",
    "json_body",
    "status_error",
    "tls_context",
    "transport_error",
    "vendor_text",
]
