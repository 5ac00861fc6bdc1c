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
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeAlias

import msgspec

from ._alerting_config import AlertingSettings, resolve_alerting
from ._categories import CATEGORY_KEYS
from ._config_problems import Problems, dotted
from ._config_ranges import between, check_ranges
from ._connector_settings import ConnectorConfig, ConnectorSettings, resolve_connector
from ._credentials import CredentialProvider, CredentialProviderSettings, Secret, resolve_reference
from ._errors import ConfigError, ConnectorError
from ._logging import library_logger
from ._plugins import PluginRegistry, default_registry
from ._registration import Registration
from ._sql_log_config import SqlLogConfig

__all__ = [
    "EMBEDDED_DEFAULTS",
    "Config",
    "ConfigSource",
    "ConnectorConfig",
    "ConnectorSettings",
    "ObservabilityConfig",
    "StateSettings",
    "find_config_file",
    "load_config",
]

ENV_PREFIX = "NEXUS_CONNECTOR__"
CONFIG_ENV = "NEXUS_CONNECTOR_CONFIG"
DEFAULT_FILE = "connectors.toml"

logger = library_logger("nexus_connector.config")

#: A config path, or the decoded config itself.
ConfigSource: TypeAlias = str | os.PathLike[str] | Mapping[str, Any]

_TOP_LEVEL = ("connectors", "observability", "state", "alerting", "alerts")

#: The embedded defaults: one connector per category, each served by its ``memory`` vendor.
#: ``ConnectorManager.from_config(EMBEDDED_DEFAULTS)`` needs no account and no server.
EMBEDDED_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"connectors": {category: {"vendor": "memory"} for category in CATEGORY_KEYS}}
)


# -- the file's shape ---------------------------------------------------------------------


class ObservabilityConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[observability]`` table."""

    #: Where integration-log records go: ``logging`` (stdlib, JSON, logger
    #: ``nexus_connector.calls``), ``memory`` (a ring of recent records) and/or ``sql``
    #: (a SQLite or PostgreSQL table, written in the background: ``[observability.sql]``).
    loggers: tuple[Literal["logging", "memory", "sql"], ...] = ("logging",)
    #: How many records the ``memory`` logger keeps.
    ring_size: Annotated[int, between(1, 1_000_000)] = 1000
    #: The ``sql`` logger's database (its defaults when ``sql`` is listed without a table).
    sql: SqlLogConfig | None = None

    def __post_init__(self) -> None:
        check_ranges(self)


# -- what the manager uses ----------------------------------------------------------------


class StateSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The ``[state]`` table, resolved: the backend and what to do when it is unreachable.

    ``backend`` picks the backend (``memory`` by default); ``fail_mode = "open"`` lets calls
    through when it cannot be reached (logged), ``"closed"`` fails them with
    `StateBackendUnavailableError`; ``prefix`` starts every key. Other keys are the
    backend's own options (``url`` for Redis).
    """

    backend: Registration
    options: Any = None
    fail_mode: Literal["open", "closed"] = "open"
    prefix: str = "nexus"


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """A whole configuration, checked and resolved; build a manager from it."""

    connectors: Mapping[str, ConnectorSettings]
    state: StateSettings
    observability: ObservabilityConfig
    source: str
    registry: PluginRegistry
    #: SLOs, alert rules and their sinks (``[alerting]``, ``[alerts.<name>]``).
    alerting: AlertingSettings = AlertingSettings()


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
    """One TOML value (``5``, ``true``, ``["a"]``, ``{ x = 1 }``), else the string itself.

    A value with a line break is a string whatever it holds: parsed, ``"5\nvendor = 'x'"``
    would be ``5`` plus a key nobody meant to set.
    """
    if "\n" in raw or "\r" in raw:
        return raw
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return raw
    return parsed["v"] if list(parsed) == ["v"] else raw


