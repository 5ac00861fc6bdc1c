"""System checks (``manage.py check``, and before ``runserver``, ``migrate`` and ``test``): the
config is read and checked as the managers will read it, each problem with its key path.

- ``nexus_connector.E001``: the ``NEXUS_CONNECTOR`` setting itself is malformed;
- ``nexus_connector.E002``: a problem in the config (one message per problem, with its
  dotted key path and, when one set the value, the environment variable);
- ``nexus_connector.W002``: a secret read from an environment variable that is not set
  here (``env:SMTP_PASSWORD``): a warning, so that ``manage.py test`` and ``runserver`` run
  without production secrets; ``manage.py check --deploy`` reports it as
  ``nexus_connector.E004``, an error;
- ``nexus_connector.E003``: ``EMAIL_BACKEND`` is ours, but the email connector it names is
  not configured, or is not an email connector.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from nexus_connector_core import Config, ConfigError, load_config

from ._settings import SETTING, read_settings

__all__ = ["check_config", "check_deploy"]

_BACKEND = "nexus_connector_django.EmailBackend"
_HINT = "`manage.py nexus_connector check` shows the same problems."


def check_config(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The config's problems as Django system-check messages (see the module)."""
    return _check(deploy=False)


def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy``: every secret the config reads from the environment is set."""
    return [m for m in _check(deploy=True) if m.id == "nexus_connector.E004"]


def _check(*, deploy: bool) -> list[checks.CheckMessage]:
    try:
        ours = read_settings()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="nexus_connector.E001")]
    try:
        config = load_config(ours.config)
    except ConfigError as exc:
        return _problems(ours.config, exc, deploy=deploy)
    return _email_backend(config, ours.email_connector)


def _problems(source: Any, error: ConfigError, *, deploy: bool) -> list[checks.CheckMessage]:
    """E002 for each problem; W002 (E004 with ``--deploy``) for the problems that go away
    when every environment variable is set: secrets this environment lacks."""
    try:
        load_config(source, environ=_EverySet(os.environ))
    except ConfigError as anyway:
        structural = {(p.path, p.detail) for p in anyway.problems}
    else:
        structural = set()
    where = f" in {error.source}" if error.source else ""
    messages: list[checks.CheckMessage] = []
    for problem in error.problems:
        text = f"{problem.path}: {problem.detail}" if problem.path else problem.detail
        if (problem.path, problem.detail) in structural:
            hint = f"Fix the Nexus Connector config{where} ({SETTING}['config']); {_HINT}"
            messages.append(checks.Error(text, hint=hint, id="nexus_connector.E002"))
        elif deploy:
            hint = "Set it where the project runs: without it the connector cannot start."
            messages.append(checks.Error(text, hint=hint, id="nexus_connector.E004"))
        else:
            hint = "Set it where the project runs; `manage.py check --deploy` makes this an error."
            messages.append(checks.Warning(text, hint=hint, id="nexus_connector.W002"))
    return messages


def _email_backend(config: Config, name: str) -> list[checks.CheckMessage]:
    if getattr(settings, "EMAIL_BACKEND", None) != _BACKEND:
        return []
    found = config.connectors.get(name)
    if found is not None and found.category == "email":
        return []
    what = "is not configured" if found is None else f"is a {found.category} connector"
    return [
        checks.Error(
            f"EMAIL_BACKEND sends through the connector {name!r}, which {what} in {config.source}",
            hint=f"Add a [connectors.{name}] table of category email, or name another "
            f"connector in {SETTING}['email_connector'].",
            id="nexus_connector.E003",
        )
    ]


class _EverySet(Mapping[str, str]):
    """The environment as it would be with every variable set: the real values, and a
    placeholder for any other name (but the core's own ``NEXUS_CONNECTOR...`` variables)."""

    def __init__(self, real: Mapping[str, str]) -> None:
        self._real = real

    def __getitem__(self, name: str) -> str:
        if name in self._real or name.startswith("NEXUS_CONNECTOR"):
            return self._real[name]
        return "set-where-the-project-runs"

    def __iter__(self) -> Iterator[str]:
        return iter(self._real)

    def __len__(self) -> int:
        return len(self._real)
