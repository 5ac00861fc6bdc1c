"""What a filesystem's exception means, as the library's errors.

fsspec implementations raise the built-in ``OSError`` family for what they understand
(``FileNotFoundError``, ``PermissionError``...) and their own library's exceptions for the
rest. Messages name the exception's class, never its text, which may quote a URL with a
token or a storage option.
"""

from __future__ import annotations

from nexus_connector_core import (
    AuthenticationError,
    ConnectorError,
    InvalidRequestError,
    ObjectNotFoundError,
    VendorError,
    VendorTimeoutError,
    VendorUnavailableError,
)

__all__ = ["failure", "not_found", "unreadable"]


def not_found(key: str) -> ObjectNotFoundError:
    """The error for a key the filesystem does not hold."""
    return ObjectNotFoundError(
        f"no object with key {key!r}", code="NoSuchKey", status_code=404, maybe_processed=False
    )


def failure(exc: BaseException, protocol: str, key: str | None, writes: bool) -> ConnectorError:
    """The error `exc`, raised by the filesystem during an operation on `key`, means.

    `writes`: the operation changes the store, so a failure midway may have changed it.
    """
    name = type(exc).__name__
    where = f" on {key!r}" if key else ""
    said = f"the {protocol!r} filesystem failed{where} ({name})"
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError) and key:
        return not_found(key)
    if isinstance(exc, PermissionError):
        return AuthenticationError(f"{said}: permission denied; check the credentials")
    if isinstance(exc, TimeoutError):
        return VendorTimeoutError(f"{said}: timed out", maybe_processed=writes)
    if isinstance(exc, NotImplementedError):
        return InvalidRequestError(
            f"the {protocol!r} filesystem cannot do this ({name})",
            retryable=False,
            maybe_processed=False,
        )
    if isinstance(exc, ConnectionError | OSError):
        return VendorUnavailableError(said, maybe_processed=writes)
    # Another library's exception: its meaning is unknown, so it is not retried.
    return VendorError(said, code=name, maybe_processed=writes)


def unreadable(protocol: str, key: str, what: str) -> VendorError:
    """The error for an entry the filesystem described with `what` no object has (a size or
    a time it cannot mean); the value itself is not quoted."""
    return VendorError(
        f"the {protocol!r} filesystem listed {key!r} with {what}; check the filesystem's "
        "implementation and the file",
        code="UnreadableListing",
        maybe_processed=False,
    )
