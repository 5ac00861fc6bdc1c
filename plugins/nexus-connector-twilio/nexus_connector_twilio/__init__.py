"""Twilio for Nexus Connector: the ``twilio`` SMS vendor and webhook verifier.

``vendor = "twilio"`` sends SMS through Twilio's REST API (form-encoded, HTTP Basic auth
with the account SID and auth token) and looks up their delivery status;
``webhooks.verify("twilio", ...)`` checks the ``X-Twilio-Signature`` of Twilio's webhooks
(incoming messages, status callbacks). `nexus_connector_twilio.testing` has a local Twilio
double.

Names load on first use, so that plugin discovery, which imports ``.plugin``, stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = [
    "__version__",
    "AsyncTwilioSmsAdapter",
    "TWILIO",
    "TwilioOptions",
    "TwilioSmsAdapter",
    "TwilioVerifier",
]

if TYPE_CHECKING:
    from ._adapter import AsyncTwilioSmsAdapter, TwilioSmsAdapter
    from ._options import TwilioOptions
    from ._webhooks import TWILIO, TwilioVerifier
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "AsyncTwilioSmsAdapter": "_adapter",
            "TwilioSmsAdapter": "_adapter",
            "TwilioOptions": "_options",
            "TWILIO": "_webhooks",
            "TwilioVerifier": "_webhooks",
        },
    )
