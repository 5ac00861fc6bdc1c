"""Postmark email vendor for Nexus Connector.

``vendor = "postmark"`` sends through Postmark's HTTP API (``/email``, ``/email/batch``) with
per-recipient status in the receipt; `normalise_event` turns Postmark's webhook payloads into
`PostmarkEvent` values; the ``postmark`` webhook verifier checks the HTTP Basic credentials
Postmark's webhooks carry. `nexus_connector_postmark.testing` has a local Postmark double.

Names load on first use, so discovering the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = [
    "__version__",
    "AsyncPostmarkEmailAdapter",
    "BasicAuthVerifier",
    "EventKind",
    "PostmarkEmailAdapter",
    "PostmarkEvent",
    "PostmarkOptions",
    "normalise_event",
]

if TYPE_CHECKING:
    from ._adapter import AsyncPostmarkEmailAdapter, PostmarkEmailAdapter
    from ._events import EventKind, PostmarkEvent, normalise_event
    from ._options import PostmarkOptions
    from ._webhook import BasicAuthVerifier
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "AsyncPostmarkEmailAdapter": "_adapter",
            "PostmarkEmailAdapter": "_adapter",
            "EventKind": "_events",
            "PostmarkEvent": "_events",
            "normalise_event": "_events",
            "PostmarkOptions": "_options",
            "BasicAuthVerifier": "_webhook",
        },
    )
