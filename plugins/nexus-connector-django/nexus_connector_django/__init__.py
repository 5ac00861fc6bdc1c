"""Nexus Connector for Django: ``INSTALLED_APPS += ["nexus_connector_django"]``.

- ``NEXUS_CONNECTOR = {"config": BASE_DIR / "connectors.toml"}`` (or the config as a dict);
  `manager()` / `amanager()` give the process's managers, built on first use and closed at
  exit;
- ``EMAIL_BACKEND = "nexus_connector_django.EmailBackend"``: Django's mail through the
  email connector's pipeline, each message's `EmailReceipt` attached as ``nexus_receipt``;
- ``manage.py check`` checks the config (ids ``nexus_connector.E00x``);
  ``manage.py nexus_connector ...`` runs the CLI with it;
- `webhook_view` verifies signed webhooks and sends `webhook_received`;
- `nexus_connector_django.testing.override_connectors` switches every connector to the memory
  vendor in tests, with an outbox.

Names load on first use, so importing the package imports no part of Django.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

from ._version import __version__

__all__ = [
    "__version__",
    "EmailBackend",
    "amanager",
    "close_managers",
    "manager",
    "to_email_message",
    "webhook_received",
    "webhook_view",
]

if TYPE_CHECKING:
    from ._backend import EmailBackend
    from ._managers import amanager, close_managers, manager
    from ._messages import to_email_message
    from ._webhooks import webhook_received, webhook_view
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "EmailBackend": "_backend",
            "amanager": "_managers",
            "close_managers": "_managers",
            "manager": "_managers",
            "to_email_message": "_messages",
            "webhook_received": "_webhooks",
            "webhook_view": "_webhooks",
        },
    )
