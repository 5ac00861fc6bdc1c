"""The ``options`` of the ``smtp`` email vendor, and the TLS context they describe."""

from __future__ import annotations

import re
import ssl
from typing import Annotated, Literal

import msgspec

__all__ = ["DEFAULT_PORTS", "SmtpOptions", "TlsMode"]

TlsMode = Literal["none", "starttls", "implicit"]

#: The submission port each TLS mode uses unless ``port`` says otherwise.
DEFAULT_PORTS: dict[TlsMode, int] = {"none": 25, "starttls": 587, "implicit": 465}

#: A host name or address: no space, line break or control character, at most 255
#: characters (RFC 1035 names are shorter still).
_HOST = re.compile(r"[^\s\x00-\x1f\x7f]{1,255}")


class SmtpOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to reach the SMTP server (``[connectors.email] options = {...}``).

    ``tls = "starttls"`` (the default) upgrades a plain connection with STARTTLS and fails
    when the server does not offer it, so a password or a message never travels in clear
    by accident; ``"implicit"`` speaks TLS from the first byte (port 465); ``"none"`` is for
    a relay on a trusted network or a local test server.
    """

    #: The server's host name or address.
    host: str = "localhost"
    #: Its port, from 1 to 65535; by default 25, 587 or 465 as `tls` says.
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    #: ``"none"``, ``"starttls"`` or ``"implicit"``.
    tls: TlsMode = "starttls"
    #: Seconds to connect and for each command's reply, above 0 and at most 600 (the
    #: call's attempt timeout, when shorter, wins: a whole attempt never outlasts it).
    timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0
    #: The name this client gives in EHLO; by default the machine's fully qualified name.
    local_hostname: str | None = None
    #: Check the server's certificate and host name. Switch off only for a test server.
    validate_certs: bool = True
    #: A PEM file of CA certificates to trust instead of the system's (a private CA, tests).
    ca_file: str | None = None
    #: The most messages `send_batch` sends over one connection, from 1 to 10000; longer
    #: batches reconnect.
    max_batch: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100
    #: Allow AUTH over a connection without TLS (``tls = "none"``): the password then
    #: travels in clear. Only for a relay on a trusted network.
    allow_insecure_auth: bool = False

    def __post_init__(self) -> None:
        # A line break in local_hostname would end the EHLO command early and start
        # another: refused here, not by the SMTP library in the middle of a call.
        if not _HOST.fullmatch(self.host):
            raise ValueError(
                "host must be a host name or address of 1 to 255 characters, without "
                f"spaces, line breaks or control characters; got {self.host[:60]!r}"
            )
        name = self.local_hostname
        if name is not None and not (_HOST.fullmatch(name) and name.isascii()):
            raise ValueError(
                "local_hostname must be a host name of 1 to 255 ASCII characters (IDNA "
                f"for others), without spaces or line breaks; got {name[:60]!r}"
            )

    @property
    def server_port(self) -> int:
        """The port to connect to."""
        return self.port if self.port is not None else DEFAULT_PORTS[self.tls]

    def tls_context(self) -> ssl.SSLContext | None:
        """The client TLS context for STARTTLS or implicit TLS; None with ``tls = "none"``."""
        if self.tls == "none":
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context
