"""One ``[connectors.<name>]`` table: as written, and resolved against the installed plugins."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ._adapters import AdapterSettings
from ._api import API
from ._categories import CATEGORIES, CATEGORY_KEYS
from ._clock import Clock
from ._config_problems import KeyPath, Problems
from ._credentials import CredentialProvider, Secret, resolve_reference
from ._errors import ConnectorError, VendorNotFoundError
from ._operations import Category, Operation
from ._plugins import PluginRegistry
from ._registration import Registration
from ._resilience.config import ResilienceConfig, read_limits
from ._resilience.hedging import hedges
from ._slo import SloSpec, resolve_slo

__all__ = [
    "ConnectorConfig",
    "ConnectorSettings",
    "FallbackVendor",
    "VendorSettings",
    "resolve_connector",
]

ENV_PREFIX = "NEXUS_CONNECTOR__"
#: The extra operation name an adapter's OAuth2 token requests run under.
TOKEN_OPERATION = "oauth_token"
_CONNECTOR_NAME = re.compile(r"[a-z](?:[a-z0-9]|_(?!_))*")


class FallbackVendor(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A fallback vendor with its own options and credentials (``fallback = [{...}]``)."""

    vendor: str
    options: dict[str, Any] = {}
    credentials: dict[str, str] = {}


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
    #: Vendors tried in order when the primary's breaker is open or it failed for good:
    #: vendor keys, or tables with their own options and credentials.
    fallback: list[str | FallbackVendor] = []
    #: Keys of registered middleware to add to this connector's pipeline, outermost first.
    middleware: list[str] = []
    #: The resilience policies (checked separately, per operation).
    resilience: dict[str, Any] = {}
    #: Send the call's trace context (W3C ``traceparent``) to HTTP vendors, when the
    #: application traces with OpenTelemetry; ``false`` keeps it from this vendor.
    propagate_trace: bool = True
    #: Category ``api``: the endpoints, by name (``[connectors.<name>.endpoints.<name>]``).
    endpoints: dict[str, Any] = {}
    #: Category ``api``: how to authenticate (``auth = { kind = "bearer", ... }``).
    auth: dict[str, Any] | None = None
    #: Service-level objectives (``[connectors.<name>.slo]``, checked by `resolve_slo`).
    slo: dict[str, Any] = {}


class VendorSettings(msgspec.Struct, frozen=True, kw_only=True):
    """One vendor of a connector's chain, resolved: registration, options, secrets."""

    registration: Registration
    options: Any = None
    credentials: Mapping[str, Secret] = {}

    @property
    def key(self) -> str:
        return self.registration.key


class ConnectorSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A connector, checked and resolved.

    `vendors` is the chain: the primary vendor first, then the fallbacks in order.
    `resilience` has the policies of every operation of the category, by operation name.
    """

    name: str
    category: str
    vendors: tuple[VendorSettings, ...]
    middleware: tuple[Registration, ...] = ()
    resilience: Mapping[str, ResilienceConfig] = {}
    propagate_trace: bool = True
    #: Category ``api``: the operations this connector declares (its endpoints).
    declared: Category | None = None
    #: Its SLOs: the connector's, then single operations'.
    slos: tuple[SloSpec, ...] = ()

    @property
    def contract(self) -> Category:
        """The category with this connector's operations."""
        return self.declared or CATEGORIES[self.category]

    @property
    def vendor(self) -> Registration:
        """The primary vendor's registration."""
        return self.vendors[0].registration

    @property
    def options(self) -> Any:
        """The primary vendor's options."""
        return self.vendors[0].options

    @property
    def credentials(self) -> Mapping[str, Secret]:
        """The primary vendor's credentials."""
        return self.vendors[0].credentials

    def adapter_settings(
        self, clock: Clock, index: int = 0, state: Any = None, *, fail_open: bool = True
    ) -> AdapterSettings:
        """What the constructor of vendor `index` of the chain receives."""
        vendor = self.vendors[index]
        return AdapterSettings(
            connector=self.name,
            category=self.category,
            vendor=vendor.key,
            options=vendor.options,
            credentials=vendor.credentials,
            clock=clock,
            state=state,
            resilience=self.resilience,
            fail_open=fail_open,
            propagate_trace=self.propagate_trace,
        )


