"""What a failed HTTP exchange and a vendor's error answer mean, as the library's errors.

One mapping of httpx's whole exception tree, decided by one question: could the vendor have
received the request? ::

    httpx error                                  we raise                      maybe processed
    UnsupportedProtocol, LocalProtocolError,     ConfigError (the request      no
      InvalidURL (the request cannot be built)     could not be built)
    ConnectTimeout, PoolTimeout                  VendorTimeoutError            no
    ConnectError                                 VendorUnavailableError        no
    ReadTimeout, WriteTimeout                    VendorTimeoutError            if sent
    ReadError, WriteError, RemoteProtocolError,  VendorUnavailableError        if sent
      CloseError, ProxyError, other transport
    DecodingError (an answer we cannot decode)   VendorUnavailableError        yes
    TooManyRedirects                             VendorError                   yes
    StreamError (a body read twice, closed)      VendorUnavailableError        if sent

"If sent" is ``ctx.request_sent``, which the toolkit's transport sets when the request's
first byte is written; unknown counts as sent. The messages name the exception's class and,
for a network failure, the operating system's reason; they never quote httpx's own text,
which can hold a header value (a credential) it refused.

A vendor's error answer becomes an error by its status, refined by the vendor's own code
table (`ErrorTable`)::

    400, 422   InvalidRequestError          404   ObjectNotFoundError
    401, 403   AuthenticationError          409   VendorError (a conflict)
    402        PaymentDeclinedError         429   RateLimitExceededError (Retry-After)
    5xx        VendorUnavailableError (Retry-After; maybe processed)

Refusals below 500 mean the vendor did not act (``maybe_processed=False``); an answer of
500 or more may come after it did, unless the vendor documents otherwise (its table, or the
`maybe_processed` argument, says so).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import NamedTuple

import httpx

from .._errors import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    InvalidRequestError,
    ObjectNotFoundError,
    PaymentDeclinedError,
    RateLimitExceededError,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
)

__all__ = ["TRANSPORT_ERRORS", "ErrorKind", "ErrorTable", "status_error", "transport_error"]

#: Every exception an httpx call can raise, for ``except TRANSPORT_ERRORS``.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.StreamError,
    httpx.InvalidURL,
)


class ErrorKind(NamedTuple):
    """What one of a vendor's error codes means: the class to raise, what to do about it,
    and whether the vendor may have acted (None: as the status says)."""

    error: type[ConnectorError]
    hint: str = ""
    maybe_processed: bool | None = None


#: A vendor's code table: its error codes (as it writes them: ints or strings) to kinds.
ErrorTable = Mapping[object, ErrorKind]


def _reason(exc: BaseException) -> str:
    """The operating system's or TLS library's reason behind `exc`, when there is one."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f": {cause.verify_message or 'certificate verify failed'}"
        if isinstance(cause, ssl.SSLError) and cause.reason:
            return f": TLS {cause.reason}"
        if isinstance(cause, OSError) and cause.strerror:
            return f": {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return ""


def transport_error(
    exc: Exception, *, vendor: str, sent: bool | None = None, path: str | None = None
) -> ConnectorError:
    """The error a failed exchange with `vendor` (its name, for messages) means.

    `sent` is whether the request's first byte was written (None: unknown, so assume it
    was). `path` is the config key to blame when the request could not be built (e.g. the
    credential that holds a line break).
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.InvalidURL):
        return ConfigError(
            f"the request to {vendor} could not be built ({name}), so nothing was sent; check "
            "the connector's credentials for line breaks or stray characters, and "
            "options.base_url",
            path=path,
        )
    may_have_arrived = sent is not False
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return VendorTimeoutError(
            f"{vendor} did not accept a connection in time ({name})", maybe_processed=False
        )
    if isinstance(exc, httpx.ConnectError):
        return VendorUnavailableError(
            f"{vendor} could not be reached ({name}{_reason(exc)})", maybe_processed=False
        )
    if isinstance(exc, httpx.TimeoutException):
        return VendorTimeoutError(
            f"{vendor} did not answer in time ({name})", maybe_processed=may_have_arrived
        )
    if isinstance(exc, httpx.DecodingError):
        return VendorUnavailableError(
            f"{vendor} answered, but its answer could not be decoded ({name}); it may have "
            "acted on the request",
            maybe_processed=True,
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return VendorError(
            f"{vendor} redirected too many times ({name}); check options.base_url",
            maybe_processed=True,
        )
    return VendorUnavailableError(
        f"the exchange with {vendor} failed ({name}{_reason(exc)})",
        maybe_processed=may_have_arrived,
    )


def status_error(
    status: int,
    *,
    vendor: str,
    code: object = None,
    message: str | None = None,
    retry_after: float | None = None,
    table: ErrorTable | None = None,
    maybe_processed: bool | None = None,
    code_label: str = "code",
) -> ConnectorError:
    """The error an answer with HTTP `status` means.

    `code` and `message` are the vendor's own (read from its error body; `message` already
    checked, see `vendor_text`); `table` maps the vendor's codes to kinds, which win over
    the status. `maybe_processed` overrides what the status says about whether the vendor
    acted (a code's own kind overrides both). The message says who answered what (the code
    as the vendor calls it: `code_label`), the vendor's words, and the hint.
    """
    kind = table.get(code) if table is not None and code is not None else None
    code_text = f", {code_label} {code}" if code is not None else ""
    said = f"{vendor} answered {status}{code_text}"
    if message:
        said = f"{said}: {message}"
    if kind is not None and kind.hint:
        said = f"{said} ({kind.hint})"
    error = kind.error if kind is not None else None
    if error is None:
        error = _by_status(status)
    maybe = kind.maybe_processed if kind is not None else None
    if maybe is None:
        maybe = maybe_processed
    shown_code = str(code) if code is not None else None
    if issubclass(error, RateLimitExceededError):
        return RateLimitExceededError(
            said,
            status_code=status,
            retry_after=retry_after,
            maybe_processed=bool(maybe) if maybe is not None else False,
        )
    if issubclass(error, VendorUnavailableError):
        return error(
            said,
            status_code=status,
            retry_after=retry_after,
            maybe_processed=maybe if maybe is not None else True,
        )
    if issubclass(error, VendorError):
        return error(
            said,
            code=shown_code,
            status_code=status,
            vendor_message=message,
            maybe_processed=maybe if maybe is not None else status >= 500,
        )
    return error(said, maybe_processed=bool(maybe) if maybe is not None else False)


_BY_STATUS: Mapping[int, type[ConnectorError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: PaymentDeclinedError,
    403: AuthenticationError,
    404: ObjectNotFoundError,
    409: VendorError,
    422: InvalidRequestError,
    429: RateLimitExceededError,
}


def _by_status(status: int) -> type[ConnectorError]:
    if status >= 500:
        return VendorUnavailableError
    known = _BY_STATUS.get(status)
    if known is not None:
        return known
    return InvalidRequestError if 400 <= status < 500 else VendorError
