"""Postmark's answers read as receipts and errors (pure: no I/O, shared by both adapters).

Postmark answers a send with HTTP 200 and ``{"To", "SubmittedAt", "MessageID",
"ErrorCode": 0, "Message": "OK"}``; a batch with HTTP 200 and one such object per message,
in order, each with its own ``ErrorCode``. Errors are ``{"ErrorCode", "Message"}`` with HTTP
401 (bad or missing token), 422 (the request is wrong: ErrorCode 300 invalid email request,
406 inactive recipient, ...), 429 (rate limit) or 500/503.

How answers map to results and errors:

=====================================  =================================================
Postmark says                          we return or raise
=====================================  =================================================
200, ErrorCode 0                       receipt; every recipient ``queued`` with the
                                       MessageID, except those the Message names as
                                       inactive ("will not deliver to these inactive
                                       addresses: ..."): ``rejected``, reason = Message
batch item with ErrorCode != 0         that message's receipt: every recipient
                                       ``rejected``, reason = ErrorCode and Message,
                                       ``vendor_id`` empty (Postmark made no message)
401 / 403 / ErrorCode 10               `AuthenticationError`
429 / ErrorCode 429                    `RateLimitExceededError` (status_code, retry_after
                                       from Retry-After, maybe_processed=False)
ErrorCode 100 (maintenance)            `VendorUnavailableError`, maybe_processed=False
422 ErrorCode 406 (single send)        `InvalidRequestError` code
                                       "all_recipients_rejected", the inactive addresses
                                       named: nobody was sent anything
404                                    `VendorError` pointing at options.base_url
other 4xx                              `InvalidRequestError` (code = str(ErrorCode),
                                       vendor_message = Message, maybe_processed=False)
5xx                                    `VendorUnavailableError` (status_code,
                                       retry_after; may have been processed)
2xx we cannot read                     `VendorError` (may have been processed)
=====================================  =================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from nexus_connector_core import (
    AuthenticationError,
    ConnectorError,
    EmailBatch,
    EmailBatchReceipt,
    EmailMessage,
    EmailReceipt,
    InvalidRequestError,
    RateLimitExceededError,
    RecipientStatus,
    VendorError,
    VendorUnavailableError,
    parse_retry_after,
)
from nexus_connector_core.http import ErrorKind, ErrorTable, Redactor, status_error, vendor_text

__all__ = [
    "ALL_RECIPIENTS_REJECTED",
    "INACTIVE_RECIPIENT",
    "Answer",
    "batch_receipt",
    "ERRORS",
    "error_for",
    "inactive_addresses",
    "receipt",
    "send_receipt",
]

#: ErrorCode of a request naming only inactive recipients (hard bounce, spam complaint or
#: manual suppression): Postmark sends nothing.
INACTIVE_RECIPIENT = 406
#: Our code for a send whose every recipient was refused (the core's convention).
ALL_RECIPIENTS_REJECTED = "all_recipients_rejected"
_BAD_TOKEN = 10
_MAINTENANCE = 100
_RATE_LIMITED = 429

# "Found inactive addresses: a@x, b@y. Inactive recipients are ..." (406) and "Message OK,
# but will not deliver to these inactive addresses: a@x. Inactive recipients ..." (200).
_INACTIVE = re.compile(
    r"inactive addresses:\s*(.+?)\.?\s*(?:Inactive recipients|$)", re.IGNORECASE | re.DOTALL
)


class Answer(NamedTuple):
    """What Postmark said: the HTTP status, the body decoded from JSON (None when it was
    not JSON), the Retry-After header, and the time (Unix seconds) it arrived."""

    status: int
    body: Any
    retry_after: str | None = None
    now: float = 0.0


def inactive_addresses(text: str) -> frozenset[str]:
    """The addresses a Postmark Message names as inactive, lower-cased (as Postmark writes
    them).

    >>> sorted(inactive_addresses("Found inactive addresses: a@x.example, b@y.example. "
    ...                           "Inactive recipients are ones that have generated a bounce."))
    ['a@x.example', 'b@y.example']
    """
    match = _INACTIVE.search(text)
    if match is None:
        return frozenset()
    return frozenset(part.strip().lower() for part in match.group(1).split(",") if part.strip())


def receipt(
    result: Mapping[str, Any], message: EmailMessage, vendor: str, *, redact: Redactor | None = None
) -> EmailReceipt:
    """The receipt of one message from its result object (a send's answer or a batch item);
    `redact` as for `error_for`.

    Raises `VendorError` when an accepted result has no MessageID.
    """
    code = result.get("ErrorCode", 0)
    text = vendor_text(result.get("Message"), redact)
    statuses: dict[str, RecipientStatus] = {}
    if code != 0:
        reason = f"ErrorCode {code}: {text}"
        for address in message.recipients:
            statuses[address.email] = RecipientStatus(address.email, "rejected", reason=reason)
        return EmailReceipt(vendor=vendor, vendor_id="", recipients=statuses, raw=dict(result))
    message_id = result.get("MessageID")
    if not isinstance(message_id, str) or not message_id:
        raise VendorError(
            "Postmark accepted the message but its answer has no MessageID",
            status_code=200,
            vendor_message=text or None,
        )
    inactive = inactive_addresses(text)
    for address in message.recipients:
        email = address.email
        if email.lower() in inactive:
            statuses[email] = RecipientStatus(email, "rejected", message_id, reason=text)
        else:
            statuses[email] = RecipientStatus(email, "queued", message_id)
    return EmailReceipt(vendor=vendor, vendor_id=message_id, recipients=statuses, raw=dict(result))


def send_receipt(
    answer: Answer, message: EmailMessage, *, vendor: str, redact: Redactor | None = None
) -> EmailReceipt:
    """The receipt of a ``/email`` answer, or the error it means (raised)."""
    if _succeeded(answer.status):
        if not isinstance(answer.body, Mapping):
            raise _unreadable(answer.status)
        if answer.body.get("ErrorCode", 0) == 0:
            return receipt(answer.body, message, vendor, redact=redact)
    raise error_for(answer, redact=redact)


def batch_receipt(
    answer: Answer, batch: EmailBatch, *, vendor: str, redact: Redactor | None = None
) -> EmailBatchReceipt:
    """The receipts of a ``/email/batch`` answer, in order, or the error it means (raised).

    A message Postmark refused inside a batch that it accepted does not fail the others:
    its receipt has every recipient ``rejected`` with Postmark's reason.
    """
    body = answer.body
    if not _succeeded(answer.status):
        raise error_for(answer, redact=redact)
    if not isinstance(body, list) or len(body) != len(batch.messages):
        raise _unreadable(answer.status, f"expected a list of {len(batch.messages)} results")
    receipts = [
        receipt(item if isinstance(item, Mapping) else {}, message, vendor, redact=redact)
        for item, message in zip(body, batch.messages, strict=True)
    ]
    return EmailBatchReceipt(vendor=vendor, receipts=receipts, raw=body)


def _succeeded(status: int) -> bool:
    return 200 <= status < 300


def _unreadable(status: int, expected: str = "expected a JSON object") -> VendorError:
    # Postmark said yes but we cannot read what it did: it may well have sent the message.
    return VendorError(
        f"Postmark answered HTTP {status} with a body we cannot read ({expected}); the "
        "message may have been sent",
        status_code=status,
    )


#: Postmark's ErrorCodes that mean more than their HTTP status (postmarkapp.com/developer/
#: api/overview#error-codes).
ERRORS: ErrorTable = {
    _BAD_TOKEN: ErrorKind(
        AuthenticationError,
        "check the connector's credentials.server_token (a Server API token, not the "
        "Account token)",
    ),
    _RATE_LIMITED: ErrorKind(RateLimitExceededError, "send slower", maybe_processed=False),
    _MAINTENANCE: ErrorKind(
        VendorUnavailableError, "Postmark is down for maintenance", maybe_processed=False
    ),
}

#: What to do about a status whose code says nothing more.
_STATUS_HINTS = {
    401: "check the connector's credentials.server_token (a Server API token, not the "
    "Account token)",
    403: "check the IP allow-list of the Postmark account or server, and credentials.server_token",
    404: "check options.base_url, to which the adapter appends /email and /email/batch",
}


def error_for(answer: Answer, *, redact: Redactor | None = None) -> ConnectorError:
    """The error an HTTP status and Postmark's ``{"ErrorCode", "Message"}`` body mean.

    `redact` masks the server token (in every encoding) should a proxy have echoed it.
    """
    status, body = answer.status, answer.body
    fields = body if isinstance(body, Mapping) else {}
    code = fields.get("ErrorCode")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    text = vendor_text(fields.get("Message"), redact) or "no error message"
    if code == INACTIVE_RECIPIENT:
        named = ", ".join(sorted(inactive_addresses(text))) or "not named"
        return InvalidRequestError(
            f"Postmark sent nothing: every recipient is inactive ({named}) (HTTP {status}, "
            f"ErrorCode {code}): {text}",
            code=ALL_RECIPIENTS_REJECTED,
            status_code=status,
            vendor_message=text,
            maybe_processed=False,
        )
    hint = _STATUS_HINTS.get(status, "") if code not in ERRORS else ""
    if status == 404 and code is None:  # no request of ours has a 404: the URL is wrong
        return VendorError(
            f"Postmark answered 404: {text}; {hint}",
            status_code=status,
            vendor_message=text,
            maybe_processed=False,
        )
    error = status_error(
        status,
        vendor="Postmark",
        code=code,
        message=f"{text}; {hint}" if hint else text,
        retry_after=parse_retry_after(answer.retry_after, answer.now),
        table=ERRORS,
        code_label="ErrorCode",
    )
    if isinstance(error, VendorError):
        error.vendor_message = text
    return error