Providers = Callable[[str], CredentialProvider | None]


def resolve_connector(
    name: str,
    table: Any,
    *,
    registry: PluginRegistry,
    providers: Providers,
    problems: Problems,
) -> ConnectorSettings | None:
    """Check one connector table and resolve it; None (with problems recorded) if invalid."""
    found = len(problems.items)
    settings = _resolve_connector(name, table, registry, providers, problems)
    if settings is None and len(problems.items) == found:
        # A connector is never left out silently: the config must then be refused.
        problems.add(
            ("connectors", name),
            "this connector's table could not be resolved, for no reason the checks could "
            "name; please report it with the table",
        )
    return settings


def _resolve_connector(
    name: str, table: Any, registry: PluginRegistry, providers: Providers, problems: Problems
) -> ConnectorSettings | None:
    path: KeyPath = ("connectors", name)
    if not _CONNECTOR_NAME.fullmatch(name):
        problems.add(
            path,
            "a connector name must be lowercase letters, digits and single '_', starting "
            f"with a letter (it becomes part of {ENV_PREFIX}CONNECTORS__<NAME>__... variables)",
        )
        return None
    found = len(problems.items)
    # Salvaged: with a bad key dropped, the rest of the table is still checked.
    raw = problems.convert(table, ConnectorConfig, path, salvage=True)
    if raw is None:
        return None
    category = raw.category or name
    if category not in CATEGORIES and category != API:
        if raw.category is None:
            problems.add(
                path,
                f"{name!r} is not a category, so say which one it is: category = one of "
                f"{', '.join((*CATEGORY_KEYS, API))}",
            )
        else:
            problems.add(
                (*path, "category"),
                f"unknown category {category!r}; expected one of: "
                f"{', '.join((*CATEGORY_KEYS, API))}",
            )
        return None
    if category != API:
        for key in ("endpoints", "auth"):
            if getattr(raw, key):
                problems.add((*path, key), f"only connectors of category {API!r} take {key}")

    resolver = _VendorResolver(name, category, registry, providers, problems)
    chain = [resolver.resolve(raw.vendor, raw.options, raw.credentials, path, is_primary=True)]
    seen = {raw.vendor}
    for index, written in enumerate(raw.fallback):
        where = (*path, "fallback", index)
        if isinstance(written, str):
            entry, key_path = FallbackVendor(vendor=written), where
        else:
            entry, key_path = written, (*where, "vendor")
        if entry.vendor in seen:
            problems.add(key_path, f"vendor {entry.vendor!r} is already in this connector's chain")
            chain.append(None)
            continue
        seen.add(entry.vendor)
        chain.append(
            resolver.resolve(
                entry.vendor, entry.options, entry.credentials, where, key_path=key_path
            )
        )

    middleware = []
    ok = True
    for index, key in enumerate(raw.middleware):
        try:
            middleware.append(registry.find("middleware", key))
        except ConnectorError as exc:
            problems.add((*path, "middleware", index), exc.message)
            ok = False
    vendors = tuple(v for v in chain if v is not None)
    declared = None
    if category == API:
        from ._api_config import resolve_api

        if len(vendors) != len(chain):
            return None

        api = resolve_api(
            name,
            raw.endpoints,
            raw.auth,
            list(vendors),
            path=path,
            problems=problems,
            providers=providers,
        )
        if api is None:
            return None
        vendors, declared = tuple(api[0]), api[1]
    operations = declared.operations if declared else CATEGORIES[category].operations
    resilience = _resilience(category, operations, raw.resilience, (*path, "resilience"), problems)
    slos = resolve_slo(name, raw.slo, operations, (*path, "slo"), problems) if raw.slo else ()
    if not ok or resilience is None or len(vendors) != len(chain) or len(problems.items) > found:
        return None
    return ConnectorSettings(
        name=name,
        category=category,
        vendors=vendors,
        middleware=tuple(middleware),
        resilience=resilience,
        propagate_trace=raw.propagate_trace,
        declared=declared,
        slos=slos or (),
    )


