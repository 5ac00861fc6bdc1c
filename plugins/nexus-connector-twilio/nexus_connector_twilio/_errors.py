"""Twilio's errors, as the library's: what its HTTP answers and error codes mean for a caller.

Twilio answers a refused request with a status and a JSON body::

    {"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.",
     "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}

The code decides the class when it is one of the well-known ones below, else the status:

    401, 403 / 20003          AuthenticationError
    404 / 20404               ObjectNotFoundError
    429 / 20429, 14107,       RateLimitExceededError (Retry-After; never processed, so a
      21611                   retry is safe even for a send)
    other 4xx (21211 ...)     InvalidRequestError with Twilio's code
    5xx                       VendorUnavailableError (the message may have been sent)

Every refusal below 500 means Twilio created no message (``maybe_processed=False``).
Delivery failures (30003 ...) are not errors of a call: `get_status` reports them.

A request that never reached Twilio because httpx could not build it
(``LocalProtocolError``, ``UnsupportedProtocol``) is a `ConfigError`, whose message leaves
out the exception's text: that quotes the header value it refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from nexus_connector_core import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    InvalidRequestError,
    ObjectNotFoundError,
    RateLimitExceededError,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
    parse_retry_after,
)

__all__ = ["DELIVERY_ERRORS", "REQUEST_ERRORS", "transport_error", "vendor_error"]

#: Well-known codes of a refused request: the error class, and what to do about it.
#: 14107 and 21611 are limits on how fast to send (twilio.com/docs/errors/14107, /21611):
#: Twilio created no message, and the same send succeeds once the pace drops.
REQUEST_ERRORS: Mapping[int, tuple[type[ConnectorError], str]] = {
    14107: (
        RateLimitExceededError,
        "at most 30 messages between two numbers in 30 seconds; retry after a pause",
    ),
    20003: (AuthenticationError, "check the account_sid and auth_token credentials"),
    20404: (ObjectNotFoundError, "the SID names nothing on this account"),
    20429: (RateLimitExceededError, "too many concurrent requests; retry after a pause"),
    21211: (InvalidRequestError, "send to an E.164 number such as +14155550100"),
    21212: (InvalidRequestError, "send from a number of the account or an alphanumeric id"),
    21408: (InvalidRequestError, "enable SMS to that country in the console's geo permissions"),
    21602: (InvalidRequestError, "give the message a body"),
    21603: (InvalidRequestError, "set options.sender or options.messaging_service_sid"),
    21604: (InvalidRequestError, "give the message a 'To' number"),
    21606: (InvalidRequestError, "send from an SMS-capable number of this account"),
    21610: (InvalidRequestError, "the recipient replied STOP; only their START lifts it"),
    21611: (
        RateLimitExceededError,
        "the sender's queue of messages is full; send slower, or through a messaging service",
    ),
    21612: (InvalidRequestError, "Twilio cannot route between these numbers; try another sender"),
    21614: (InvalidRequestError, "the 'To' number is not a mobile number and cannot get SMS"),
    21617: (InvalidRequestError, "shorten the body to at most 1600 characters"),
}

#: Codes a message's status carries when it could not be delivered.
DELIVERY_ERRORS: Mapping[int, str] = {
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered by the carrier",
    30008: "Unknown error",
}


def vendor_error(
    response: httpx.Response, now: float, redact: Mapping[str, str] | None = None
) -> ConnectorError:
    """The error a non-2xx answer means.

    `now` (Unix time) reads Retry-After dates. `redact` maps credential values to their
    names: Twilio's messages quote paths, which hold the account SID.
    """
    status = response.status_code
    payload = _json(response)
    code = payload.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    vendor_message = payload.get("message")
    if not isinstance(vendor_message, str) or not vendor_message:
        vendor_message = response.reason_phrase or f"HTTP {status}"
    for value, name in (redact or {}).items():
        vendor_message = vendor_message.replace(value, f"<{name}>")
    kind, hint = REQUEST_ERRORS.get(code, (None, "")) if code is not None else (None, "")
    code_text = f" {code}" if code is not None else ""
    message = f"Twilio answered {status}{code_text}: {vendor_message}"
    if hint:
        message = f"{message} ({hint})"
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    if status >= 500:
        return VendorUnavailableError(message, status_code=status, retry_after=retry_after)
    if kind is RateLimitExceededError or status == 429:
        return RateLimitExceededError(
            message, status_code=status, retry_after=retry_after, maybe_processed=False
        )
    if kind is AuthenticationError or status in (401, 403):
        return AuthenticationError(message)
    error_type: type[VendorError] = InvalidRequestError
    if kind is ObjectNotFoundError or status == 404:
        error_type = ObjectNotFoundError
    elif status < 400:  # a redirect: not something the API does; report it as it came
        error_type = VendorError
    return error_type(
        message,
        code=str(code) if code is not None else None,
        status_code=status,
        vendor_message=vendor_message,
        maybe_processed=False,
    )


def transport_error(
    exc: httpx.TransportError, redact: Mapping[str, str] | None = None
) -> ConnectorError:
    """The error a failed exchange means, and whether Twilio may have the request.

    `redact` maps credential values to their names, should the exception's text quote one.
    """
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        return ConfigError(
            f"the request to Twilio could not be built ({type(exc).__name__}), so nothing "
            "was sent; check the connector's credentials and options (base_url) for line "
            "breaks or stray whitespace"
        )
    message = f"Twilio could not be reached: {type(exc).__name__}: {exc}".rstrip(": ")
    for value, name in (redact or {}).items():
        message = message.replace(value, f"<{name}>")
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return VendorTimeoutError(message, maybe_processed=False)
    if isinstance(exc, httpx.TimeoutException):  # read or write: Twilio may have it
        return VendorTimeoutError(message, maybe_processed=True)
    if isinstance(exc, httpx.ConnectError):
        return VendorUnavailableError(message, maybe_processed=False)
    return VendorUnavailableError(message, maybe_processed=True)  # reset, EOF after sending


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:  # a proxy's HTML page, an empty body
        return {}
    return payload if isinstance(payload, dict) else {}
