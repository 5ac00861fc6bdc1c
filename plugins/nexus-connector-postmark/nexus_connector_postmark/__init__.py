"""Postmark email vendor for Nexus Connector.

``vendor = "postmark"`` sends through Postmark's HTTP API (``/email``, ``/email/batch``) with
per-recipient status in the receipt; `normalise_event` turns Postmark's webhook payloads into
`PostmarkEvent` values; the ``postmark`` webhook verifier checks the HTTP Basic credentials
Postmark's webhooks carry. `nexus_connector_postmark.testing` has a local Postmark double.

Names load on first use, so discovering the plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AsyncPostmarkEmailAdapter",
    "BasicAuthVerifier",
    "EventKind",
    "PostmarkEmailAdapter",
    "PostmarkEvent",
    "PostmarkOptions",
    "normalise_event",
]

_EXPORTS = {
    "AsyncPostmarkEmailAdapter": "_adapter",
    "PostmarkEmailAdapter": "_adapter",
    "BasicAuthVerifier": "_webhook",
    "EventKind": "_events",
    "PostmarkEvent": "_events",
    "normalise_event": "_events",
    "PostmarkOptions": "_options",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from ._adapter import AsyncPostmarkEmailAdapter, PostmarkEmailAdapter
    from ._events import EventKind, PostmarkEvent, normalise_event
    from ._options import PostmarkOptions
    from ._webhook import BasicAuthVerifier
