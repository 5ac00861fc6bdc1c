"""The class of "a config value crashes instead of being refused": any value (inf, nan,
negative, huge, 2**70, a denormal, empty, unicode, the wrong type) in any numeric or string
setting of the resilience tables, ``[state]`` and the memory vendor's options goes through
`ConnectorManager.from_config` and one call, on the memory backend and on a real Redis: only
a `ConfigError` at load, or a documented call error (a `ConnectorError`) from the call,
ever escapes.

Redis: the ``redis_url`` fixture (``REDIS_URL``, else a ``redis-server`` started for the
session on a free port); without one the Redis cases skip (fail with
``NEXUS_REQUIRE_SERVICES=1``). Random text is never used as a Redis URL: a host name would
wait on DNS.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from nexus_connector_core import (
    AsyncConnectorManager,
    ConfigError,
    ConnectorError,
    ConnectorManager,
    Money,
    PaymentRequest,
    SmsMessage,
)
from nexus_connector_core._config_ranges import bounds_of, numeric_settings
from nexus_connector_core._resilience.config import ResilienceConfig
from nexus_connector_core._resilience.errors import ERROR_CLASSES
from nexus_connector_core.testing import FakeClock
from nexus_connector_core.vendors.memory import MemoryOptions

# -- which settings -----------------------------------------------------------------------------


def _leaves(cls: type[Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every setting under struct `cls` that is not itself a table, as a key path."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    out: list[tuple[str, ...]] = []
    for field in info.fields:
        members = (
            field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        )
        structs = [m.cls for m in members if isinstance(m, msgspec.inspect.StructType)]
        path = (*prefix, field.encode_name)
        out.extend(_leaves(structs[0], path) if structs else [path])
    return out


RESILIENCE = _leaves(ResilienceConfig)
MEMORY_OPTIONS = [("fail_first",), ("failure",), ("latency",), ("retry_after",)]
STATE = [("fail_mode",), ("prefix",), ("backend",)]
REDIS_OPTIONS = [
    ("timeout",),
    ("connect_timeout",),
    ("pool_size",),
    ("cluster",),
    ("url",),
    ("record_delay",),
]


def test_the_settings_cover_every_numeric_resilience_setting() -> None:
    numeric = {key for key, _ in numeric_settings(ResilienceConfig)}
    assert numeric <= {".".join(path) for path in RESILIENCE}
    assert len(RESILIENCE) > 40


# -- which values ---------------------------------------------------------------------------

INF = float("inf")
_SPECIAL = [
    INF, -INF, float("nan"), 0.0, -0.0, 5e-324, 1e-300, 1e300, 2.0**70, 0.5, 1.0, 3.0, 60.0,
    0, 1, -1, 2, 20, 2**31, 2**62, 2**64, 2**70, 10**12, -(2**70),
    True, False, "", " ", "none", "inf", "ünïcödé ✓", "\x00", "a" * 300, "open", "closed",
    "memory", "count", "time", "operation", "exponential", "VendorUnavailableError",
    "metadata.order_id", [], [1], ["VendorUnavailableError"], [503, 2**64], {}, {"x": 1},
]  # fmt: skip

#: Anything at all: the values a hostile or careless user writes.
hostile: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(_SPECIAL),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.text(max_size=40),
    st.lists(st.one_of(st.integers(), st.text(max_size=10)), max_size=3),
)


def _type_at(cls: type[Any], path: tuple[str, ...]) -> Any:
    info: Any = msgspec.inspect.type_info(cls)
    for part in path:
        members = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
        struct = next(m for m in members if isinstance(m, msgspec.inspect.StructType))
        info = next(f.type for f in struct.fields if f.encode_name == part)
    return info


def _valid(info: Any, name: str) -> st.SearchStrategy[Any]:
    """Values the setting accepts (its range, its choices): so that many examples get as
    far as the call, where a value that loads but crashes would show."""
    inspect = msgspec.inspect
    if isinstance(info, inspect.UnionType):
        members = [m for m in info.types if not isinstance(m, inspect.NoneType)]
        return st.one_of(*(_valid(m, name) for m in members))
    bounds = bounds_of(info)
    if bounds is not None and bounds.kind == "int":
        return st.integers(int(bounds.ge or 0), int(bounds.le or 0))
    if bounds is not None:
        low = bounds.ge if bounds.ge is not None else bounds.gt
        return st.floats(low, bounds.le, exclude_min=bounds.gt is not None)
    if isinstance(info, inspect.LiteralType):
        return st.sampled_from(info.values)
    if isinstance(info, inspect.BoolType):
        return st.booleans()
    if isinstance(info, inspect.VarTupleType):
        if name == "derive_from":
            items: st.SearchStrategy[Any] = st.sampled_from(["metadata.order_id", "description"])
        elif isinstance(info.item_type, inspect.StrType):
            items = st.sampled_from(sorted(ERROR_CLASSES))
        else:
            items = _valid(info.item_type, name)
        return st.lists(items, max_size=3)
    return hostile


@st.composite
def _value_for(draw: st.DrawFn, cls: type[Any], path: tuple[str, ...], wild: bool) -> Any:
    """A value the setting accepts; when `wild`, one time in three anything at all."""
    if wild and draw(st.integers(0, 2)) == 0:
        return draw(hostile)
    return draw(_valid(_type_at(cls, path), path[-1]))


def _set(table: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        node = table.setdefault(part, {})
        if not isinstance(node, dict):
            return
        table = node
    table[path[-1]] = value


_PREFIXES = st.one_of(st.from_regex(r"[A-Za-z0-9._:/-]{1,64}", fullmatch=True), hostile)


@st.composite
def configs(draw: st.DrawFn, *, redis: bool) -> dict[str, Any]:
    # Half the examples are wild (any value anywhere); the others use values each setting
    # accepts, so that many get as far as the call, where a value that loads but crashes
    # would show.
    wild = draw(st.booleans())
    category = draw(st.sampled_from(["payment", "sms"]))
    operation = "purchase" if category == "payment" else "send"
    resilience: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(RESILIENCE), min_size=1, max_size=3)):
        value = draw(_value_for(ResilienceConfig, path, wild))
        if draw(st.booleans()):
            _set(resilience, path, value)
        else:  # an operation's own table, merged over the connector's
            _set(resilience, ("operations", operation, *path), value)
    if not wild or draw(st.booleans()):
        _complete(resilience)
        _complete(resilience.get("operations", {}).get(operation), own_scope=True)
    options: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(MEMORY_OPTIONS), max_size=2)):
        _set(options, path, draw(_value_for(MemoryOptions, path, wild)))
    state: dict[str, Any] = {"backend": "redis", "url": _REDIS} if redis else {}
    for key in draw(st.lists(st.sampled_from(STATE), max_size=2)):
        choices = {"fail_mode": st.sampled_from(["open", "closed"]), "prefix": _PREFIXES}
        tame = key[0] in choices and (not wild or draw(st.booleans()))
        _set(state, key, draw(choices[key[0]] if tame else hostile))
    if redis:
        for key in draw(st.lists(st.sampled_from(REDIS_OPTIONS), max_size=2)):
            choices = {
                "url": st.sampled_from(_URLS),
                "timeout": st.floats(0.01, 60.0),
                "connect_timeout": st.floats(0.01, 60.0),
                "pool_size": st.integers(1, 100),
                "record_delay": st.floats(0.0, 10.0),
            }
            tame = key[0] in choices and (not wild or draw(st.booleans()))
            _set(state, key, draw(choices[key[0]] if tame else hostile))
    table = {"vendor": "memory", "options": options, "resilience": resilience}
    return {"state": state, "connectors": {category: table}}


def _complete(table: Any, *, own_scope: bool = False) -> None:
    """Fill in what a partial table needs to load, so that more examples reach the call: a
    rate limit's rate, a bulkhead's size; an operation's own breaker and limiter (sharing
    the connector's, it may not change them)."""
    if not isinstance(table, dict):
        return
    for name, key, value in (("rate_limit", "rate", 10.0), ("bulkhead", "max_concurrent", 4)):
        if isinstance(table.get(name), dict):
            table[name].setdefault(key, value)
            if own_scope and name == "rate_limit":
                table[name].setdefault("scope", "operation")
    if own_scope and isinstance(table.get("circuit_breaker"), dict):
        table["circuit_breaker"].setdefault("scope", "operation")
    if own_scope and isinstance(table.get("retry"), dict):
        table["retry"].pop("budget", None)  # one budget per connector


