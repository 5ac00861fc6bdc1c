"""The ``options`` of the ``smtp`` email vendor, and the TLS context they describe."""

from __future__ import annotations

import ssl
from typing import Literal

import msgspec

__all__ = ["DEFAULT_PORTS", "SmtpOptions", "TlsMode"]

TlsMode = Literal["none", "starttls", "implicit"]

#: The submission port each TLS mode uses unless ``port`` says otherwise.
DEFAULT_PORTS: dict[TlsMode, int] = {"none": 25, "starttls": 587, "implicit": 465}


class SmtpOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to reach the SMTP server (``[connectors.email] options = {...}``).

    ``tls = "starttls"`` (the default) upgrades a plain connection with STARTTLS and fails
    when the server does not offer it, so a password or a message never travels in clear
    by accident; ``"implicit"`` speaks TLS from the first byte (port 465); ``"none"`` is for
    a relay on a trusted network or a local test server.
    """

    #: The server's host name or address.
    host: str = "localhost"
    #: Its port; by default 25, 587 or 465 as `tls` says.
    port: int | None = None
    #: ``"none"``, ``"starttls"`` or ``"implicit"``.
    tls: TlsMode = "starttls"
    #: Seconds to connect and for each command's reply (the call's attempt timeout, when
    #: shorter, wins: a whole attempt never outlasts it).
    timeout: float = 30.0
    #: The name this client gives in EHLO; by default the machine's fully qualified name.
    local_hostname: str | None = None
    #: Check the server's certificate and host name. Switch off only for a test server.
    validate_certs: bool = True
    #: A PEM file of CA certificates to trust instead of the system's (a private CA, tests).
    ca_file: str | None = None
    #: The most messages `send_batch` sends over one connection; longer batches reconnect.
    max_batch: int = 100
    #: Allow AUTH over a connection without TLS (``tls = "none"``): the password then
    #: travels in clear. Only for a relay on a trusted network.
    allow_insecure_auth: bool = False

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {self.port}")
        if not 0 < self.timeout <= 600:
            raise ValueError(f"timeout must be between 0 and 600 seconds, got {self.timeout}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")

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