class _VendorResolver:
    """Resolves one vendor entry of a connector: registration, options, credentials."""

    def __init__(
        self,
        connector: str,
        category: str,
        registry: PluginRegistry,
        providers: Providers,
        problems: Problems,
    ) -> None:
        self.connector = connector
        self.category = category
        self.registry = registry
        self.providers = providers
        self.problems = problems

    def resolve(
        self,
        key: str,
        options: dict[str, Any],
        credentials: dict[str, str],
        path: KeyPath,
        *,
        is_primary: bool = False,
        key_path: KeyPath | None = None,
    ) -> VendorSettings | None:
        problems = self.problems
        key_path = key_path or (*path, "vendor")
        try:
            registration = self.registry.find(self.category, key)
            options_type = registration.options_type()
        except VendorNotFoundError as exc:
            problems.add_vendor_not_found(key_path, exc)
            return None
        except ConnectorError as exc:
            problems.add(key_path, exc.message)
            return None
        ok = True
        decoded: Any = options
        if options_type is not None:
            decoded = problems.convert(options, options_type, (*path, "options"))
            ok = decoded is not None
        elif options:
            problems.add((*path, "options"), f"vendor {key!r} takes no options")
            ok = False
        secrets: dict[str, Secret] = {}
        for needed in registration.credentials:
            if needed not in credentials:
                hint = f"{self.connector}_{needed}" if is_primary else f"{key}_{needed}"
                problems.add(
                    (*path, "credentials", needed),
                    f"vendor {key!r} needs credential {needed!r}; set it to a reference "
                    f'such as "env:{hint.upper()}"',
                )
                ok = False
        for name, reference in credentials.items():
            try:
                secrets[name] = resolve_reference(reference, self.providers)
            except ConnectorError as exc:
                problems.add((*path, "credentials", name), exc.message)
                ok = False
        if not ok:
            return None
        return VendorSettings(registration=registration, options=decoded, credentials=secrets)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resilience(
    category: str,
    operations: Mapping[str, Operation[Any, Any]],
    table: dict[str, Any],
    path: KeyPath,
    problems: Problems,
) -> dict[str, ResilienceConfig] | None:
    """The policies of every operation: the connector's table, overridden per operation.

    An operation's table is merged into the connector's and checked whole, but does not
    report again the problems of the connector's table that it leaves as they are (reported
    once, at the connector's path).
    """
    table = dict(table)
    per_operation = table.pop("operations", {})
    in_base: set[KeyPath] = set()
    base = _convert_resilience(table, path, problems, in_base)
    if not isinstance(per_operation, dict):
        problems.add((*path, "operations"), "expected a table of operation names")
        return None
    resolved: dict[str, ResilienceConfig] = {}
    ok = base is not None
    for op_name in per_operation:
        if op_name not in operations and op_name != TOKEN_OPERATION:
            problems.add(
                (*path, "operations", op_name),
                f"{category} has no operation {op_name!r}; it has: {', '.join(operations)} "
                f"(and {TOKEN_OPERATION}, for an adapter's OAuth2 token requests)",
            )
            ok = False
    extra = (TOKEN_OPERATION,) if TOKEN_OPERATION in per_operation else ()
    for op_name in (*operations, *extra):
        override = per_operation.get(op_name)
        if override is None:
            if base is not None:
                resolved[op_name] = base
            continue
        if not isinstance(override, dict):
            problems.add((*path, "operations", op_name), "expected a table")
            ok = False
            continue
        where = (*path, "operations", op_name)
        repeated = {at for at in in_base if not _sets(override, at)}
        config = _convert_resilience(_merge(table, override), where, problems, repeated)
        if config is None:
            ok = False
        else:
            resolved[op_name] = config
    if not ok or base is None:
        return None
    found = len(problems.items)
    _check_hedged(operations, per_operation, resolved, path, problems)
    _check_shared_state(base, resolved, path, problems)
    return resolved if len(problems.items) == found else None