#: Stands for the test server's URL in a drawn config (the strategy is built before it is known).
_REDIS = "redis://test-server"
_URLS = [
    _REDIS,
    "redis://127.0.0.1:1/0",
    "",
    "http://127.0.0.1:6379/0",
    "redis://:pa/ss#word@127.0.0.1:1/0",
    "redis://127.0.0.1:99999/0",
    "unix:///nonexistent/redis.sock",
]


# -- one call -------------------------------------------------------------------------------


def _call(manager: Any) -> Any:
    key = f"k-{uuid.uuid4().hex}"
    if "payment" in manager.config.connectors:
        request = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")
        return manager.payment.purchase(request, idempotency_key=key)
    return manager.sms.send(SmsMessage(to="+14155550100", body="hi"), idempotency_key=key)


def _first(error: ConfigError) -> str:
    """The first problem, for ``--hypothesis-show-statistics``: what refuses most."""
    problem = error.problems[0]
    return f"{problem.path}: {problem.detail[:60]}"


def _only_documented_errors(config: dict[str, Any], mode: str) -> None:
    # Keys of their own on a shared Redis, unless the example is about the prefix.
    config["state"].setdefault("prefix", f"prop-{uuid.uuid4().hex[:12]}")
    clock = FakeClock()
    try:
        if mode == "sync":
            manager = ConnectorManager.from_config(config, environ={}, clock=clock)
        else:
            manager = AsyncConnectorManager.from_config(config, environ={}, clock=clock)
    except ConfigError as exc:
        event(f"refused at load: {_first(exc)}")
        return  # refused at load, naming the key: the contract
    try:
        if mode == "sync":
            with manager:
                _call(manager)
        else:

            async def run() -> None:
                async with manager:
                    await _call(manager)

            asyncio.run(run())
    except ConfigError as exc:  # pragma: no cover - the failure message says it all
        pytest.fail(f"a config problem surfaced only at the call: {exc!r}")
    except ConnectorError as exc:
        # A documented call error (unavailable, an open breaker, refused by the limiter...).
        event(f"call failed: {type(exc).__name__}: {str(exc)[:150]}")
    else:
        event("call served")


