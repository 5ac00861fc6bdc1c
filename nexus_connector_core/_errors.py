"""The exceptions Nexus Connector raises.

Every error derives from `ConnectorError` and carries, where known, the connector, vendor and
operation it happened in, whether retrying could help, and the original cause (chained with
``raise ... from exc``). Messages never contain secret values.

    ConnectorError
    ├── ConfigError                      bad file, unknown key, wrong type, missing secret
    │   └── VendorNotFoundError          the config names a vendor no installed plugin offers
    ├── PluginError                      a plugin failed to load or registered something bad
    ├── CredentialNotFoundError          a secret reference could not be resolved
    ├── CredentialRefreshError           an OAuth2 token could not be obtained or refreshed
    ├── AuthenticationError              the vendor refused our credentials
    ├── VendorUnavailableError           unreachable, connection reset, 5xx          (retryable)
    │   └── VendorTimeoutError           no answer in time; also a built-in TimeoutError
    ├── RateLimitExceededError           the vendor's 429 or our own limiter           (retryable)
    ├── CircuitOpenError                 the breaker rejected the call without calling the vendor
    ├── VendorError                      the vendor answered with an error (code, message)
    │   ├── InvalidRequestError          the vendor rejected the request as malformed (400, 422)
    │   ├── PaymentDeclinedError         the payment method was declined
    │   └── ObjectNotFoundError          the object, payment or shipment does not exist
    ├── IdempotencyConflictError         same idempotency key, different request
    ├── InvalidIdempotencyKeyError       an empty, blank, too long or unprintable key (ValueError)
    ├── WebhookVerificationError         a webhook's signature, timestamp or format is wrong
    └── StateBackendUnavailableError     the shared state backend could not be reached
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, TypedDict, Unpack

__all__ = [
    "AuthenticationError",
    "CircuitOpenError",
    "ConfigError",
    "ConnectorError",
    "ErrorContext",
    "CredentialNotFoundError",
    "CredentialRefreshError",
    "IdempotencyConflictError",
    "InvalidIdempotencyKeyError",
    "InvalidRequestError",
    "ObjectNotFoundError",
    "PaymentDeclinedError",
    "PluginError",
    "RateLimitExceededError",
    "StateBackendUnavailableError",
    "VendorError",
    "VendorNotFoundError",
    "VendorTimeoutError",
    "VendorUnavailableError",
    "WebhookVerificationError",
]


class ErrorContext(TypedDict, total=False):
    """Where an error happened; the keyword arguments every `ConnectorError` accepts."""

    connector: str | None
    vendor: str | None
    operation: str | None
    retryable: bool | None
    maybe_processed: bool | None


class ConnectorError(Exception):
    """Base class of every error raised by Nexus Connector.

    Attributes:
        message: what went wrong, without the connector/vendor/operation prefix.
        connector: the connector's name from the config, when known.
        vendor: the vendor key that was serving the call, when known.
        operation: the operation name (``send``, ``capture``...), when known.
        retryable: whether trying the same call again may succeed.
        maybe_processed: whether the vendor may have acted on the request (a reset after
            sending, a 500): such a call is retried only when repeating it is safe.
    """

    #: Whether an error of this class is worth retrying by default.
    default_retryable: ClassVar[bool] = False
    #: Whether, by default, the vendor may have acted on a request that failed this way.
    default_maybe_processed: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        connector: str | None = None,
        vendor: str | None = None,
        operation: str | None = None,
        retryable: bool | None = None,
        maybe_processed: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.connector = connector
        self.vendor = vendor
        self.operation = operation
        self.retryable = self.default_retryable if retryable is None else retryable
        self.maybe_processed = (
            self.default_maybe_processed if maybe_processed is None else maybe_processed
        )

    def with_context(
        self, *, connector: str | None, vendor: str | None, operation: str | None
    ) -> ConnectorError:
        """Fill in where the error happened, keeping what the raiser already knew."""
        self.connector = self.connector or connector
        self.vendor = self.vendor or vendor
        self.operation = self.operation or operation
        return self

    def __str__(self) -> str:
        where = "/".join(p for p in (self.connector, self.vendor) if p)
        if self.operation:
            where = f"{where}.{self.operation}" if where else self.operation
        return f"[{where}] {self.message}" if where else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the keyword-only context when an error crosses a process boundary.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[ConnectorError], state: dict[str, object]) -> ConnectorError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class ConfigError(ConnectorError):
    """The configuration is invalid; `path` is the dotted key path where, when known."""

    def __init__(self, message: str, *, path: str | None = None, source: str | None = None) -> None:
        self.path = path
        self.source = source
        #: The problem itself, without the path and source.
        self.detail = message
        #: Every problem, when one error reports several; else just this one.
        self.problems: list[ConfigError] = [self]
        where = f"{path}: " if path else ""
        origin = f" (in {source})" if source else ""
        super().__init__(f"{where}{message}{origin}")


class VendorNotFoundError(ConfigError):
    """The config asks for a vendor that no installed plugin provides."""

    def __init__(
        self,
        message: str,
        *,
        category: str,
        vendor: str,
        installed: tuple[str, ...],
        path: str | None = None,
        source: str | None = None,
    ) -> None:
        self.category = category
        self.requested = vendor
        self.installed = installed
        super().__init__(message, path=path, source=source)


class PluginError(ConnectorError):
    """A plugin could not be loaded, or registered something invalid or conflicting."""

    def __init__(
        self, message: str, *, plugin: str | None = None, distribution: str | None = None
    ) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.distribution = distribution


class CredentialNotFoundError(ConnectorError):
    """A secret reference (``env:NAME``, ``file:PATH``, ``provider:name``) did not resolve.

    `reference` is the reference as written in the config, never the secret's value.
    """

    def __init__(self, message: str, *, reference: str, path: str | None = None) -> None:
        self.reference = reference
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{message}")


class CredentialRefreshError(ConnectorError):
    """A token could not be obtained or refreshed; `reason` is the vendor's explanation."""

    def __init__(
        self, message: str, *, reason: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.reason = reason


class AuthenticationError(ConnectorError):
    """The vendor refused the credentials (HTTP 401/403, SMTP 535, ...)."""


class VendorUnavailableError(ConnectorError):
    """The vendor could not be reached or failed on its side (reset, refused, 5xx).

    Adapters pass ``maybe_processed=False`` when the request surely never reached the
    vendor (connection refused, DNS failure), which makes even a payment safe to retry.
    """

    default_retryable = True
    default_maybe_processed = True

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, **context)
        self.status_code = status_code
        self.retry_after = retry_after


