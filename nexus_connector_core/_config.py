"""Reading ``connectors.toml`` into checked, resolved settings.

A config comes from a TOML file (or a mapping), then environment variables
``NEXUS_CONNECTOR__SECTION__KEY=value`` override any value (the value is read as a TOML value
when it is one, ``5``, ``true``, ``["a", "b"]``, else as a string). Every problem is reported
with the dotted key path from the file's root, all problems at once, and nothing is used
unless everything is valid.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import msgspec

from ._adapters import AdapterSettings
from ._categories import CATEGORIES, CATEGORY_KEYS
from ._clock import Clock
from ._credentials import CredentialProvider, Secret, resolve_reference
from ._errors import ConfigError, ConnectorError, VendorNotFoundError
from ._plugins import PluginRegistry, Registration, default_registry

__all__ = [
    "EMBEDDED_DEFAULTS",
    "Config",
    "ConfigSource",
    "ConnectorConfig",
    "ConnectorSettings",
    "CredentialProviderSettings",
    "ObservabilityConfig",
    "StateSettings",
    "find_config_file",
    "load_config",
]

ENV_PREFIX = "NEXUS_CONNECTOR__"
CONFIG_ENV = "NEXUS_CONNECTOR_CONFIG"
DEFAULT_FILE = "connectors.toml"

#: A config path, or the decoded config itself.
ConfigSource: TypeAlias = str | os.PathLike[str] | Mapping[str, Any]

_TOP_LEVEL = ("connectors", "observability", "state")

#: The embedded defaults: one connector per category, each served by its ``memory`` vendor.
#: ``ConnectorManager.from_config(EMBEDDED_DEFAULTS)`` needs no account and no server.
EMBEDDED_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"connectors": {category: {"vendor": "memory"} for category in CATEGORY_KEYS}}
)
_CONNECTOR_NAME = re.compile(r"[a-z](?:[a-z0-9]|_(?!_))*")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


# -- the file's shape ---------------------------------------------------------------------


class ConnectorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One ``[connectors.<name>]`` table as written."""

    #: The vendor key that serves this connector (``memory``, ``smtp``, ``stripe``...).
    vendor: str
    #: The category; defaults to the connector's name.
    category: str | None = None
    #: Vendor-specific options, checked against the options type the vendor registered.
    options: dict[str, Any] = {}
    #: Credential name -> secret reference (``env:NAME``, ``file:PATH``, ``provider:name``).
    credentials: dict[str, str] = {}
    #: Keys of registered middleware to add to this connector's pipeline, outermost first.
    middleware: list[str] = []


class ObservabilityConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[observability]`` table."""

    #: Where integration-log records go: ``logging`` (stdlib, JSON, logger
    #: ``nexus_connector.calls``) and/or ``memory`` (a ring of recent records).
    loggers: tuple[Literal["logging", "memory"], ...] = ("logging", "memory")
    #: How many records the ``memory`` logger keeps.
    ring_size: int = 1000

    def __post_init__(self) -> None:
        if self.ring_size < 1:
            raise ValueError(f"must be at least 1, got {self.ring_size}")


# -- what the manager uses ----------------------------------------------------------------


class CredentialProviderSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What a credential provider factory receives."""

    environ: Mapping[str, str]
    config_dir: Path | None = None


class ConnectorSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A connector, checked and resolved: its vendor's registration, options and secrets."""

    name: str
    category: str
    vendor: Registration
    options: Any = None
    credentials: Mapping[str, Secret] = {}
    middleware: tuple[Registration, ...] = ()

    def adapter_settings(self, clock: Clock) -> AdapterSettings:
        """What the vendor adapter's constructor receives."""
        return AdapterSettings(
            connector=self.name,
            category=self.category,
            vendor=self.vendor.key,
            options=self.options,
            credentials=self.credentials,
            clock=clock,
        )


class StateSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The state backend, resolved."""

    backend: Registration
    options: Any = None


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """A whole configuration, checked and resolved; build a manager from it."""

    connectors: Mapping[str, ConnectorSettings]
    state: StateSettings | None
    observability: ObservabilityConfig
    source: str
    registry: PluginRegistry


# -- reading ------------------------------------------------------------------------------


def find_config_file(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The config file to use: ``$NEXUS_CONNECTOR_CONFIG``, else ``./connectors.toml``."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    candidate = (cwd or Path.cwd()) / DEFAULT_FILE
    if candidate.is_file():
        return candidate
    raise ConfigError(
        f"no configuration found: pass a path (--config PATH), set {CONFIG_ENV}, or create "
        f"{DEFAULT_FILE} in {candidate.parent}. `nexus-connector demo` runs without one."
    )


def _read(
    source: ConfigSource | None, env: Mapping[str, str]
) -> tuple[dict[str, Any], str, Path | None]:
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source)), "<mapping>", None
    path = Path(source) if source is not None else find_config_file(env)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the config file: {reason}", source=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(path)) from None
    return data, str(path), path.resolve().parent


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_overrides(
    data: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[tuple[str, ...], str], list[ConfigError]]:
    applied: dict[tuple[str, ...], str] = {}
    problems: list[ConfigError] = []
    for var in sorted(k for k in env if k.startswith(ENV_PREFIX)):
        parts = tuple(p.lower() for p in var[len(ENV_PREFIX) :].split("__"))
        if not all(parts):
            problems.append(ConfigError(f"environment variable {var} has an empty key part"))
            continue
        table = data
        for depth, part in enumerate(parts[:-1]):
            node = table.setdefault(part, {})
            if not isinstance(node, dict):
                where = _dotted(parts[: depth + 1])
                problems.append(
                    ConfigError(
                        f"{var} sets a key inside {where}, which is not a table", path=where
                    )
                )
                break
            table = node
        else:
            value = env[var]
            # A secret is a string whatever it looks like: "123456" stays "123456".
            table[parts[-1]] = value if "credentials" in parts[:-1] else _env_value(value)
            applied[parts] = var
    return applied, problems


def _dotted(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f'."{part}"' if out else f'"{part}"'
    return out


class _Problems:
    """Collects config problems with their paths, naming the env var that set a value."""

    def __init__(self, source: str, overrides: dict[tuple[str, ...], str]) -> None:
        self.source = source
        self.overrides = overrides
        self.items: list[ConfigError] = []

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        var = self._override_for(path)
        if var:
            message += f" (set by environment variable {var})"
        self.items.append(ConfigError(message, path=_dotted(path) or None, source=self.source))

    def add_vendor_not_found(self, path: tuple[str | int, ...], error: VendorNotFoundError) -> None:
        """Keep the specific class, so callers can catch `VendorNotFoundError`."""
        var = self._override_for(path)
        self.items.append(
            VendorNotFoundError(
                error.detail + (f" (set by environment variable {var})" if var else ""),
                category=error.category,
                vendor=error.requested,
                installed=error.installed,
                path=_dotted(path),
                source=self.source,
            )
        )

    def _override_for(self, path: tuple[str | int, ...]) -> str | None:
        for length in range(len(path), 0, -1):
            var = self.overrides.get(tuple(str(p) for p in path[:length]))
            if var:
                return var
        return None

    def convert(self, value: Any, type_: type[Any], path: tuple[str | int, ...]) -> Any:
        """msgspec.convert with msgspec's ``$.a[0]`` paths turned into ours."""
        try:
            return msgspec.convert(value, type_, str_keys=True)
        except msgspec.ValidationError as exc:
            message, at = _split_msgspec_error(str(exc))
            where = path + at
            unknown = re.fullmatch(r"Object contains unknown field `(.+)`", message)
            if unknown:
                key = unknown.group(1)
                allowed = _fields_at(type_, at)
                hint = difflib.get_close_matches(key, allowed, 1)
                message = f"unknown key {key!r}; expected one of: {', '.join(allowed)}"
                if hint:
                    message += f" (did you mean {hint[0]!r}?)"
                self.add((*where, key), message)
                return None
            missing = re.fullmatch(r"Object missing required field `(.+)`", message)
            if missing:
                self.add((*where, missing.group(1)), "missing required key")
                return None
            message = message.replace("Expected `object`", "expected a table").replace(
                "Expected `array`", "expected an array"
            )
            self.add(where, message[:1].lower() + message[1:])
            return None

    def error(self) -> ConfigError | None:
        if not self.items:
            return None
        if len(self.items) == 1:
            return self.items[0]
        lines = "\n".join(
            f"  - {p.path}: {p.detail}" if p.path else f"  - {p.detail}" for p in self.items
        )
        error = ConfigError(f"{len(self.items)} problems:\n{lines}", source=self.source)
        error.problems = list(self.items)
        return error


