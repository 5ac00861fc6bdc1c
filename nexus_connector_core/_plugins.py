"""Plugin discovery and the registry of everything plugins offer.

Plugins come from two places: the entry-point group ``nexus_connector`` (installed
distributions) and `PluginRegistry.register` (in-process, for tests and applications). Each
plugin is loaded and asked for its registrations in isolation: a plugin that fails to import,
implements an unknown hook, raises in a hook or registers something malformed is recorded in
`PluginRegistry.failures` and the others work. Two plugins offering the same key of the same
kind make that key unusable until one is removed; the error names both.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec
import pluggy

from . import hookspecs
from ._api import API
from ._categories import CATEGORY_KEYS
from ._errors import PluginError, VendorNotFoundError
from ._registration import KNOWN_PROVIDERS, Registration, kind_noun

__all__ = [
    "KINDS",
    "PluginFailure",
    "PluginInfo",
    "PluginRegistry",
    "Registration",
    "default_registry",
]

#: The kinds of things plugins register, by hook name.
HOOK_KINDS: Final[Mapping[str, str]] = {
    **{f"register_{c}_vendors": c for c in CATEGORY_KEYS},
    "register_api_vendors": API,
    "register_state_backends": "state_backend",
    "register_credential_providers": "credential_provider",
    "register_webhook_verifiers": "webhook_verifier",
    "register_middleware": "middleware",
    "register_alert_sinks": "alert_sink",
}
#: Every kind: the five category keys, ``api``, then the kinds of shared infrastructure.
KINDS: Final[tuple[str, ...]] = tuple(HOOK_KINDS.values())

BUILTIN_PLUGIN: Final = "builtin"
CORE_DISTRIBUTION: Final = "nexus-connector-core"
_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")


class PluginInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One loaded plugin: where it came from and what it provides, by kind.

    `descriptions` holds, by kind and key, the ``description`` each registration was given
    (keys registered without one are not in it).
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    provides: dict[str, list[str]] = {}
    descriptions: dict[str, dict[str, str]] = {}


class PluginFailure(msgspec.Struct, frozen=True, kw_only=True):
    """A plugin, or one registration of it, that could not be used, and why."""

    plugin: str
    distribution: str | None = None
    error: str


class _Plugin:
    __slots__ = ("distribution", "module", "name", "version")

    def __init__(
        self, name: str, module: object, distribution: str | None, version: str | None
    ) -> None:
        self.name = name
        self.module = module
        self.distribution = distribution
        self.version = version


class _Table:
    """What the registered plugins offer, collected once."""

    __slots__ = ("conflicts", "entries", "failures", "provides")

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Registration]] = {kind: {} for kind in KINDS}
        self.conflicts: dict[tuple[str, str], list[Registration]] = {}
        self.failures: list[PluginFailure] = []
        self.provides: dict[str, dict[str, list[str]]] = {}


class PluginRegistry:
    """The plugins of one application, and what they offer.

    >>> registry = PluginRegistry()              # the built-in plugin only
    >>> registry.register(my_test_plugin)        # doctest: +SKIP
    >>> registry.load_entry_points()             # installed plugins  # doctest: +SKIP

    `default_registry()` is the process-wide one with every installed plugin.
    """

    def __init__(self, *, builtins: bool = True) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, _Plugin] = {}
        self._load_failures: list[PluginFailure] = []
        self._table: _Table | None = None
        self._lock = threading.RLock()
        if builtins:
            from . import _builtin

            self.register(
                _builtin, name=BUILTIN_PLUGIN, distribution=CORE_DISTRIBUTION, version=_version()
            )

    # -- adding plugins --------------------------------------------------------------------

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> str:
        """Add a plugin (a module or any object with ``@hookimpl`` methods); returns its name.

        A plugin that implements a hook this version does not know is refused with a
        `PluginError`, since it is almost always a typo.
        """
        with self._lock:
            name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin):x}"
            if name in self._plugins:
                raise PluginError(f"a plugin named {name!r} is already registered", plugin=name)
            try:
                self._pm.register(plugin, name=name)
            except pluggy.PluginValidationError as exc:
                raise PluginError(f"plugin {name!r} is invalid: {exc}", plugin=name) from exc
            unknown = sorted(
                caller.name
                for caller in self._pm.get_hookcallers(plugin) or ()
                if not caller.has_spec()
            )
            if unknown:
                self._pm.unregister(plugin)
                hints = [
                    f"{u} (did you mean {m[0]}?)"
                    if (m := difflib.get_close_matches(u, HOOK_KINDS, 1))
                    else u
                    for u in unknown
                ]
                raise PluginError(
                    f"plugin {name!r} implements unknown hooks: {', '.join(hints)}",
                    plugin=name,
                    distribution=distribution,
                )
            self._plugins[name] = _Plugin(name, plugin, distribution, version)
            self._table = None
            return name

    def unregister(self, name: str) -> None:
        """Remove a plugin registered under `name`."""
        with self._lock:
            entry = self._plugins.pop(name)
            self._pm.unregister(entry.module)
            self._table = None

    def load_entry_points(self, environ: Mapping[str, str] | None = None) -> None:
        """Load the installed plugins of the entry-point group ``nexus_connector``.

        ``NEXUS_CONNECTOR_PLUGINS=a,b`` (entry-point or distribution names) loads only those;
        set but empty, it loads none. The built-in plugin is always present. What is
        installed is read from a cache while no installation has changed (see
        `nexus_connector_core._entry_points`; ``NEXUS_CONNECTOR_CACHE_DIR=`` turns it off).
        """
        from ._entry_points import installed_entry_points

        env = os.environ if environ is None else environ
        wanted: set[str] | None = None
        if "NEXUS_CONNECTOR_PLUGINS" in env:
            wanted = {n.strip() for n in env["NEXUS_CONNECTOR_PLUGINS"].split(",") if n.strip()}
        seen: set[str] = set()
        for ep in installed_entry_points(hookspecs.PROJECT_NAME):
            dist, version = ep.distribution, ep.version
            if wanted is not None:
                matched = wanted & {ep.name, dist or ""}
                if not matched:
                    continue
                seen |= matched
            if ep.name in self._plugins:
                continue
            try:
                module = ep.load()
                self.register(module, name=ep.name, distribution=dist, version=version)
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the rest
                error = (
                    exc.message if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
                )
                self._record_failure(PluginFailure(plugin=ep.name, distribution=dist, error=error))
        for missing in sorted((wanted or set()) - seen):
            self._record_failure(
                PluginFailure(
                    plugin=missing,
                    error="named in NEXUS_CONNECTOR_PLUGINS but no installed plugin has that "
                    "entry-point or distribution name",
                )
            )

    def _record_failure(self, failure: PluginFailure) -> None:
        with self._lock:
            self._load_failures.append(failure)
            self._table = None

    # -- what they offer -------------------------------------------------------------------

    def _collect(self) -> _Table:
        table = self._table
        if table is not None:
            return table
        with self._lock:
            if self._table is not None:
                return self._table
            table = _Table()
            table.failures.extend(self._load_failures)
            for hook_name, kind in HOOK_KINDS.items():
                caller = getattr(self._pm.hook, hook_name)
                for impl in caller.get_hookimpls():
                    self._call_hook(table, kind, impl)
            self._table = table
            return table

    def _call_hook(self, table: _Table, kind: str, impl: pluggy.HookImpl) -> None:
        plugin = self._plugins[impl.plugin_name]
        provided = table.provides.setdefault(plugin.name, {})

        def register(
            key: str,
            impl_: str | Any,
            *,
            async_impl: str | Any | None = None,
            options: str | type[Any] | None = None,
            credentials: Sequence[str] = (),
            idempotency_keys: bool = False,
            description: str = "",
        ) -> None:
            problem = _check_registration(key, impl_, async_impl, options, credentials)
            if problem:
                # Recorded, not raised: the plugin's other registrations stay usable.
                table.failures.append(
                    PluginFailure(
                        plugin=plugin.name,
                        distribution=plugin.distribution,
                        error=f"{kind_noun(kind)} {key!r}: {problem}",
                    )
                )
                return
            reg = Registration(
                kind,
                key,
                impl_,
                plugin=plugin.name,
                distribution=plugin.distribution,
                version=plugin.version,
                async_impl=async_impl,
                options=options,
                credentials=credentials,
                idempotency_keys=idempotency_keys,
                description=description,
            )
            entries = table.entries[kind]
            if (kind, key) in table.conflicts:
                table.conflicts[(kind, key)].append(reg)
            elif key in entries:
                table.conflicts[(kind, key)] = [entries.pop(key), reg]
            else:
                entries[key] = reg
            provided.setdefault(kind, []).append(key)

        try:
            impl.function(register=register)
        except Exception as exc:  # noqa: BLE001 - a failing hook is recorded, the rest go on
            error = exc.message if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            table.failures.append(
                PluginFailure(
                    plugin=plugin.name,
                    distribution=plugin.distribution,
                    error=f"{impl.function.__name__}: {error}",
                )
            )

    def keys(self, kind: str) -> list[str]:
        """The usable keys of one kind (without conflicting ones), sorted."""
        return sorted(self._collect().entries[kind])

    def find(self, kind: str, key: str, *, path: str | None = None) -> Registration:
        """The registration of `key`, or an error that lists what is installed and how to get it."""
        table = self._collect()
        found = table.entries[kind].get(key)
        if found is not None:
            return found
        rivals = table.conflicts.get((kind, key))
        if rivals:
            who = " and ".join(
                f"plugin {r.plugin!r} ({r.distribution or 'in-process'})" for r in rivals
            )
            raise PluginError(
                f"{kind_noun(kind)} {key!r} is offered by both {who}; uninstall one, or load "
                "only one with NEXUS_CONNECTOR_PLUGINS"
            )
        installed = tuple(sorted(table.entries[kind]))
        message = f"unknown {kind_noun(kind)} {key!r}. Installed: {', '.join(installed) or 'none'}."
        close = difflib.get_close_matches(key, installed, 1)
        if close:
            message += f" Did you mean {close[0]!r}?"
        provider = KNOWN_PROVIDERS.get((kind, key))
        if provider:
            message += (
                f" {key!r} is provided by the distribution {provider}: pip install {provider}"
            )
        broken = [f for f in table.failures if key in f.plugin]
        if broken:
            message += f" (plugin {broken[0].plugin!r} failed to load: {broken[0].error})"
        if kind in CATEGORY_KEYS or kind == API:
            raise VendorNotFoundError(
                message, category=kind, vendor=key, installed=installed, path=path
            )
        raise PluginError(message)

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin with what it provides, the built-in one first."""
        table = self._collect()
        described: dict[str, dict[str, dict[str, str]]] = {}
        registrations = [
            *(r for entries in table.entries.values() for r in entries.values()),
            *(r for rivals in table.conflicts.values() for r in rivals),
        ]
        for reg in registrations:
            if reg.description:
                described.setdefault(reg.plugin, {}).setdefault(reg.kind, {})[reg.key] = (
                    reg.description
                )
        return [
            PluginInfo(
                name=p.name,
                distribution=p.distribution,
                version=p.version,
                provides=table.provides.get(p.name, {}),
                descriptions=described.get(p.name, {}),
            )
            for p in self._plugins.values()
        ]

    @property
    def failures(self) -> list[PluginFailure]:
        """Plugins and registrations that could not be used, with the reason."""
        table = self._collect()
        conflicts = [
            PluginFailure(
                plugin=", ".join(r.plugin for r in regs),
                error=f"{kind_noun(kind)} {key!r} is offered by more than one plugin: "
                + ", ".join(f"{r.plugin} ({r.distribution or 'in-process'})" for r in regs),
            )
            for (kind, key), regs in table.conflicts.items()
        ]
        return [*table.failures, *conflicts]