_FAST = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
_MODES = st.sampled_from(["sync", "async"])


@settings(_FAST, max_examples=400)
@given(config=configs(redis=False), mode=_MODES)
def test_any_config_value_on_the_memory_backend_is_refused_or_served(
    config: dict[str, Any], mode: str
) -> None:
    _only_documented_errors(config, mode)


@pytest.mark.redis
@settings(_FAST, max_examples=200)
@given(config=configs(redis=True), mode=_MODES)
def test_any_config_value_on_redis_is_refused_or_served(
    redis_url: str, config: dict[str, Any], mode: str
) -> None:
    state = config["state"]
    if isinstance(state.get("url"), str):
        state["url"] = state["url"].replace(_REDIS, redis_url)
    _only_documented_errors(config, mode)


# -- the edges of every range work ----------------------------------------------------------


def _at(edge: str) -> dict[str, Any]:
    """A resilience table with every number at the `edge` ("low" or "high") of its range."""
    table: dict[str, Any] = {}
    for key, bounds in numeric_settings(ResilienceConfig):
        assert bounds is not None
        low = bounds.ge if bounds.ge is not None else (bounds.gt or 0) + 1e-6
        value = low if edge == "low" else bounds.le
        if bounds.kind == "int":
            value = int(value)  # type: ignore[arg-type]
        _set(table, tuple(key.split(".")), [value] if key.endswith("retry_on_status") else value)
    table["circuit_breaker"]["min_calls"] = 1  # at most the window
    table["rate_limit"]["per"] = 1.0  # and a token at least daily
    table["retry"]["budget"]["window"] = 60.0
    return table


@pytest.mark.parametrize("edge", ["low", "high"])
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_every_setting_at_the_edge_of_its_range_serves_a_call(
    edge: str, backend: str, request: pytest.FixtureRequest
) -> None:
    state: dict[str, Any] = {"prefix": f"edge-{uuid.uuid4().hex[:12]}"}
    if backend == "redis":
        state |= {"backend": "redis", "url": request.getfixturevalue("redis_url")}
    config = {
        "state": state,
        "connectors": {"payment": {"vendor": "memory", "resilience": _at(edge)}},
    }
    with ConnectorManager.from_config(config, environ={}, clock=FakeClock()) as manager:
        result = _call(manager)
    assert result.vendor == "memory"


def test_bounds_of_reads_optional_numbers() -> None:
    info = msgspec.inspect.type_info(ResilienceConfig)
    assert isinstance(info, msgspec.inspect.StructType)
    deadline = next(f for f in info.fields if f.name == "deadline")
    bounds = bounds_of(deadline.type)
    assert bounds is not None
    assert (bounds.ge, bounds.le) == (0.001, 86400.0)
