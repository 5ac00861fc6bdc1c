"""Tests of a Django project: every connector switched to the memory vendor, with an outbox.

`override_connectors` works as Django's ``override_settings`` does: a class decorator of a
``TestCase`` (Django's test runner or pytest-django), a decorator of one test, or a context
manager. While it is active, `nexus_connector_django.manager()` / ``amanager()`` are new
managers over the project's connectors, each served by the ``memory`` vendor (nothing leaves
the process, no credential is needed), ``EMAIL_BACKEND`` is ``EmailBackend``, and the
`MemoryConnectors` it yields says what each connector was asked to do::

    from django.test import TestCase
    from nexus_connector_django.testing import override_connectors

    @override_connectors()
    class SignupTests(TestCase):
        def test_the_welcome_mail_goes_out(self):
            self.client.post("/signup/", {"email": "ada@example.com"})
            [mail] = self.nexus.outbox()       # EmailMessage values, as sent
            self.assertEqual(mail.subject, "Welcome")

    def test_a_payment_outage_is_shown(client):             # pytest-django
        with override_connectors({"payment": {"fail_first": 1}}) as nexus:
            response = client.post("/checkout/")
        assert response.status_code == 503
        assert [op for op, _ in nexus.calls("payment")] == ["purchase"]

The connectors keep their names, categories, resilience policies and middleware; their
vendors, fallbacks, options and credentials are replaced by the memory vendor with the
`options` given for it (``fail_first``, ``failure``, ``latency``: see the core's memory
vendor); a connector of a category without a memory vendor (``api``) is kept as written, for
a local server. The state backend is the memory one and the integration log a memory ring
(``nexus.manager.call_log``). ``NEXUS_CONNECTOR__...`` environment variables are not applied:
a test sees the config as written.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.test.utils import TestContextDecorator, override_settings

from nexus_connector_core import (
    AsyncConnectorManager,
    Clock,
    ConfigError,
    ConnectorManager,
    PluginRegistry,
    default_registry,
)

from ._managers import Managers, install
from ._settings import ConfigSource, read_settings

__all__ = ["MemoryConnectors", "MemoryOverride", "memory_config", "override_connectors"]

_BACKEND = "nexus_connector_django.EmailBackend"
#: What a connector loses when its vendor becomes the memory vendor.
_VENDOR_KEYS = frozenset({"vendor", "options", "credentials", "fallback"})
#: The top-level tables that are the deployment's, not the application's.
_DEPLOYMENT_KEYS = frozenset({"connectors", "state", "observability"})


def override_connectors(
    options: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    clock: Clock | None = None,
    attr_name: str | None = "nexus",
    kwarg_name: str | None = None,
) -> MemoryOverride:
    """Switch every connector to the memory vendor while active (see the module).

    Args:
        options: per connector name, the memory vendor's options (``{"email":
            {"fail_first": 2, "failure": "timeout"}}``).
        clock: the managers' clock, e.g. a `nexus_connector_core.testing.FakeClock`, so
            that breakers, limiters and backoff move when the test says.
        attr_name: as a class decorator, the test case attribute holding the
            `MemoryConnectors` (``self.nexus``).
        kwarg_name: as a function decorator, the keyword argument receiving it.
    """
    return MemoryOverride(options or {}, clock, attr_name=attr_name, kwarg_name=kwarg_name)


class MemoryConnectors:
    """What the connectors did while `override_connectors` was active; still readable after
    it ended."""

    def __init__(self) -> None:
        self._managers: Managers | None = None
        #: Per connector, what the managers closed so far recorded: (calls, outbox).
        self._retired: dict[str, tuple[list[tuple[str, Any]], list[Any]]] = {}

    @property
    def manager(self) -> ConnectorManager:
        """The synchronous manager the code under test calls through (while active)."""
        assert self._managers is not None
        return self._managers.sync()

    def calls(self, connector: str) -> list[tuple[str, Any]]:
        """Every ``(operation, request)`` `connector` was asked to do, failed ones included,
        manager by manager (the sync one, the async ones of each event loop)."""
        return self._read(connector)[0]

    def outbox(self, connector: str = "email") -> list[Any]:
        """The messages the email `connector` accepted (`EmailMessage` values), manager by
        manager."""
        return self._read(connector)[1]

    def _read(self, connector: str) -> tuple[list[tuple[str, Any]], list[Any]]:
        if connector not in self._retired:
            have = ", ".join(self._retired)
            raise KeyError(f"no connector on the memory vendor named {connector!r} (have: {have})")
        calls, outbox = (list(found) for found in self._retired[connector])
        for manager in self._managers.built() if self._managers is not None else ():
            _record(manager, connector, calls, outbox)
        return calls, outbox

    def _watch(self, managers: Managers) -> None:
        self._managers = managers
        connectors = managers.config().connectors
        # The connectors on the memory vendor: one kept as written records nothing.
        self._retired = {n: ([], []) for n, s in connectors.items() if s.vendor.key == "memory"}

    def _retire(self, manager: ConnectorManager | AsyncConnectorManager) -> None:
        """Keep what `manager`'s connectors recorded: it is about to close."""
        for name, (calls, outbox) in self._retired.items():
            _record(manager, name, calls, outbox)