class VendorTimeoutError(VendorUnavailableError, TimeoutError):
    """The vendor did not answer within the attempt timeout or the call's deadline.

    `deadline_exceeded` is true when the call's own deadline (its total time budget) ran
    out: such an error is not retried and no fallback vendor is asked.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        deadline_exceeded: bool = False,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, status_code=status_code, retry_after=retry_after, **context)
        self.deadline_exceeded = deadline_exceeded

    def __str__(self) -> str:  # TimeoutError (an OSError) would otherwise format its own way
        return ConnectorError.__str__(self)


class RateLimitExceededError(ConnectorError):
    """Too many calls: the vendor answered 429, or our own limiter rejected the call.

    `retry_after` says in how many seconds a call may succeed, when known; `local` is true
    when our own limiter rejected the call before it reached the vendor.
    """

    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        local: bool = False,
        status_code: int | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after
        self.local = local
        self.status_code = status_code


class CircuitOpenError(ConnectorError):
    """The circuit breaker is open: the call was rejected without calling the vendor.

    `retry_after` is the number of seconds until the breaker admits trial calls again.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class VendorError(ConnectorError):
    """The vendor answered, with an error: `code` and `vendor_message` are its own.

    `fields` holds what the vendor said about particular fields of the request, each
    field's messages in the vendor's order, keyed by the field's name in the library's
    contract, dotted from the request (``postal_code`` of an `Address`, ``address`` for a
    whole address, ``to_address.postal_code`` or ``parcels[0].weight`` of a `Shipment`);
    empty when the vendor named no field::

        except InvalidRequestError as error:
            error.fields  # {"street1": ("House number is missing",), "address": (...)}
    """

    default_maybe_processed = True

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        vendor_message: str | None = None,
        fields: Mapping[str, Sequence[str]] | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, **context)
        self.code = code
        self.status_code = status_code
        self.vendor_message = vendor_message
        self.fields: Mapping[str, tuple[str, ...]] = {
            field: tuple(messages) for field, messages in (fields or {}).items()
        }


class InvalidRequestError(VendorError):
    """The vendor rejected the request as malformed or incomplete; fix the request."""


class PaymentDeclinedError(VendorError):
    """The payment method was declined; `code` is the vendor's decline code and
    `decline_code` the card issuer's reason, when the vendor reports one apart (Stripe:
    code ``card_declined``, decline_code ``insufficient_funds``)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        status_code: int | None = None,
        vendor_message: str | None = None,
        fields: Mapping[str, Sequence[str]] | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(
            message,
            code=code,
            status_code=status_code,
            vendor_message=vendor_message,
            fields=fields,
            **context,
        )
        self.decline_code = decline_code


class ObjectNotFoundError(VendorError):
    """The object, message, payment or shipment asked for does not exist at the vendor."""


class InvalidIdempotencyKeyError(ConnectorError, ValueError):
    """An idempotency key that cannot identify a call: empty, blank, too long, or holding
    control characters. Refused before anything is sent."""


class IdempotencyConflictError(ConnectorError):
    """An idempotency key was reused with a different request, or is still in flight."""

    def __init__(
        self, message: str, *, key: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.key = key


class WebhookVerificationError(ConnectorError):
    """A webhook delivery failed verification; `reason` says why in a few words."""

    def __init__(self, reason: str, *, verifier: str | None = None) -> None:
        super().__init__(f"webhook rejected: {reason}")
        self.reason = reason
        self.verifier = verifier


class StateBackendUnavailableError(ConnectorError):
    """The shared state backend (Redis, ...) could not be reached in time."""

    default_retryable = True

    def __init__(
        self, message: str, *, backend: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.backend = backend
