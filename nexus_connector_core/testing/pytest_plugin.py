"""The pytest plugin for application tests: your connectors, on the memory vendors.

Installed with the core (entry point ``pytest11``, name ``nexus_connector``), so an
application's tests can ask for its fixtures with no import and no conftest:

``nexus_config``
    The application's config: ``$NEXUS_CONNECTOR_CONFIG``, else ``./connectors.toml``.
    Override it like any fixture to return another path or a mapping.
``nexus_manager`` / ``nexus_amanager``
    A `ConnectorManager` / `AsyncConnectorManager` built from it with every connector
    switched to the ``memory`` vendor of its category: names, categories, resilience
    policies and middleware kept; vendor options, credentials and fallback vendors left out;
    state in memory, the integration log in a memory ring (``manager.call_log``), no
    ``NEXUS_CONNECTOR__...`` override applied. A connector of a category with no memory
    vendor (``api``) is kept as written, for a local server. Closed after the test.
``nexus_outbox``
    Per connector name, the ``(operation, request)`` pairs its vendor was asked to do, in
    order, every attempt included (like Django's ``mail.outbox``).
``nexus_clock``
    The `FakeClock` those managers run on: retries, backoff and latency take no real time.

The marker ``@pytest.mark.nexus_fail(connector, failure="unavailable", times=None)`` makes
that connector's vendor fail: its first `times` attempts (every attempt when None) raise the
error of `failure` (``unavailable``, ``timeout``, ``rate_limited``, ``auth``, ``declined``,
``invalid``), which the pipeline handles as it would a real vendor's.

    def test_a_declined_card_is_not_retried(nexus_manager, nexus_outbox):
        ...

The marker ``@pytest.mark.nexus_vendor(connector, table)`` puts that connector on another
vendor than memory instead, typically a plugin's double on a local server: `table` is the
connector's ``vendor``, ``options``, ``credentials``, ``fallback`` (and ``auth``), as a
mapping or as the name of a fixture that returns one (the fixture starts the double's server
and stops it after the test). The connector keeps its name, category, policies and
middleware; the keys the table leaves out are dropped (``auth`` is kept unless given).

    @pytest.fixture
    def local_stripe(stripe):  # stripe: a StripeDouble
        with FaultServer(default=stripe) as server:
            yield {"vendor": "stripe", "options": {"base_url": server.url}, ...}

    @pytest.mark.nexus_vendor("payment", "local_stripe")
    def test_the_charge_reaches_stripe(nexus_manager, stripe):
        ...

The plugin is inert in test sessions that do not use it: importing it imports nothing of
the library, and a test that asks for none of its fixtures runs as if it were not there.
With plugin autoloading off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), load it with
``-p nexus_connector_core.testing.pytest_plugin``.
"""

from __future__ import annotations

import asyncio
import copy
import os
import threading
import tomllib
from collections.abc import Coroutine, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from .. import AsyncConnectorManager, ConnectorManager
    from .._config import ConfigSource
    from .._plugins import PluginRegistry
    from ._clock import FakeClock

__all__ = ["FAILURES", "VENDOR_KEYS", "Outbox"]

M = TypeVar("M", "ConnectorManager", "AsyncConnectorManager")