def _record(
    manager: ConnectorManager | AsyncConnectorManager,
    connector: str,
    calls: list[tuple[str, Any]],
    outbox: list[Any],
) -> None:
    adapter = manager.connector(connector).adapter
    calls.extend(adapter.calls)
    outbox.extend(getattr(adapter, "outbox", ()))  # an email connector's memory vendor has one


class MemoryOverride(TestContextDecorator):
    """`override_connectors`'s decorator and context manager."""

    def __init__(
        self,
        options: Mapping[str, Mapping[str, Any]],
        clock: Clock | None,
        *,
        attr_name: str | None,
        kwarg_name: str | None,
    ) -> None:
        super().__init__(attr_name=attr_name, kwarg_name=kwarg_name)
        self.options = options
        self.clock = clock
        # Per enable: the managers it replaced, its own, and the EMAIL_BACKEND override.
        self._active: list[tuple[Managers | None, Managers, override_settings]] = []

    def enable(self) -> MemoryConnectors:
        source = memory_config(read_settings().config, self.options)
        connectors = MemoryConnectors()
        # No NEXUS_CONNECTOR__ override: a test sees the config as written. (The rest of the
        # environment serves the env: secrets of connectors kept as written.)
        environ = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_CONNECTOR__")}
        managers = Managers(source, environ=environ, clock=self.clock, on_retire=connectors._retire)
        connectors._watch(managers)  # reads the config: a mistake fails here, not at first use
        backend = override_settings(EMAIL_BACKEND=_BACKEND)
        backend.enable()
        self._active.append((install(managers), managers, backend))
        return connectors

    def disable(self) -> None:
        previous, managers, backend = self._active.pop()
        backend.disable()
        install(previous)
        managers.close()


def memory_config(
    source: ConfigSource | None, options: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The config `source` (a path, a mapping, or None for the usual lookup) with every
    connector served by the memory vendor of its category (with ``options[name]``), its
    vendor, options, credentials and fallback vendors left out; a connector of a category
    without a memory vendor (``api``) is kept as written, for a local server. The state
    backend is the memory one and the integration log a memory ring: those are the
    deployment's. (The pytest plugin's ``nexus_manager`` switches a config the same way.)"""
    raw = _read(source)
    tables = raw.get("connectors", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("expected a table of connectors ([connectors.<name>])", path="connectors")
    options = options or {}
    unknown = sorted(set(options) - set(tables))
    if unknown:
        raise ValueError(
            f"override_connectors options name connectors the config does not have: "
            f"{', '.join(unknown)} (configured: {', '.join(tables) or 'none'})"
        )
    registry = default_registry()
    connectors: dict[str, Any] = {}
    for name, table in tables.items():
        category = table.get("category", name) if isinstance(table, Mapping) else None
        if not isinstance(category, str) or not _has_memory_vendor(registry, category):
            if name in options:
                raise ValueError(
                    f"override_connectors options for {name!r}: {category} connectors have "
                    "no memory vendor to configure"
                )
            connectors[name] = table  # as written: loading the config says what is wrong
            continue
        kept = {key: value for key, value in table.items() if key not in _VENDOR_KEYS}
        connectors[name] = {**kept, "vendor": "memory", "options": dict(options.get(name, {}))}
    rest = {key: value for key, value in raw.items() if key not in _DEPLOYMENT_KEYS}
    return {**rest, "connectors": connectors, "observability": {"loggers": ["memory"]}}


def _has_memory_vendor(registry: PluginRegistry, category: str) -> bool:
    try:
        return "memory" in registry.keys(category)
    except KeyError:  # not a category at all: loading the config says so, at its key
        return True


def _read(source: ConfigSource | None) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    path = Path(source if source is not None else os.environ.get(_CONFIG_ENV) or _DEFAULT_FILE)
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the config file: {exc.strerror}", source=str(path)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(path)) from None


#: The core's lookup when no config is given: this variable, else ./connectors.toml.
_CONFIG_ENV = "NEXUS_CONNECTOR_CONFIG"
_DEFAULT_FILE = "connectors.toml"
