"""Twilio for Nexus Connector: the ``twilio`` SMS vendor and webhook verifier.

``vendor = "twilio"`` sends SMS through Twilio's REST API (form-encoded, HTTP Basic auth
with the account SID and auth token) and looks up their delivery status;
``webhooks.verify("twilio", ...)`` checks the ``X-Twilio-Signature`` of Twilio's webhooks
(incoming messages, status callbacks).

Names load on first use, so that plugin discovery, which imports ``.plugin``, stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "AsyncTwilioSmsAdapter": "_adapter",
    "TwilioSmsAdapter": "_adapter",
    "TwilioOptions": "_options",
    "TWILIO": "_webhooks",
    "TwilioVerifier": "_webhooks",
}

__all__ = [
    "__version__",
    "AsyncTwilioSmsAdapter",
    "TWILIO",
    "TwilioOptions",
    "TwilioSmsAdapter",
    "TwilioVerifier",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from ._adapter import AsyncTwilioSmsAdapter, TwilioSmsAdapter
    from ._options import TwilioOptions
    from ._webhooks import TWILIO, TwilioVerifier