MARKER = "nexus_fail"
VENDOR_MARKER = "nexus_vendor"
#: What a ``nexus_vendor`` table may give: the connector's vendor part.
VENDOR_KEYS = ("vendor", "options", "credentials", "fallback", "auth")
#: What switching a connector drops (``auth``, category api's, is replaced only when given).
_VENDOR_ONLY = ("vendor", "options", "credentials", "fallback")
#: What ``nexus_fail(failure=...)`` can make a connector fail with.
FAILURES = ("unavailable", "timeout", "rate_limited", "auth", "declined", "invalid")
#: ``times=None``: every attempt fails (the memory vendor's ``fail_first`` at its maximum).
_ALWAYS = 1_000_000_000
_MANAGERS = ("nexus_manager", "nexus_amanager")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(connector, failure='unavailable', times=None): make a connector of "
        "nexus_manager / nexus_amanager fail (its first `times` attempts; every one when "
        f"None) with one of: {', '.join(FAILURES)}",
    )
    config.addinivalue_line(
        "markers",
        f"{VENDOR_MARKER}(connector, table): put a connector of nexus_manager / nexus_amanager "
        "on another vendor than memory (a plugin's double): table is its vendor, options, "
        "credentials, fallback and auth, as a mapping or the name of a fixture returning one",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    # A marker on a test whose managers are not ours would change nothing: say so rather
    # than let the test pass for the wrong reason.
    for marker in (MARKER, VENDOR_MARKER):
        if item.get_closest_marker(marker) is None:
            continue
        if not any(name in getattr(item, "fixturenames", ()) for name in _MANAGERS):
            pytest.fail(
                f"@pytest.mark.{marker} acts on nexus_manager and nexus_amanager, and this test "
                "uses neither: ask for one (directly or through a fixture of yours)",
                pytrace=False,
            )


# -- the fixtures ---------------------------------------------------------------------------


@pytest.fixture
def nexus_config() -> ConfigSource:
    """The application's config: ``$NEXUS_CONNECTOR_CONFIG``, else ``./connectors.toml``.

    Override it in a conftest.py to test another config (a path or a mapping)::

        @pytest.fixture
        def nexus_config():
            return {"connectors": {"email": {"vendor": "smtp"}}}
    """
    from .._config import find_config_file
    from .._errors import ConfigError

    try:
        return find_config_file()
    except ConfigError as exc:
        pytest.fail(
            f"{exc.message} (or override the nexus_config fixture in your conftest.py)",
            pytrace=False,
        )


@pytest.fixture
def nexus_clock() -> FakeClock:
    """The `FakeClock` the test's managers run on: waits take no time (``clock.sleeps``
    lists them), ``clock.advance(seconds)`` moves time on, e.g. past a breaker's
    ``open_for``."""
    from ._clock import FakeClock

    return FakeClock()


@pytest.fixture
def _nexus_testbed(
    request: pytest.FixtureRequest, nexus_config: ConfigSource, nexus_clock: FakeClock
) -> _Testbed:
    return _Testbed(nexus_config, nexus_clock, request)


@pytest.fixture
def nexus_manager(_nexus_testbed: _Testbed) -> Iterator[ConnectorManager]:
    """A `ConnectorManager` of the application's connectors, each on the memory vendor of
    its category (see the module's docstring); closed after the test."""
    from .._manager import ConnectorManager

    manager = _nexus_testbed.build(ConnectorManager)
    yield manager
    manager.close()


@pytest.fixture
def nexus_amanager(_nexus_testbed: _Testbed) -> Iterator[AsyncConnectorManager]:
    """The `AsyncConnectorManager` twin of `nexus_manager`; closed after the test.

    A plain fixture, so that it serves pytest-asyncio and anyio tests alike; it is closed on
    an event loop of its own (the memory vendors hold nothing bound to the test's loop).
    """
    from .._async_manager import AsyncConnectorManager

    manager = _nexus_testbed.build(AsyncConnectorManager)
    yield manager
    _run_on_own_loop(manager.aclose())


@pytest.fixture
def nexus_outbox(_nexus_testbed: _Testbed) -> Outbox:
    """Per connector name, what its vendor was asked to do: ``(operation, request)`` pairs
    in order, every attempt included (`Outbox`)."""
    return _nexus_testbed.outbox


# -- what the fixtures share ----------------------------------------------------------------


class Outbox(Mapping[str, list[tuple[str, Any]]]):
    """What each connector's vendor was asked to do in this test, by connector name.

    ``outbox["email"]`` is a new list of ``(operation, request)`` pairs in the order the
    vendor received them: every attempt, failed ones included, so a call retried twice
    shows three times and a call that was refused before reaching the vendor (an open
    breaker, the rate limiter, an idempotent replay) not at all. Read it after the calls.

    >>> [(operation, message)] = nexus_outbox["email"]  # doctest: +SKIP
    >>> nexus_outbox.requests("email", "send")  # the requests alone  # doctest: +SKIP
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names
        self._adapters: list[tuple[str, Any]] = []

    def _record(self, name: str, adapter: Any) -> None:
        self._adapters.append((name, adapter))

    def __getitem__(self, name: str) -> list[tuple[str, Any]]:
        if name not in self._names:
            raise KeyError(
                f"no connector named {name!r} on a memory vendor; those with an outbox: "
                f"{', '.join(self._names) or 'none'}"
            )
        calls: list[tuple[str, Any]] = []
        for connector, adapter in self._adapters:
            if connector == name:
                calls.extend(adapter.calls)
        return calls

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def requests(self, name: str, operation: str | None = None) -> list[Any]:
        """The requests connector `name` received, only those of `operation` if given."""
        return [r for op, r in self[name] if operation is None or op == operation]

    def __repr__(self) -> str:
        return f"Outbox({ {name: len(self[name]) for name in self._names} })"


class _Testbed:
    """One test's switched config, its clock, and the managers built from them."""

    def __init__(
        self, source: ConfigSource, clock: FakeClock, request: pytest.FixtureRequest
    ) -> None:
        self.where, data = _read(source)
        self.failures = _failures(request)
        self.vendors = _vendors(request)
        self.data = _switched(data, self.failures, self.vendors, self.where)
        self.clock = clock
        self.outbox = Outbox(
            tuple(
                name
                for name, table in self.data["connectors"].items()
                if not isinstance(table, dict) or table.get("vendor") == "memory"
            )
        )

    def build(self, kind: type[M]) -> M:
        from .._errors import ConfigError

        try:
            manager = kind.from_config(self.data, environ=_without_overrides(), clock=self.clock)
        except ConfigError as exc:
            pytest.fail(
                f"the config of {self.where}, with every connector switched to the memory "
                "vendor by the nexus_connector pytest plugin (or to the vendor of its "
                f"@pytest.mark.{VENDOR_MARKER}), is invalid:\n{exc}",
                pytrace=False,
            )
        # Built now, so that the outbox still reads them once a test has closed its manager.
        for name in self.outbox:
            self.outbox._record(name, manager.connector(name).adapter)
        return manager


def _without_overrides() -> dict[str, str]:
    """The environment for ``env:`` references of connectors kept as written (category
    api), without the ``NEXUS_CONNECTOR__...`` overrides: a test sees the file."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_CONNECTOR__")}


def _read(source: ConfigSource) -> tuple[str, dict[str, Any]]:
    if isinstance(source, Mapping):
        return "the nexus_config mapping", copy.deepcopy(dict(source))
    path = Path(source)
    try:
        return str(path), tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        pytest.fail(f"cannot read the nexus_config file {path}: {exc}", pytrace=False)


def _failures(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """The memory vendor's options for each connector a ``nexus_fail`` marker names (the
    marker closest to the test wins for its connector)."""
    failures: dict[str, dict[str, Any]] = {}
    for marker in request.node.iter_markers(MARKER):
        connector, failure, times = _marker_arguments(*marker.args, **marker.kwargs)
        failures.setdefault(connector, {"fail_first": times, "failure": failure})
    return failures


def _marker_arguments(
    connector: object, failure: object = "unavailable", times: object = None
) -> tuple[str, str, int]:
    usage = f"@pytest.mark.{MARKER}(connector, failure=..., times=...)"
    if not isinstance(connector, str):
        pytest.fail(f"{usage}: connector must be a connector's name", pytrace=False)
    if failure not in FAILURES:
        pytest.fail(
            f"{usage}: failure must be one of {', '.join(FAILURES)}; got {failure!r}",
            pytrace=False,
        )
    if times is None:
        return connector, str(failure), _ALWAYS
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= _ALWAYS:
        pytest.fail(
            f"{usage}: times must be a whole number from 1 to {_ALWAYS} (the attempts that "
            f"fail), or None for every attempt; got {times!r}",
            pytrace=False,
        )
    return connector, str(failure), times


def _vendors(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """The vendor part each ``nexus_vendor`` marker gives its connector (the marker closest
    to the test wins for its connector), a fixture's value when the marker names one."""
    vendors: dict[str, dict[str, Any]] = {}
    for marker in request.node.iter_markers(VENDOR_MARKER):
        connector, table = _vendor_arguments(*marker.args, **marker.kwargs)
        if connector in vendors:
            continue
        if isinstance(table, str):
            given, what = request.getfixturevalue(table), f"fixture {table!r}"
        else:
            given, what = table, "its table"
        vendors[connector] = _vendor_table(connector, given, what)
    return vendors