def _convert_resilience(
    table: dict[str, Any], path: KeyPath, problems: Problems, reported: set[KeyPath]
) -> ResilienceConfig | None:
    """One resilience table, with ``false`` for "no timeout" or "no deadline"; `reported`
    as for `Problems.convert`."""
    table, limit_problems = read_limits(table)
    for key, message in limit_problems.items():
        if (key,) not in reported:
            problems.add((*path, key), message)
            reported.add((key,))
    config = problems.convert(table, ResilienceConfig, path, reported=reported)
    return None if limit_problems else config


def _sets(override: dict[str, Any], at: KeyPath) -> bool:
    """Whether an operation's table sets the value at `at` (merged key by key, a table it
    sets only in part keeps the connector's other keys)."""
    value: Any = override
    for part in at:
        if not isinstance(value, dict):
            return True  # replaced whole above `at`: an array, or a value where a table was
        if part not in value:
            return False
        value = value[part]
    return True


def _check_hedged(
    operations: Mapping[str, Operation[Any, Any]],
    per_operation: dict[str, Any],
    resolved: dict[str, ResilienceConfig],
    path: KeyPath,
    problems: Problems,
) -> None:
    """Hedging set on an operation of its own is for idempotent reads only (the
    connector's ``hedging`` applies to its reads and leaves the rest alone): a hedge sends
    the request twice."""
    for op_name, override in per_operation.items():
        operation = operations.get(op_name)
        hedging = resolved[op_name].hedging if op_name in resolved else None
        if (
            operation is None
            or not isinstance(override, dict)
            or "hedging" not in override
            or hedging is None
            or not hedging.enabled
            or hedges(operation)
        ):
            continue
        problems.add(
            (*path, "operations", op_name, "hedging"),
            f"{op_name} is not an idempotent read, and a hedge sends its request a second "
            f"time; only reads are hedged: drop this table or set enabled = false",
        )


_SHARED_NAMES = {
    "circuit_breaker": "circuit breaker",
    "rate_limit": "rate limit",
    "retry.budget": "retry budget",
}


def _shared_policies(config: ResilienceConfig) -> dict[str, Any]:
    """The policies of `config` kept in state that every operation of the connector shares:
    a breaker or limiter of ``scope = "connector"``, the retry budget."""
    shared: dict[str, Any] = {}
    breaker = config.circuit_breaker
    if breaker.enabled and breaker.scope == "connector":
        shared["circuit_breaker"] = breaker.policy()
    limit = config.rate_limit
    if limit is not None and limit.enabled and limit.scope == "connector":
        shared["rate_limit"] = limit.policy()
    budget = config.retry.budget
    if budget is not None and budget.enabled and config.retry.enabled:
        shared["retry.budget"] = budget.policy()
    return shared


def _check_shared_state(
    base: ResilienceConfig,
    resolved: dict[str, ResilienceConfig],
    path: KeyPath,
    problems: Problems,
) -> None:
    """One shared breaker, limiter or budget has one policy: an operation that shares it
    may not change it (each would judge the same state by its own rules)."""
    first = {
        name: ("the connector's table", policy) for name, policy in _shared_policies(base).items()
    }
    for op_name, config in resolved.items():
        for name, policy in _shared_policies(config).items():
            owner, expected = first.setdefault(name, (f"operation {op_name!r}", policy))
            if expected == policy:
                continue
            fix = 'set scope = "operation" here to give it its own, or drop the override'
            if name == "retry.budget":
                fix = "a connector has one retry budget: drop the override"
            problems.add(
                (*path, "operations", op_name, *name.split(".")),
                f"differs from the {_SHARED_NAMES[name]} of {owner}, which is shared by "
                f"every operation of this connector; {fix}",
            )
