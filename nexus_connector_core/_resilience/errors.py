"""Error classes by the names configs use (``retry_on = ["VendorUnavailableError"]``)."""

from __future__ import annotations

from .. import _errors
from .._errors import ConnectorError

__all__ = ["ERROR_CLASSES", "VENDOR_FAULTS", "error_classes"]

#: Error classes (and their subclasses) that mean the vendor is struggling: what the
#: breaker counts as failures and the retry policy retries, by default.
VENDOR_FAULTS = ("VendorUnavailableError", "RateLimitExceededError")

#: Every public error class of the core, by name.
ERROR_CLASSES: dict[str, type[ConnectorError]] = {
    name: cls
    for name in _errors.__all__
    if isinstance(cls := getattr(_errors, name), type) and issubclass(cls, ConnectorError)
}


def error_classes(names: tuple[str, ...], field: str) -> tuple[type[ConnectorError], ...]:
    """The classes `names` stand for; a `ValueError` naming the unknown ones and the choices."""
    unknown = [n for n in names if n not in ERROR_CLASSES]
    if unknown:
        raise ValueError(
            f"{field}: unknown error class {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(sorted(ERROR_CLASSES))}"
        )
    return tuple(ERROR_CLASSES[n] for n in names)