def _vendor_arguments(connector: object, table: object = None) -> tuple[str, object]:
    usage = f"@pytest.mark.{VENDOR_MARKER}(connector, table or fixture name)"
    if not isinstance(connector, str):
        pytest.fail(f"{usage}: connector must be a connector's name", pytrace=False)
    if not isinstance(table, str | Mapping):
        pytest.fail(
            f"{usage}: give the connector's vendor table (a mapping with 'vendor') or the name "
            f"of a fixture that returns one; got {table!r}",
            pytrace=False,
        )
    return connector, table


def _vendor_table(connector: str, given: object, what: str) -> dict[str, Any]:
    where = f"@pytest.mark.{VENDOR_MARKER}({connector!r}): {what}"
    if not isinstance(given, Mapping):
        pytest.fail(f"{where} must be a mapping with 'vendor'; got {given!r}", pytrace=False)
    unknown = sorted(map(str, set(given) - set(VENDOR_KEYS)))
    if unknown:
        pytest.fail(
            f"{where} gives {', '.join(map(repr, unknown))}; a vendor table has only "
            f"{', '.join(VENDOR_KEYS)} (the connector keeps its policies and middleware)",
            pytrace=False,
        )
    if not isinstance(given.get("vendor"), str) or not given["vendor"]:
        pytest.fail(f"{where} must name the vendor: {{'vendor': 'stripe', ...}}", pytrace=False)
    return copy.deepcopy(dict(given))