def _split_msgspec_error(text: str) -> tuple[str, tuple[str | int, ...]]:
    match = re.fullmatch(r"(.*) - at `\$(.*)`", text, re.DOTALL)
    if match is None:
        return text, ()
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]", match.group(2)):
        if name:
            parts.append(name)
        elif index != "...":
            parts.append(int(index))
    return match.group(1), tuple(parts)


def _fields_at(type_: Any, path: tuple[str | int, ...]) -> list[str]:
    for part in path:
        if not isinstance(part, str):
            continue
        info = msgspec.inspect.type_info(type_)
        if isinstance(info, msgspec.inspect.StructType):
            match = [f for f in info.fields if f.encode_name == part]
            if match:
                type_ = _struct_of(match[0].type)
    info = msgspec.inspect.type_info(type_)
    if isinstance(info, msgspec.inspect.StructType):
        return sorted(f.encode_name for f in info.fields)
    return []


def _struct_of(info: Any) -> Any:
    if isinstance(info, msgspec.inspect.StructType):
        return info.cls
    if isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            if isinstance(member, msgspec.inspect.StructType):
                return member.cls
    return None


# -- resolving ----------------------------------------------------------------------------


def load_config(
    source: ConfigSource | None = None,
    *,
    registry: PluginRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, override from the environment, check and resolve a configuration.

    Raises `ConfigError` listing every problem with its key path; nothing is half-applied.
    """
    env = os.environ if environ is None else environ
    registry = registry or default_registry()
    data, source_name, config_dir = _read(source, env)
    overrides, override_problems = _apply_overrides(data, env)
    problems = _Problems(source_name, overrides)
    problems.items.extend(override_problems)

    for key in data:
        if key not in _TOP_LEVEL:
            hint = difflib.get_close_matches(key, _TOP_LEVEL, 1)
            problems.add(
                (key,),
                f"unknown top-level key; expected one of: {', '.join(_TOP_LEVEL)}"
                + (f" (did you mean {hint[0]!r}?)" if hint else ""),
            )

    provider_settings = CredentialProviderSettings(environ=env, config_dir=config_dir)
    providers = _ProviderLookup(registry, provider_settings)
    connectors = {}
    tables = data.get("connectors", {})
    if not isinstance(tables, dict):
        problems.add(("connectors",), "expected a table of connectors ([connectors.<name>])")
        tables = {}
    for name, table in tables.items():
        settings = _connector(
            name=name,
            table=table,
            registry=registry,
            providers=providers,
            problems=problems,
        )
        if settings is not None:
            connectors[name] = settings

    state = _state(data["state"], registry, problems) if "state" in data else None
    observability = problems.convert(
        data.get("observability", {}), ObservabilityConfig, ("observability",)
    )
    error = problems.error()
    if error is not None or observability is None:
        raise error or ConfigError("invalid observability table")
    return Config(
        connectors=connectors,
        state=state,
        observability=observability,
        source=source_name,
        registry=registry,
    )


class _ProviderLookup:
    """Credential providers by reference prefix, built on first use."""

    def __init__(self, registry: PluginRegistry, settings: CredentialProviderSettings) -> None:
        self._registry = registry
        self._settings = settings
        self._built: dict[str, CredentialProvider | None] = {}

    def __call__(self, key: str) -> CredentialProvider | None:
        if key not in self._built:
            if key not in self._registry.keys("credential_provider"):
                self._built[key] = None
            else:
                factory = self._registry.find("credential_provider", key).load()
                self._built[key] = factory(self._settings)
        return self._built[key]


def _connector(
    *,
    name: str,
    table: Any,
    registry: PluginRegistry,
    providers: Callable[[str], CredentialProvider | None],
    problems: _Problems,
) -> ConnectorSettings | None:
    path: tuple[str | int, ...] = ("connectors", name)
    if not _CONNECTOR_NAME.fullmatch(name):
        problems.add(
            path,
            "a connector name must be lowercase letters, digits and single '_', starting "
            f"with a letter (it becomes part of {ENV_PREFIX}CONNECTORS__<NAME>__... variables)",
        )
        return None
    raw = problems.convert(table, ConnectorConfig, path)
    if raw is None:
        return None
    category = raw.category or name
    if category not in CATEGORIES:
        if raw.category is None:
            problems.add(
                path,
                f"{name!r} is not a category, so say which one it is: category = one of "
                f"{', '.join(CATEGORY_KEYS)}",
            )
        else:
            problems.add(
                (*path, "category"),
                f"unknown category {category!r}; expected one of: {', '.join(CATEGORY_KEYS)}",
            )
        return None

    ok = True
    try:
        vendor = registry.find(category, raw.vendor)
    except VendorNotFoundError as exc:
        problems.add_vendor_not_found((*path, "vendor"), exc)
        return None
    except ConnectorError as exc:
        problems.add((*path, "vendor"), exc.message)
        return None
    try:
        options_type = vendor.options_type()
    except ConnectorError as exc:
        problems.add((*path, "options"), exc.message)
        return None
    options: Any = raw.options
    if options_type is not None:
        options = problems.convert(raw.options, options_type, (*path, "options"))
        ok = ok and options is not None
    elif raw.options:
        problems.add((*path, "options"), f"vendor {raw.vendor!r} takes no options")
        ok = False

    credentials: dict[str, Secret] = {}
    for needed in vendor.credentials:
        if needed not in raw.credentials:
            problems.add(
                (*path, "credentials", needed),
                f"vendor {raw.vendor!r} needs credential {needed!r}; set it to a reference "
                f'such as "env:{name.upper()}_{needed.upper()}"',
            )
            ok = False
    for cred_name, reference in raw.credentials.items():
        where = (*path, "credentials", cred_name)
        try:
            credentials[cred_name] = resolve_reference(reference, providers)
        except ConnectorError as exc:
            problems.add(where, exc.message)
            ok = False

    middleware = []
    for index, key in enumerate(raw.middleware):
        try:
            middleware.append(registry.find("middleware", key))
        except ConnectorError as exc:
            problems.add((*path, "middleware", index), exc.message)
            ok = False
    if not ok:
        return None
    return ConnectorSettings(
        name=name,
        category=category,
        vendor=vendor,
        options=options,
        credentials=credentials,
        middleware=tuple(middleware),
    )


def _state(table: Any, registry: PluginRegistry, problems: _Problems) -> StateSettings | None:
    if not isinstance(table, dict):
        problems.add(("state",), "expected a table")
        return None
    rest = dict(table)
    key = rest.pop("backend", "memory")
    if not isinstance(key, str):
        problems.add(("state", "backend"), f"expected a string, got {type(key).__name__}")
        return None
    try:
        backend = registry.find("state_backend", key)
        options_type = backend.options_type()
    except ConnectorError as exc:
        problems.add(("state", "backend"), exc.message)
        return None
    if options_type is None:
        if rest:
            problems.add(("state", next(iter(rest))), f"state backend {key!r} takes no options")
            return None
        return StateSettings(backend=backend)
    options = problems.convert(rest, options_type, ("state",))
    return None if options is None else StateSettings(backend=backend, options=options)
