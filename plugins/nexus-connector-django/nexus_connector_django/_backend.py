"""`EmailBackend`: Django's mail API (``send_mail``, ``EmailMessage.send()``,
``send_mass_mail``) sent through an email connector's pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.mail import EmailMessage as DjangoEmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from nexus_connector_core import (
    ConnectorError,
    EmailConnector,
    EmailMessage,
    EmailReceipt,
    InvalidRequestError,
)

from ._managers import manager
from ._messages import to_email_message
from ._settings import read_settings

__all__ = ["EmailBackend"]


class EmailBackend(BaseEmailBackend):
    """Sends Django's mail through the email connector (``NEXUS_CONNECTOR["email_connector"]``,
    ``"email"`` by default) with its retries, breaker, rate limit and fallback vendors.

    ``EMAIL_BACKEND = "nexus_connector_django.EmailBackend"``; another connector for one
    send: ``get_connection("nexus_connector_django.EmailBackend", connector="marketing")``.

    Each message sent gets ``message.nexus_receipt``, the connector's `EmailReceipt`
    (``.vendor_id``, ``.recipients[address].status``: ``queued``, ``sent``, ``rejected`` or
    ``unknown``), as django-anymail attaches ``anymail_status``. One message is one ``send``;
    several (``send_mass_mail``, ``send_messages``) are one ``send_batch``, over one
    connection where the vendor allows. A message without recipients is skipped, as Django's
    SMTP backend skips it.

    Errors: a message that cannot be sent as given (`ValueError`, see `to_email_message`) is
    refused before anything is sent. A message whose every recipient the vendor refused
    raises `InvalidRequestError` (code ``all_recipients_rejected``). With ``fail_silently``
    the errors of the send (`ConnectorError`: an outage, a refusal) are swallowed and the count
    says what went out; a config that does not load or a connector that is not configured
    still raises, as does anything else.
    """

    def __init__(
        self, fail_silently: bool = False, *, connector: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        #: The email connector's name.
        self.connector = connector or read_settings().email_connector

    def send_messages(self, email_messages: Sequence[DjangoEmailMessage]) -> int:
        """Send `email_messages`; how many went out (to at least one recipient)."""
        pending: list[tuple[DjangoEmailMessage, EmailMessage]] = []
        for original in email_messages:
            original.nexus_receipt = None  # type: ignore[attr-defined]  # ours to set, below
            if original.recipients():
                pending.append((original, to_email_message(original)))
        if not pending:
            return 0
        # Outside the try: a config that does not load, or a connector that is missing or not
        # an email connector, is a mistake to show, not an outage to swallow.
        email = manager().connector(self.connector, "email")
        try:
            receipts = _send(email, [message for _, message in pending])
        except ConnectorError:
            if self.fail_silently:
                return 0
            raise
        refused: list[tuple[int, EmailReceipt]] = []
        for index, ((original, _), receipt) in enumerate(zip(pending, receipts, strict=True)):
            original.nexus_receipt = receipt  # type: ignore[attr-defined]
            if receipt.recipients and len(receipt.rejected) == len(receipt.recipients):
                refused.append((index, receipt))
        if refused and not self.fail_silently:
            index, receipt = refused[0]
            raise InvalidRequestError(
                f"every recipient of message {index + 1} of {len(pending)} was rejected "
                f"({', '.join(receipt.rejected)}); the others went out. Each message's "
                "nexus_receipt says what happened to each recipient",
                code="all_recipients_rejected",
                connector=self.connector,
                vendor=receipt.vendor,
                operation="send_batch",
            )
        return len(pending) - len(refused)


def _send(email: EmailConnector, messages: list[EmailMessage]) -> list[EmailReceipt]:
    if len(messages) == 1:
        return [email.send(messages[0])]
    return list(email.send_batch(messages).receipts)
