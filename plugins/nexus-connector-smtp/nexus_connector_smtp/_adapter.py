"""What the sync and async SMTP adapters share: settings, the dialogue of a call, timeouts."""

from __future__ import annotations

import functools
import socket
import ssl
import time
from collections.abc import Sequence

import msgspec

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    ConfigError,
    EmailBatchReceipt,
    EmailMessage,
    EmailReceipt,
)

from ._dialogue import Dialogue, Login
from ._mime import build_outgoing
from ._options import SmtpOptions
from ._replies import ConnectionLostError

__all__ = ["SmtpAdapterBase", "StepTimeouts"]


@functools.cache
def _fqdn() -> str:
    # Looked up once per process: on a host with slow DNS it can take seconds.
    return socket.getfqdn()


#: How much sooner than the attempt's end the steps give up (at most a tenth of it): the
#: async pipeline cancels a call at that end, and its error cannot tell whether the content
#: went out, so the send is not retried; ours can.
_ATTEMPT_MARGIN = 0.05


class StepTimeouts:
    """How long each step may wait: `per_step` seconds, and never past the attempt's end.

    Real time, not the pipeline's clock: sockets wait in real time even when a test's fake
    clock makes the pipeline's own waits instant.
    """

    def __init__(self, per_step: float, attempt: float | None) -> None:
        self._per_step = per_step
        self._deadline: float | None = None
        if attempt is not None:
            margin = min(_ATTEMPT_MARGIN, attempt / 10)
            self._deadline = time.monotonic() + attempt - margin

    def next(self) -> float:
        """Seconds the next step may take; `ConnectionLostError` (a timeout) when none are left."""
        if self._deadline is None:
            return self._per_step
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise ConnectionLostError("the attempt's timeout ran out", timeout=True, sent=False)
        return min(self._per_step, remaining)


class SmtpAdapterBase:
    """Reads the settings once; makes each call's `Dialogue`; the drivers do the I/O.

    Attributes:
        options: the decoded `SmtpOptions`.
        host, port: where the server is.
        local_hostname: the name given in EHLO.
        tls_context: the client TLS context, or None with ``tls = "none"``.
    """

    def __init__(self, settings: AdapterSettings) -> None:
        options = settings.options
        if not isinstance(options, SmtpOptions):
            options = msgspec.convert(options or {}, SmtpOptions)
        self.vendor = settings.vendor
        self.options: SmtpOptions = options
        self.host = options.host
        self.port = options.server_port
        self.local_hostname = options.local_hostname or _fqdn()
        self._login = self._read_login(settings)
        try:
            self.tls_context: ssl.SSLContext | None = options.tls_context()
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot read the CA file {options.ca_file!r}: {exc}",
                path=f"connectors.{settings.connector}.options.ca_file",
            ) from exc

    def _read_login(self, settings: AdapterSettings) -> Login | None:
        """The AUTH step, when the connector has credentials; both or neither are needed."""
        credentials = settings.credentials
        if "username" not in credentials and "password" not in credentials:
            return None
        for name in ("username", "password"):
            if name not in credentials:
                settings.secret(name)  # raises CredentialNotFoundError with the key path
        if self.options.tls == "none" and not self.options.allow_insecure_auth:
            raise ConfigError(
                'tls = "none" would send the password in clear; use "starttls" or '
                '"implicit", or set allow_insecure_auth = true for a relay on a trusted '
                "network",
                path=f"connectors.{settings.connector}.options.tls",
            )
        return Login(credentials["username"].reveal(), credentials["password"])

    def _dialogue(self, messages: Sequence[EmailMessage], *, now: float, batch: bool) -> Dialogue:
        """The conversation that sends `messages`, dated `now`."""
        return Dialogue(
            [build_outgoing(message, now=now) for message in messages],
            vendor=self.vendor,
            tls=self.options.tls,
            login=self._login,
            max_batch=self.options.max_batch,
            batch=batch,
        )

    def _timeouts(self, ctx: CallContext | None) -> StepTimeouts:
        return StepTimeouts(self.options.timeout, ctx.timeout if ctx else None)

    def _batch_receipt(self, receipts: list[EmailReceipt]) -> EmailBatchReceipt:
        return EmailBatchReceipt(
            vendor=self.vendor, receipts=receipts, raw=[receipt.raw for receipt in receipts]
        )
