"""The ``NEXUS_CONNECTOR`` setting, read and checked.

    NEXUS_CONNECTOR = {
        "config": BASE_DIR / "connectors.toml",   # or the config itself, as a dict
        "email_connector": "email",               # the connector EmailBackend sends through
    }

Without ``config`` the core's lookup applies: ``$NEXUS_CONNECTOR_CONFIG``, else
``connectors.toml`` in the current folder.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["SETTING", "ConfigSource", "NexusSettings", "read_settings"]

#: What ``from_config`` reads: a config file's path, or the config itself as a mapping.
ConfigSource: TypeAlias = str | os.PathLike[str] | Mapping[str, Any]

#: The name of the Django setting.
SETTING = "NEXUS_CONNECTOR"
_KEYS = ("config", "email_connector")


@dataclass(frozen=True)
class NexusSettings:
    """The ``NEXUS_CONNECTOR`` setting, checked."""

    #: A path to the config file, or the config as a mapping; None: the core's lookup.
    config: ConfigSource | None = None
    #: The connector `EmailBackend` sends through unless given another.
    email_connector: str = "email"


def read_settings() -> NexusSettings:
    """The ``NEXUS_CONNECTOR`` setting; `ImproperlyConfigured` naming the key when it is
    malformed (``manage.py check`` reports it as ``nexus_connector.E001``)."""
    raw: Any = getattr(settings, SETTING, {})
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(
            f"{SETTING} must be a dict such as {{'config': BASE_DIR / 'connectors.toml'}}, "
            f"got {type(raw).__name__}"
        )
    for key in raw:
        if key not in _KEYS:
            hint = difflib.get_close_matches(str(key), _KEYS, 1)
            raise ImproperlyConfigured(
                f"{SETTING}[{key!r}] is not a setting of nexus_connector_django; expected "
                f"{' or '.join(map(repr, _KEYS))}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
    config = raw.get("config")
    if config is not None and not isinstance(config, str | os.PathLike | Mapping):
        raise ImproperlyConfigured(
            f"{SETTING}['config'] must be the path of a config file or the config as a dict, "
            f"got {type(config).__name__}"
        )
    if isinstance(config, str) and not config.strip():
        raise ImproperlyConfigured(
            f"{SETTING}['config'] is an empty path: give the config file's path (or leave "
            "the key out to use $NEXUS_CONNECTOR_CONFIG or ./connectors.toml)"
        )
    email = raw.get("email_connector", "email")
    if not isinstance(email, str) or not email.strip():
        got = "an empty string" if isinstance(email, str) else type(email).__name__
        raise ImproperlyConfigured(
            f"{SETTING}['email_connector'] must be a connector's name such as 'email', got {got}"
        )
    return NexusSettings(config=config, email_connector=email)
