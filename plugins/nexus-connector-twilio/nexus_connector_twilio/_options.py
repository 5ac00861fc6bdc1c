"""The ``options`` table of a connector whose vendor is ``twilio``."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

import msgspec

from nexus_connector_core.http import HttpTransport

__all__ = ["DEFAULT_BASE_URL", "TwilioOptions"]

#: Twilio's REST API origin; the adapter appends ``/2010-04-01/Accounts/...``.
DEFAULT_BASE_URL = "https://api.twilio.com"

_MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class TwilioOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the Twilio adapter sends: where to, from whom, and how long it waits.

    A message is sent from its own `SmsMessage.sender` when it has one, else from `sender`;
    with `messaging_service_sid`, Twilio's messaging service picks the number when neither
    names one (and applies its opt-out handling and sender pool either way).

    >>> TwilioOptions(messaging_service_sid="MG" + "0" * 32).base_url
    'https://api.twilio.com'
    """

    #: The API's origin: Twilio's, a regional edge, a proxy or a local test server.
    base_url: str = DEFAULT_BASE_URL
    #: ``MG...``: send through this messaging service (Twilio's ``MessagingServiceSid``).
    messaging_service_sid: str | None = None
    #: The default sender: one of the account's numbers in E.164 or an alphanumeric id.
    sender: str | None = None
    #: Where Twilio reports each status change of a sent message (``StatusCallback``);
    #: verify those deliveries with ``webhooks.verify("twilio", ...)``.
    status_callback: str | None = None
    #: Seconds a request may take when the connector's resilience sets no timeout, from
    #: 0.001 to 86400.
    timeout: Annotated[float, msgspec.Meta(ge=0.001, le=86_400)] = 10.0
    #: The asynchronous adapter's transport: ``auto`` (aiohttp's under httpx's API when
    #: ``nexus-connector-core[aiohttp]`` is installed, else httpx's), ``httpx`` or
    #: ``aiohttp``. The synchronous adapter always uses httpx's.
    transport: HttpTransport = "auto"

    def __post_init__(self) -> None:
        if not _is_http_url(self.base_url):
            raise ValueError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL!r}, "
                f"got {self.base_url!r}"
            )
        if self.messaging_service_sid is not None and not _MESSAGING_SERVICE_SID.fullmatch(
            self.messaging_service_sid
        ):
            raise ValueError(
                "messaging_service_sid must be 'MG' followed by 32 hex digits, as the Twilio "
                f"console shows it, got {self.messaging_service_sid!r}"
            )
        if self.sender is not None and not self.sender.strip():
            raise ValueError("sender must not be empty; leave it out to use the message's own")
        if self.status_callback is not None and not _is_http_url(self.status_callback):
            raise ValueError(
                f"status_callback must be an absolute http(s) URL, got {self.status_callback!r}"
            )
