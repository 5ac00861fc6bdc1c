"""``[connectors.<name>.options]`` of the ``postmark`` email vendor."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from nexus_connector_core.http import HttpTransport

__all__ = ["DEFAULT_BASE_URL", "PostmarkOptions", "TrackLinks"]

#: Postmark's API origin; the adapter appends ``/email`` and ``/email/batch``.
DEFAULT_BASE_URL = "https://api.postmarkapp.com"

#: Postmark's ``TrackLinks`` values.
TrackLinks = Literal["None", "HtmlAndText", "HtmlOnly", "TextOnly"]


class PostmarkOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the adapter talks to Postmark. Every field is optional::

        [connectors.email]
        vendor = "postmark"
        credentials = { server_token = "env:POSTMARK_SERVER_TOKEN" }
        options = { message_stream = "outbound", track_opens = true }

    A setting left out is left out of the request too, so the server's own settings in
    Postmark apply.
    """

    #: The origin requests go to (a sandbox, a proxy, a local test server); the adapter
    #: appends Postmark's paths, ``/email`` and ``/email/batch``.
    base_url: str = DEFAULT_BASE_URL
    #: ``MessageStream`` of every message: ``outbound`` (Postmark's default transactional
    #: stream), ``broadcast`` or the id of a stream of your server.
    message_stream: str | None = None
    #: ``TrackOpens`` of every message (Postmark needs an HTML body to track opens).
    track_opens: bool | None = None
    #: ``TrackLinks`` of every message.
    track_links: TrackLinks | None = None
    #: Seconds an HTTP request may take when the pipeline gives no per-attempt timeout,
    #: from 0.001 to 86400; the connector's ``resilience.timeout`` (10 s unless changed)
    #: wins whenever set.
    timeout: Annotated[float, msgspec.Meta(ge=0.001, le=86_400)] = 30.0
    #: The asynchronous adapter's transport: ``auto`` (aiohttp's under httpx's API when
    #: ``nexus-connector-core[aiohttp]`` is installed, else httpx's), ``httpx`` or
    #: ``aiohttp``. The synchronous adapter always uses httpx's.
    transport: HttpTransport = "auto"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// or https:// URL, got {self.base_url!r}")
        if self.message_stream is not None and not self.message_stream.strip():
            raise ValueError("message_stream must not be empty; leave it out for 'outbound'")
