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

The connectors keep their category, resilience policies and middleware; their vendors,
fallbacks, options and credentials are replaced by the memory vendor with the `options`
given for it (``fail_first``, ``failure``, ``latency``: see the core's memory vendor). The
state backend is the memory one and the integration log a memory ring
(``nexus.manager.call_log``). ``NEXUS_CONNECTOR__...`` environment variables are not read.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.test.utils import TestContextDecorator, override_settings

from nexus_connector_core import Clock, ConnectorManager

from ._managers import Managers, install
from ._settings import SETTING, ConfigSource, read_settings

__all__ = ["MemoryConnectors", "MemoryOverride", "memory_config", "override_connectors"]

_BACKEND = "nexus_connector_django.EmailBackend"
#: What a connector keeps when its vendor becomes the memory vendor.
_KEPT = ("category", "resilience", "middleware", "propagate_trace")


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

    def __init__(self, managers: Managers) -> None:
        self._managers = managers
        self._kept: dict[str, tuple[list[tuple[str, Any]], list[Any]]] | None = None

    @property
    def manager(self) -> ConnectorManager:
        """The synchronous manager the code under test calls through (while active)."""
        return self._managers.sync()

    def calls(self, connector: str) -> list[tuple[str, Any]]:
        """Every ``(operation, request)`` `connector` was asked to do, failed ones included,
        through the sync manager and then each async one."""
        return self._read(connector)[0]

    def outbox(self, connector: str = "email") -> list[Any]:
        """The messages the email `connector` accepted (`EmailMessage` values, in order)."""
        return self._read(connector)[1]

    def _read(self, connector: str) -> tuple[list[tuple[str, Any]], list[Any]]:
        if self._kept is not None:
            if connector not in self._kept:
                raise KeyError(f"no connector named {connector!r} (have: {', '.join(self._kept)})")
            return self._kept[connector]
        calls: list[tuple[str, Any]] = []
        outbox: list[Any] = []
        for manager in self._managers.built():
            adapter = manager.connector(connector).adapter
            calls.extend(adapter.calls)
            outbox.extend(getattr(adapter, "outbox", ()))  # email connectors have one
        return calls, outbox

    def _keep(self) -> None:
        """Copy what every connector did, before the managers close."""
        names = self._managers.config().connectors
        self._kept = {name: self._read(name) for name in names}


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
        self._active: list[tuple[Managers | None, MemoryConnectors, override_settings]] = []
        # (the managers it replaced, what it yielded, the EMAIL_BACKEND override) per enable

    def enable(self) -> MemoryConnectors:
        managers = Managers(
            memory_config(read_settings().config, self.options), environ={}, clock=self.clock
        )
        managers.config()  # a mistake in `options` fails here, not at the first call
        backend = override_settings(EMAIL_BACKEND=_BACKEND)
        backend.enable()
        connectors = MemoryConnectors(managers)
        self._active.append((install(managers), connectors, backend))
        return connectors

    def disable(self) -> None:
        previous, connectors, backend = self._active.pop()
        backend.disable()
        install(previous)
        try:
            connectors._keep()
        finally:
            connectors._managers.close()


def memory_config(
    source: ConfigSource | None, options: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The config `source` (a path, a mapping, or None for the usual lookup) with every
    connector served by the memory vendor (with ``options[name]``), on the memory state
    backend, logging to a memory ring."""
    raw = _read(source)
    tables = raw.get("connectors", {})
    if not isinstance(tables, Mapping):
        raise ValueError(f"{SETTING}['config']: 'connectors' must be a table")
    options = options or {}
    unknown = sorted(set(options) - set(tables))
    if unknown:
        raise ValueError(
            f"override_connectors options name connectors the config does not have: "
            f"{', '.join(unknown)} (configured: {', '.join(tables) or 'none'})"
        )
    connectors: dict[str, Any] = {}
    for name, table in tables.items():
        kept = {key: table[key] for key in _KEPT if isinstance(table, Mapping) and key in table}
        connectors[name] = {**kept, "vendor": "memory", "options": dict(options.get(name, {}))}
    return {"connectors": connectors, "observability": {"loggers": ["memory"]}}


def _read(source: ConfigSource | None) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    path = Path(source if source is not None else os.environ.get(_CONFIG_ENV) or _DEFAULT_FILE)
    with path.open("rb") as file:
        return tomllib.load(file)


#: The core's lookup when no config is given: this variable, else ./connectors.toml.
_CONFIG_ENV = "NEXUS_CONNECTOR_CONFIG"
_DEFAULT_FILE = "connectors.toml"