def _switched(
    data: dict[str, Any],
    failures: dict[str, dict[str, Any]],
    vendors: dict[str, dict[str, Any]],
    where: str,
) -> dict[str, Any]:
    """`data` with every connector on the memory vendor, but those `vendors` puts on
    another: what runs with no account, no server and no secret but the test's own,
    whatever the application's environment holds."""
    tables = data.get("connectors")
    if not isinstance(tables, dict):
        pytest.fail(f"{where} has no [connectors] table to test", pytrace=False)
    for marker, named in ((MARKER, failures), (VENDOR_MARKER, vendors)):
        unknown = sorted(set(named) - set(tables))
        if unknown:
            pytest.fail(
                f"@pytest.mark.{marker} names {', '.join(map(repr, unknown))}, which {where} "
                f"does not configure; its connectors: {', '.join(tables) or 'none'}",
                pytrace=False,
            )
    both = sorted(set(failures) & set(vendors))
    if both:
        pytest.fail(
            f"@pytest.mark.{MARKER} and @pytest.mark.{VENDOR_MARKER} both name "
            f"{', '.join(map(repr, both))}: {MARKER} fails the memory vendor; to fail "
            "another vendor, script its double",
            pytrace=False,
        )
    from .._plugins import default_registry

    registry = default_registry()
    connectors = {}
    for name, table in tables.items():
        kept = dict(table) if isinstance(table, dict) else table
        if isinstance(kept, dict) and name in vendors:
            for vendor_only in _VENDOR_ONLY:
                kept.pop(vendor_only, None)
            connectors[name] = {**kept, **vendors[name]}
            continue
        category = kept.get("category", name) if isinstance(kept, dict) else None
        if isinstance(kept, dict) and isinstance(category, str):
            if not _has_memory_vendor(registry, category):
                # Category api has no memory vendor: kept as written, for a local server.
                if name in failures:
                    pytest.fail(
                        f"@pytest.mark.{MARKER}({name!r}): {category} connectors have no "
                        "memory vendor to fail; script your local server instead",
                        pytrace=False,
                    )
                connectors[name] = kept
                continue
            for vendor_only in ("vendor", "options", "credentials", "fallback"):
                kept.pop(vendor_only, None)
            kept["vendor"] = "memory"
            if name in failures:
                kept["options"] = failures[name]
        connectors[name] = kept
    # The state backend and the log sinks are the deployment's, not the application's.
    rest = {k: v for k, v in data.items() if k not in ("connectors", "state", "observability")}
    return {**rest, "connectors": connectors, "observability": {"loggers": ["memory"]}}


def _has_memory_vendor(registry: PluginRegistry, category: str) -> bool:
    try:
        return "memory" in registry.keys(category)
    except KeyError:  # not a category at all: loading the config says so, at its key
        return True


def _run_on_own_loop(closing: Coroutine[Any, Any, None]) -> None:
    """Run `closing` to its end on a new event loop in a thread of its own: this thread's
    loop (pytest-asyncio's, anyio's) may be running, closed, or about to be."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(closing)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="nexus_amanager close")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
