"""Where alert notifications go: sinks, registered by plugins under ``register_alert_sinks``.

A rule's ``notify = ["log", "webhook:ops"]`` names sinks by key, with a target after the
colon whose options are ``[alerting.sinks.<sink>.<target>]``. Built in:

- ``log``: one line on the stdlib logger ``nexus_connector.alerts`` (WARNING when firing,
  INFO when resolved), the notification attached as ``record.alert``;
- ``webhook``: a JSON POST signed with the Standard Webhooks scheme (``webhook-id``,
  ``webhook-timestamp``, ``webhook-signature``), so the receiver checks it with
  ``nexus_connector_core.webhooks.verify("standard-webhooks", ...)``. It goes through the
  call pipeline (a private ``api`` connector): a delivery that fails for a reason that may
  pass (no connection, a timeout, 408, 425, 429, 5xx) is retried with exponential backoff
  and full jitter, honouring Retry-After, within `deadline`; every attempt carries the same
  ``webhook-id``, so the receiver can drop a duplicate.

A plugin's sink is a factory taking `AlertSinkSettings` and returning an object with
``notify(notification)`` (and optionally ``close()``); ``notify`` runs on the manager's
background thread and raises to report a failed delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import msgspec

from ._clock import Clock
from ._config_ranges import Seconds, between, check_ranges
from ._credentials import Secret
from ._errors import ConnectorError

__all__ = [
    "AlertDeliveryError",
    "AlertNotification",
    "AlertSink",
    "AlertSinkSettings",
    "LogAlertSink",
    "WebhookAlertSink",
    "WebhookSinkOptions",
]

LOGGER_NAME = "nexus_connector.alerts"


class AlertNotification(msgspec.Struct, frozen=True, kw_only=True):
    """One message about an alert, as every sink receives it.

    Attributes:
        id: unique to this notification; a sink that sends it again sends the same id.
        rule: the rule's name (``[alerts.<name>]``).
        status: ``firing`` or ``resolved``.
        when: the rule's condition, as written.
        summary: the rule's summary, if it has one.
        since: when the alert started firing.
        at: when this notification was made.
        reminder: 0 for the first notice of a firing, then 1, 2... for each repeat.
    """

    id: str
    rule: str
    status: Literal["firing", "resolved"]
    when: str
    summary: str = ""
    since: datetime
    at: datetime
    reminder: int = 0

    @property
    def text(self) -> str:
        """One line for people."""
        what = self.summary or self.when
        again = f" (reminder {self.reminder})" if self.reminder else ""
        return f"alert {self.rule} {self.status}{again}: {what}"


class AlertDeliveryError(ConnectorError):
    """A sink could not deliver a notification (after its retries)."""


class AlertSinkSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What a sink's factory receives: its key, the target named after the colon (None for
    ``"log"``), the target's options (decoded into the sink's options type) and the clock."""

    sink: str
    target: str | None = None
    options: Any = None
    clock: Clock


@runtime_checkable
class AlertSink(Protocol):
    """Delivers notifications; ``notify`` raises when delivery failed."""

    def notify(self, notification: AlertNotification) -> None: ...


class LogAlertSink:
    """The ``log`` sink: a line on ``nexus_connector.alerts`` (``.<target>`` with one)."""

    def __init__(self, settings: AlertSinkSettings) -> None:
        name = LOGGER_NAME + (f".{settings.target}" if settings.target else "")
        self.logger = logging.getLogger(name)

    def notify(self, notification: AlertNotification) -> None:
        level = logging.WARNING if notification.status == "firing" else logging.INFO
        self.logger.log(level, notification.text, extra={"alert": notification})


class WebhookSinkOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[alerting.sinks.webhook.<target>]``."""

    #: Where to POST (http or https).
    url: str
    #: The signing secret, as a reference (``env:OPS_WEBHOOK_SECRET``): ``whsec_`` and
    #: base64, as Standard Webhooks senders show it, or any other text used as the key.
    secret: Secret
    #: Seconds one attempt may take.
    timeout: Seconds = 5.0
    #: Seconds all attempts together may take.
    deadline: Seconds = 30.0
    #: Attempts at most (1: no retry).
    max_attempts: Annotated[int, between(1, 20)] = 5
    #: Extra request headers.
    headers: dict[str, str] = {}

    def __post_init__(self) -> None:
        check_ranges(self)
        import httpx

        try:
            parsed = httpx.URL(self.url)
        except (httpx.InvalidURL, TypeError):
            raise ValueError("url is not a valid URL") from None
        # The URL itself is never quoted: it may hold a token.
        if parsed.scheme not in ("http", "https") or not parsed.host or len(self.url) > 2048:
            raise ValueError("url must be an absolute http:// or https:// URL")
        if parsed.userinfo or parsed.fragment or "{" in parsed.path or "}" in parsed.path:
            raise ValueError("url must not hold credentials, a fragment or braces")
        try:
            _key(self.secret.reveal())
        except ConnectorError:
            raise ValueError(
                "secret starts with 'whsec_' but the rest is not base64: copy it again"
            ) from None


def _key(secret: str) -> bytes:
    from .webhooks._standard import _key as standard_key

    return standard_key(secret.encode())


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of a Standard Webhooks delivery."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


_encoder = msgspec.json.Encoder()
_RETRY_STATUS_CODES = (408, 425, 429)
_CONNECTOR = "alert_webhook"


class WebhookAlertSink:
    """The ``webhook`` sink (see the module's docstring).

    It posts through the call pipeline: a connector of category ``api`` (vendor ``http``)
    of its own, whose one endpoint is idempotent (receivers drop a repeated ``webhook-id``),
    so retry, Retry-After, attempt timeout and deadline are the pipeline's."""

    def __init__(self, settings: AlertSinkSettings) -> None:
        options = settings.options
        if not isinstance(options, WebhookSinkOptions):
            raise TypeError(f"expected WebhookSinkOptions, got {type(options).__name__}")
        self.options = options
        self.target = settings.target or "webhook"
        self.clock = settings.clock
        self._manager = _pipeline(options, settings.clock)
        self._params = _query(options.url)

    @staticmethod
    def body(notification: AlertNotification) -> bytes:
        """The JSON sent: ``{"type": "alert.firing", "timestamp": ..., "data": {...}}``."""
        data = msgspec.to_builtins(notification)
        return _encoder.encode(
            {"type": f"alert.{notification.status}", "timestamp": data["at"], "data": data}
        )

    def notify(self, notification: AlertNotification) -> None:
        body = self.body(notification)
        timestamp = int(self.clock.time())
        headers = {
            **self.options.headers,
            "content-type": "application/json",
            "webhook-id": notification.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                self.options.secret.reveal(), notification.id, timestamp, body
            ),
        }
        try:
            self._manager.connector(_CONNECTOR).call(
                "deliver", params=self._params, content=body, headers=headers
            )
        except ConnectorError as exc:
            raise AlertDeliveryError(
                f"webhook {self.target!r} did not take alert {notification.rule!r} "
                f"({notification.status}): {type(exc).__name__}: {exc.message}"
            ) from exc

    def close(self) -> None:
        self._manager.close()


def _split(url: str) -> tuple[str, str]:
    import httpx

    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}", parsed.path or "/"


def _query(url: str) -> dict[str, list[str]]:
    import httpx

    params = httpx.URL(url).params
    return {name: params.get_list(name) for name in params}


def _pipeline(options: WebhookSinkOptions, clock: Clock) -> Any:
    """A manager of one ``api`` connector that POSTs to `options.url` through the pipeline."""
    from ._manager import ConnectorManager
    from ._plugins import PluginRegistry

    base_url, path = _split(options.url)
    config = {
        "connectors": {
            _CONNECTOR: {
                "category": "api",
                "vendor": "http",
                "options": {"base_url": base_url},
                "endpoints": {"deliver": {"method": "POST", "path": path, "idempotent": True}},
                "propagate_trace": False,
                "resilience": {
                    "timeout": options.timeout,
                    "deadline": max(options.deadline, options.timeout),
                    "retry": {
                        "max_attempts": options.max_attempts,
                        "backoff": "exponential",
                        "base": 0.5,
                        "max_delay": 10.0,
                        "jitter": "full",
                        "retry_on_status": list(_RETRY_STATUS_CODES),
                    },
                },
            }
        },
        "observability": {"loggers": []},
    }
    return ConnectorManager.from_config(config, registry=PluginRegistry(), clock=clock, environ={})
