"""The standard library's smtplib as the synchronous twin needs it: replies read strictly
and AUTH with UTF-8 credentials, as aiosmtplib (the async twin's library) does both.

smtplib's own reader hands a line without a reply code back as code -1, which the dialogue
would take for a refusal, and reads continuation lines without end; its ``login`` encodes
the credentials as ASCII, and its error for any other character holds the password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import smtplib
import time
from typing import Any

from ._answers import MAX_REPLY_LINE, MalformedReplyError, read_reply_line

__all__ = ["StrictSmtp", "StrictSmtpSsl", "login"]

#: The AUTH mechanisms smtplib and aiosmtplib try, in their order of preference.
_AUTH_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")
#: Replies that end AUTH well: 235 authenticated, 503 already authenticated.
_AUTH_OK = (235, 503)


class StrictSmtp(smtplib.SMTP):
    """smtplib's client, reading replies strictly (`read_reply_line`): a reply that is no
    SMTP reply closes the connection and raises `MalformedReplyError`, whichever smtplib
    method read it. A reply must also come whole by `reply_by` (`time.monotonic()`): the
    socket's timeout bounds each read, not the reply, so a server trickling its reply a
    byte at a time would otherwise hold a call past its deadline."""

    def __init__(
        self,
        host: str = "",
        port: int = 0,
        local_hostname: str | None = None,
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        #: When the reply being read must have come (the step's end), or None.
        self.reply_by: float | None = time.monotonic() + timeout
        self._pending = b""
        self._pending_from: object = None
        # Connects, and so reads the greeting: by `reply_by` too.
        super().__init__(host, port, local_hostname, timeout=timeout, **kwargs)

    def _recv(self) -> bytes:
        sock = self.sock
        if sock is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        if self.reply_by is not None:
            left = self.reply_by - time.monotonic()
            if left <= 0:
                raise TimeoutError("the reply did not come whole within the step's time")
            current = sock.gettimeout()
            sock.settimeout(left if current is None else min(current, left))
        return sock.recv(4096)

    def _readline(self, limit: int) -> bytes:
        """One line (its newline included), of at most `limit` bytes; b"" at EOF."""
        if self._pending_from is not self.sock:  # a new socket (TLS): nothing carries over
            self._pending, self._pending_from = b"", self.sock
        buffer = self._pending
        while (end := buffer.find(b"\n", 0, limit)) < 0 and len(buffer) < limit:
            chunk = self._recv()
            if not chunk:
                self._pending = b""
                return buffer
            buffer += chunk
        cut = end + 1 if end >= 0 else limit
        self._pending = buffer[cut:]
        return buffer[:cut]

    def getreply(self) -> tuple[int, bytes]:
        """The next reply: its code and its lines' text, joined by newlines."""
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        texts: list[bytes] = []
        read = 0
        while True:
            try:
                line = self._readline(MAX_REPLY_LINE + 1)
            except OSError as exc:  # a timeout included
                self.close()
                raise smtplib.SMTPServerDisconnected(
                    f"Connection unexpectedly closed: {exc}"
                ) from exc
            if not line:
                self.close()
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            read += len(line)
            try:
                code, more, text = read_reply_line(line, read)
            except MalformedReplyError:
                self.close()
                raise
            texts.append(text)
            if not more:
                return code, b"\n".join(texts)


class StrictSmtpSsl(StrictSmtp, smtplib.SMTP_SSL):
    """`StrictSmtp` over implicit TLS."""


def login(smtp: smtplib.SMTP, username: str, password: str) -> tuple[int, bytes]:
    """AUTH as ``smtplib.SMTP.login`` does it (each mechanism both sides know, until one
    succeeds; the last reply), with the credentials encoded as UTF-8 (as RFC 4616 says)."""
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanisms = [m for m in _AUTH_MECHANISMS if m in offered]
    if not mechanisms:
        raise smtplib.SMTPException("No suitable authentication method found.")
    user, secret = username.encode(), password.encode()
    reply = (0, b"")
    for mechanism in mechanisms:
        reply = _authenticate(smtp, mechanism, user, secret)
        if reply[0] in _AUTH_OK:
            break
    return reply


def _authenticate(
    smtp: smtplib.SMTP, mechanism: str, user: bytes, secret: bytes
) -> tuple[int, bytes]:
    if mechanism == "PLAIN":
        return smtp.docmd("AUTH", "PLAIN " + _base64(b"\0" + user + b"\0" + secret))
    if mechanism == "LOGIN":
        reply = smtp.docmd("AUTH", "LOGIN " + _base64(user))
        return smtp.docmd(_base64(secret)) if reply[0] == 334 else reply
    reply = smtp.docmd("AUTH", "CRAM-MD5")
    if reply[0] != 334:
        return reply
    try:
        challenge = base64.b64decode(reply[1], validate=True)
    except binascii.Error:
        raise smtplib.SMTPException("the server's CRAM-MD5 challenge is not base64") from None
    digest = hmac.new(secret, challenge, "md5").hexdigest()
    return smtp.docmd(_base64(user + b" " + digest.encode()))


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