def _leave_options_with_their_vendor(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """A connector whose vendor a variable changes (``..._EMAIL__VENDOR=memory`` over the
    file's ``vendor = "smtp"``) keeps none of the file's ``options`` and ``credentials``:
    they are the file's vendor's, which the new one would refuse (``options.host``) or could
    not resolve. Switching vendor takes one variable; each key left out is named in a
    warning (never a value). Options and credentials set by variables still apply."""
    tables = data.get("connectors")
    if not isinstance(tables, dict):
        return
    for var in sorted(k for k in env if k.startswith(ENV_PREFIX)):
        parts = tuple(p.lower() for p in var[len(ENV_PREFIX) :].split("__"))
        if len(parts) != 3 or parts[0] != "connectors" or parts[2] != "vendor":
            continue
        table = tables.get(parts[1])
        if not isinstance(table, dict) or table.get("vendor", env[var]) == _env_value(env[var]):
            continue  # the file names no other vendor: its options are the new vendor's
        left: list[str] = []
        for key in ("options", "credentials"):
            value = table.pop(key, None)
            if isinstance(value, dict):
                left += [f"{key}.{name}" for name in value]
            elif value is not None:
                left.append(key)
        if left:
            logger.warning(
                "%s switches connector %r from vendor %r to %r: the file's %s of %r are not "
                "used (set the new vendor's options and credentials with %sCONNECTORS__%s__"
                "OPTIONS__... and __CREDENTIALS__... variables)",
                var,
                parts[1],
                table.get("vendor"),
                _env_value(env[var]),
                ", ".join(left),
                table.get("vendor"),
                ENV_PREFIX,
                parts[1].upper(),
            )


def _apply_overrides(
    data: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[tuple[str, ...], str], list[ConfigError]]:
    applied: dict[tuple[str, ...], str] = {}
    problems: list[ConfigError] = []
    _leave_options_with_their_vendor(data, env)
    for var in sorted(k for k in env if k.startswith(ENV_PREFIX)):
        parts = tuple(p.lower() for p in var[len(ENV_PREFIX) :].split("__"))
        if not all(parts):
            problems.append(ConfigError(f"environment variable {var} has an empty key part"))
            continue
        table = data
        for depth, part in enumerate(parts[:-1]):
            node = table.setdefault(part, {})
            if not isinstance(node, dict):
                where = dotted(parts[: depth + 1])
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
    problems = Problems(source_name, overrides)
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
        settings = resolve_connector(
            name, table, registry=registry, providers=providers, problems=problems
        )
        if settings is not None:
            connectors[name] = settings

    alerting = resolve_alerting(
        data.get("alerting", {}),
        data.get("alerts", {}),
        connectors,
        registry=registry,
        problems=problems,
        resolve_secrets=lambda table, kind, path: _resolve_secret_options(
            table, kind, providers, problems, path
        ),
    )
    state = _state(data.get("state", {}), registry, problems, providers)
    observability = _observability(data.get("observability", {}), problems, providers, config_dir)
    error = problems.error()
    if error is not None or observability is None or state is None or alerting is None:
        raise error or ConfigError("invalid configuration")
    return Config(
        connectors=connectors,
        state=state,
        observability=observability,
        source=source_name,
        registry=registry,
        alerting=alerting,
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


def _state(
    table: Any, registry: PluginRegistry, problems: Problems, providers: _ProviderLookup
) -> StateSettings | None:
    if not isinstance(table, dict):
        problems.add(("state",), "expected a table")
        return None
    rest = dict(table)
    key = rest.pop("backend", "memory")
    fail_mode = rest.pop("fail_mode", "open")
    prefix = rest.pop("prefix", "nexus")
    ok = True
    if fail_mode not in ("open", "closed"):
        problems.add(
            ("state", "fail_mode"), f"expected one of: 'open', 'closed'; got {_shown(fail_mode)}"
        )
        ok = False
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        problems.add(
            ("state", "prefix"),
            "expected 1 to 64 letters, digits or any of . _ - : / (it starts every key in "
            f"the state backend), got {_shown(prefix)}",
        )
        ok = False
    if not isinstance(key, str):
        problems.add(("state", "backend"), f"expected a string, got {type(key).__name__}")
        return None
    try:
        backend = registry.find("state_backend", key)
        options_type = backend.options_type()
    except ConnectorError as exc:
        problems.add(("state", "backend"), exc.message)
        return None
    options: Any = None
    if options_type is None:
        for name in rest:
            problems.add(("state", name), f"state backend {key!r} takes no options")
            ok = False
    else:
        secrets_resolved = _resolve_secret_options(rest, options_type, providers, problems)
        options = problems.convert(rest, options_type, ("state",))
        ok = ok and secrets_resolved and options is not None
    if not ok:
        return None
    return StateSettings(backend=backend, options=options, fail_mode=fail_mode, prefix=prefix)


def _observability(
    table: Any, problems: Problems, providers: _ProviderLookup, config_dir: Path | None
) -> ObservabilityConfig | None:
    """The ``[observability]`` table: the SQL sink's password resolved like a credential,
    a relative SQLite path made absolute against the config file's folder."""
    sql = table.get("sql") if isinstance(table, dict) else None
    if isinstance(sql, dict):
        path = ("observability", "sql")
        _resolve_secret_options(sql, SqlLogConfig, providers, problems, path)
    observability: ObservabilityConfig | None = problems.convert(
        table, ObservabilityConfig, ("observability",)
    )
    if observability is None:
        return None
    if observability.sql is None and "sql" in observability.loggers:
        observability = msgspec.structs.replace(observability, sql=SqlLogConfig())
    if observability.sql is not None:
        folder = config_dir or Path.cwd()
        observability = msgspec.structs.replace(
            observability, sql=observability.sql.resolved(folder)
        )
    return observability


def _resolve_secret_options(
    table: dict[str, Any],
    options_type: Any,
    providers: _ProviderLookup,
    problems: Problems,
    path: tuple[str, ...] = ("state",),
) -> bool:
    """Resolve the backend's secret options (its fields typed `Secret`, such as Redis's
    ``password``) like a connector's credentials: ``env:NAME``, ``file:PATH``, a provider's
    reference or a literal. False (and the key left out) when one does not resolve."""
    info = msgspec.inspect.type_info(options_type)
    if not isinstance(info, msgspec.inspect.StructType):
        return True
    resolved = True
    for field in info.fields:
        value = table.get(field.encode_name)
        if value is None or not _holds_secret(field.type):
            continue
        try:
            if not isinstance(value, str):
                raise ConfigError("expected a secret reference such as env:NAME or file:PATH")
            table[field.encode_name] = resolve_reference(value, providers)
        except ConnectorError as exc:
            problems.add((*path, field.encode_name), exc.message)
            del table[field.encode_name]
            resolved = False
    return resolved


def _holds_secret(info: msgspec.inspect.Type) -> bool:
    if isinstance(info, msgspec.inspect.UnionType):
        return any(_holds_secret(member) for member in info.types)
    return isinstance(info, msgspec.inspect.CustomType) and info.cls is Secret


# The start of every state key: printable, no braces (Redis Cluster hash tags), no spaces.
_PREFIX = re.compile(r"[A-Za-z0-9._:/-]{1,64}")


def _shown(value: Any) -> str:
    """A config value for a message: short strings and numbers as written, else the type."""
    if isinstance(value, str) and len(value) <= 64 and value.isprintable():
        return repr(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value) if len(repr(value)) <= 24 else "a huge number"
    return (
        f"a {type(value).__name__}"
        if not isinstance(value, str)
        else "a long or unprintable string"
    )
