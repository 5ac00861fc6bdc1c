"""The Django app: ``INSTALLED_APPS = [..., "nexus_connector_django"]``."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed


class NexusConnectorConfig(AppConfig):
    """Registers the config's system checks, and rebuilds the process's managers when
    ``NEXUS_CONNECTOR`` changes (``override_settings`` in tests)."""

    name = "nexus_connector_django"
    label = "nexus_connector"
    verbose_name = "Nexus Connector"

    def ready(self) -> None:
        from ._checks import check_config, check_deploy

        checks.register(check_config, "nexus_connector")
        checks.register(check_deploy, "nexus_connector", deploy=True)
        setting_changed.connect(_setting_changed, dispatch_uid="nexus_connector_django")


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "NEXUS_CONNECTOR":
        from ._managers import close_managers

        close_managers()