def _check_registration(
    key: object, impl: object, async_impl: object, options: object, credentials: Sequence[object]
) -> str | None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        return "a key must be lowercase letters, digits, '-' or '_', starting with a letter"
    for what, value in (("implementation", impl), ("async implementation", async_impl)):
        if value is None and what == "implementation":
            return "no implementation given"
        if isinstance(value, str) and not re.fullmatch(r"[\w.]+:[\w.]+", value):
            return f"{what} {value!r} must be 'module:attribute'"
    if isinstance(options, str) and not re.fullmatch(r"[\w.]+:[\w.]+", options):
        return f"options {options!r} must be 'module:attribute'"
    if isinstance(credentials, str) or not all(isinstance(c, str) for c in credentials):
        return "credentials must be a sequence of names"
    return None


def _version() -> str | None:
    from ._version import __version__

    return __version__


class _ProcessRegistry:
    """Holds the process-wide registry: the one mutable global the design allows."""

    def __init__(self) -> None:
        self._registry: PluginRegistry | None = None
        self._lock = threading.Lock()

    def get(self) -> PluginRegistry:
        if self._registry is None:
            with self._lock:
                if self._registry is None:
                    registry = PluginRegistry()
                    registry.load_entry_points()
                    self._registry = registry
        return self._registry


_PROCESS = _ProcessRegistry()


def default_registry() -> PluginRegistry:
    """The process-wide registry: the built-in plugin and every installed one (loaded once)."""
    return _PROCESS.get()
