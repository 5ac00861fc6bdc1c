"""The fault matrix: however a non-idempotent call fails after its request may have reached a
vendor, the vendors together act on it at most once, and a repeat with the same key never
makes a vendor act again.

Every non-idempotent operation of the memory vendors x a vendor that honours keys or not x
{timeout after send, reset after send, cancellation during the call, an exception the
adapter did not map, the retry refused by the budget, the breaker or the limiter} x
{sync, async} x {with a fallback vendor, without}.

The vendors are the memory vendors behind a wrapper that misbehaves on cue *after* passing
the request on (so the memory vendor has acted: that is the "maybe processed" being tested),
and that, when it honours keys, answers a key it has seen with its first answer without
acting again (as Stripe does). An "action" is one request passed on to a memory vendor.

The whole matrix runs on the memory state backend. A subset (a few operations, every fault,
both kinds of vendor, both twins, with and without fallback) runs on the Redis backend, a
real server, whose Lua scripts keep the claims and the doubts.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

from nexus_connector_core import (
    AdapterSettings,
    Address,
    AsyncConnectorManager,
    CallContext,
    ConnectorError,
    ConnectorManager,
    EmailMessage,
    Money,
    Parcel,
    PaymentRequest,
    PluginRegistry,
    Registrar,
    Shipment,
    SmsMessage,
    VendorTimeoutError,
    VendorUnavailableError,
    hookimpl,
)
from nexus_connector_core.testing import FakeClock

FAULTS = (
    "timeout_after_send",
    "reset_after_send",
    "cancel",
    "unknown_exception",
    "budget_refusal",
    "breaker_refusal",
    "limiter_refusal",
)

#: The policies under which the third attempt is refused, after a first that failed after
#: sending and a second that surely did not reach the vendor (a 503 from its load balancer):
#: the call as a whole may still have been processed.
REFUSALS: dict[str, dict[str, Any]] = {
    "budget_refusal": {
        "retry": {"max_attempts": 3, "base": 0.0, "budget": {"ratio": 1.0, "min_per_second": 0}}
    },
    "breaker_refusal": {
        "circuit_breaker": {"window": 2, "min_calls": 2, "failure_rate": 1.0, "open_for": 60}
    },
    "limiter_refusal": {"rate_limit": {"rate": 2, "per": 3600, "burst": 2}},
}


class _Script:
    """What the wrapped vendors do, shared with the test: faults to come, actions taken."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.faults: deque[str] = deque()
        self.actions: list[tuple[str, str, str | None]] = []  # (vendor, operation, key)
        self.entered = asyncio.Event()
        self.hang = asyncio.Event()  # never set: a call cancelled while it waits on this


SCRIPT = _Script()


class _Misbehaving:
    """A memory vendor's adapter behind faults that strike after the request went on."""

    def __init__(self, settings: AdapterSettings, inner: Any, honours_keys: bool) -> None:
        self.inner = inner
        self.vendor = settings.vendor
        self.honours_keys = honours_keys
        self.seen: dict[str, Any] = {}

    def _known(self, ctx: CallContext) -> bool:
        key = ctx.idempotency_key
        return self.honours_keys and key is not None and key in self.seen

    def _acting(self, operation: str, ctx: CallContext) -> str | None:
        """Record the action; hide the key so the memory vendor does not deduplicate."""
        key = ctx.idempotency_key
        SCRIPT.actions.append((self.vendor, operation, key))
        ctx.idempotency_key = None
        return key

    def _acted(self, key: str | None, result: Any, ctx: CallContext) -> None:
        ctx.idempotency_key = key
        if self.honours_keys and key is not None:
            self.seen[key] = result

    @staticmethod
    def _fault() -> str | None:
        return SCRIPT.faults.popleft() if SCRIPT.faults else None


class SyncMisbehaving(_Misbehaving):
    def close(self) -> None:
        pass

    def __getattr__(self, operation: str) -> Callable[[Any, CallContext], Any]:
        def call(request: Any, ctx: CallContext) -> Any:
            fault = self._fault()
            if fault == "not_processed":
                raise _not_processed()
            if self._known(ctx):  # the vendor knows this key: its first answer, no action
                return self.seen[ctx.idempotency_key]  # type: ignore[index]
            key = self._acting(operation, ctx)
            result = getattr(self.inner, operation)(request, ctx)
            self._acted(key, result, ctx)
            if fault is not None:
                raise _after_send(fault)
            return result

        return call


class AsyncMisbehaving(_Misbehaving):
    async def aclose(self) -> None:
        pass

    def __getattr__(self, operation: str) -> Callable[[Any, CallContext], Any]:
        async def call(request: Any, ctx: CallContext) -> Any:
            fault = self._fault()
            if fault == "not_processed":
                raise _not_processed()
            if self._known(ctx):
                return self.seen[ctx.idempotency_key]  # type: ignore[index]
            key = self._acting(operation, ctx)
            result = await getattr(self.inner, operation)(request, ctx)
            self._acted(key, result, ctx)
            if fault == "cancel":
                SCRIPT.entered.set()
                await SCRIPT.hang.wait()
            if fault is not None:
                raise _after_send(fault)
            return result

        return call


def _not_processed() -> VendorUnavailableError:
    # A new error each time: the pipeline annotates the one it raises (context, notes, and
    # maybe_processed once an earlier attempt may have reached the vendor).
    return VendorUnavailableError(
        "503 from the vendor's load balancer: not processed",
        status_code=503,
        maybe_processed=False,
    )


def _after_send(fault: str) -> BaseException:
    if fault == "timeout_after_send":
        return VendorTimeoutError("no answer after the request was sent", maybe_processed=True)
    if fault == "cancel":
        return KeyboardInterrupt()  # the sync twin's way of being cut off mid-call
    if fault == "unknown_exception":
        return RuntimeError("a bug in the adapter, after the request went out")
    return VendorUnavailableError("connection reset after the request", maybe_processed=True)


_INNER = {
    "email": "nexus_connector_core.vendors.memory.email:{}MemoryEmailAdapter",
    "sms": "nexus_connector_core.vendors.memory.sms:{}MemorySmsAdapter",
    "payment": "nexus_connector_core.vendors.memory.payment:{}MemoryPaymentAdapter",
    "shipping": "nexus_connector_core.vendors.memory.shipping:{}MemoryShippingAdapter",
}


def _factory(category: str, async_: bool, honours_keys: bool) -> Callable[[Any], Any]:
    import importlib

    module, name = _INNER[category].format("Async" if async_ else "").split(":")

    def build(settings: AdapterSettings) -> Any:
        inner = getattr(importlib.import_module(module), name)(settings)
        kind = AsyncMisbehaving if async_ else SyncMisbehaving
        return kind(settings, inner, honours_keys)

    return build


def _registrations(category: str) -> Callable[[Registrar], None]:
    def register_vendors(register: Registrar) -> None:
        for key, honours in (("keys", True), ("nokeys", False), ("fallback", False)):
            register(
                key,
                _factory(category, False, honours),
                async_impl=_factory(category, True, honours),
                options="nexus_connector_core.vendors.memory._behaviour:MemoryOptions",
                idempotency_keys=honours,
                description="a memory vendor that fails after acting (test)",
            )

    return hookimpl(register_vendors)


@pytest.fixture
def misbehaving(registry: PluginRegistry) -> PluginRegistry:
    plugin = types.SimpleNamespace(
        __name__="misbehaving",
        **{f"register_{c}_vendors": _registrations(c) for c in _INNER},
    )
    registry.register(plugin)
    return registry


# -- the operations under test, each with what must exist before it ------------------------

ADDRESS = Address(street1="1 Main St", city="Springfield", postal_code="12345", country="US")
SHIPMENT = Shipment(from_address=ADDRESS, to_address=ADDRESS, parcels=[Parcel(weight=500)])
ORDER = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")
MAIL = EmailMessage(sender="shop@example.com", to=["ada@example.com"], subject="Hi", text="x")


def _email_send(c: Any, setup: Any) -> Any:
    return c.send(MAIL, idempotency_key="k-1")


def _email_batch(c: Any, setup: Any) -> Any:
    return c.send_batch([MAIL, MAIL], idempotency_key="k-1")


def _sms_send(c: Any, setup: Any) -> Any:
    return c.send(SmsMessage("+14155550100", "Your code is 1234"), idempotency_key="k-1")


def _authorize(c: Any, setup: Any) -> Any:
    return c.authorize(ORDER, idempotency_key="k-1")


def _purchase(c: Any, setup: Any) -> Any:
    return c.purchase(ORDER, idempotency_key="k-1")


def _capture(c: Any, setup: Any) -> Any:
    return c.capture(setup.vendor_id, idempotency_key="k-1")


def _refund(c: Any, setup: Any) -> Any:
    return c.refund(setup.vendor_id, idempotency_key="k-1")


def _buy(c: Any, setup: Any) -> Any:
    return c.buy(setup.shipment_id, setup.vendor_id, idempotency_key="k-1")


def _first_rate(rates: Any) -> Any:
    return rates[0]


#: operation: (category, operation name, setup, call, how the setup's result is read)
OPERATIONS: dict[str, tuple[str, str, Any, Any]] = {
    "email.send": ("email", "send", None, _email_send),
    "email.send_batch": ("email", "send_batch", None, _email_batch),
    "sms.send": ("sms", "send", None, _sms_send),
    "payment.authorize": ("payment", "authorize", None, _authorize),
    "payment.purchase": ("payment", "purchase", None, _purchase),
    "payment.capture": ("payment", "capture", ("authorize", ORDER), _capture),
    "payment.refund": ("payment", "refund", ("purchase", ORDER), _refund),
    "shipping.buy": ("shipping", "buy", ("rates", SHIPMENT), _buy),
}


#: A few operations for the Redis backend: one with nothing before it, one after a call of
#: the same connector, one in another category after a call that returns a list.
REDIS_OPERATIONS = ("email.send", "payment.capture", "shipping.buy")


def _config(
    category: str, vendor: str, fault: str, fallback: bool, state: dict[str, Any] | None
) -> dict[str, Any]:
    resilience: dict[str, Any] = {"retry": {"max_attempts": 3, "base": 0.0}}
    resilience.update(REFUSALS.get(fault, {}))
    table: dict[str, Any] = {"vendor": vendor, "resilience": resilience}
    if fallback:
        table["fallback"] = ["fallback"]
    config: dict[str, Any] = {"connectors": {category: table}, "observability": {"loggers": []}}
    if state is not None:
        config["state"] = state
    return config


def _actions(operation: str) -> list[tuple[str, str, str | None]]:
    return [action for action in SCRIPT.actions if action[1] == operation]


def _check(operation: str) -> None:
    acted = _actions(operation)
    assert len(acted) <= 1, f"the vendors acted {len(acted)} times: {acted}"


def _check_first_call(operation: str) -> None:
    """The first call acted at most once; the faults it left unused (no retry after a doubt
    at a vendor without keys) are dropped, so that the repeat meets a vendor that acts: a
    "not processed" answer left over would hide a key released by mistake."""
    _check(operation)
    SCRIPT.faults.clear()


@pytest.fixture(autouse=True)
def _fresh_script() -> None:
    SCRIPT.reset()


def _setup_result(connector: Any, setup: Any) -> Any:
    if setup is None:
        return None
    name, request = setup
    result = getattr(connector, name)(request)
    return _first_rate(result) if name == "rates" else result


@pytest.fixture
def redis_state(redis_url: str, misbehaving: PluginRegistry) -> dict[str, Any]:
    """The ``state`` table for the Redis backend (its plugin added to `misbehaving`) on the
    session's server, under a key prefix of this test's own: every case uses key ``k-1``."""
    import nexus_connector_redis.plugin

    misbehaving.register(nexus_connector_redis.plugin, name="redis")
    return {"backend": "redis", "url": redis_url, "prefix": f"matrix-{uuid.uuid4().hex[:12]}"}


FALLBACK = pytest.mark.parametrize("fallback", [False, True], ids=["alone", "with-fallback"])
VENDOR = pytest.mark.parametrize("vendor", ["keys", "nokeys"])
FAULT = pytest.mark.parametrize("fault", FAULTS)


@FALLBACK
@VENDOR
@FAULT
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_sync_calls_act_at_most_once(
    misbehaving: PluginRegistry, operation: str, fault: str, vendor: str, fallback: bool
) -> None:
    _sync_case(misbehaving, operation, fault, vendor=vendor, fallback=fallback, state=None)


@FALLBACK
@VENDOR
@FAULT
@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_async_calls_act_at_most_once(
    misbehaving: PluginRegistry, operation: str, fault: str, vendor: str, fallback: bool
) -> None:
    await _async_case(misbehaving, operation, fault, vendor=vendor, fallback=fallback, state=None)


@pytest.mark.redis
@FALLBACK
@VENDOR
@FAULT
@pytest.mark.parametrize("operation", REDIS_OPERATIONS)
def test_sync_calls_act_at_most_once_with_redis_state(
    misbehaving: PluginRegistry,
    redis_state: dict[str, Any],
    operation: str,
    fault: str,
    *,
    vendor: str,
    fallback: bool,
) -> None:
    _sync_case(misbehaving, operation, fault, vendor=vendor, fallback=fallback, state=redis_state)


@pytest.mark.redis
@FALLBACK
@VENDOR
@FAULT
@pytest.mark.parametrize("operation", REDIS_OPERATIONS)
async def test_async_calls_act_at_most_once_with_redis_state(
    misbehaving: PluginRegistry,
    redis_state: dict[str, Any],
    operation: str,
    fault: str,
    *,
    vendor: str,
    fallback: bool,
) -> None:
    await _async_case(
        misbehaving, operation, fault, vendor=vendor, fallback=fallback, state=redis_state
    )


def _sync_case(
    registry: PluginRegistry,
    operation: str,
    fault: str,
    *,
    vendor: str,
    fallback: bool,
    state: dict[str, Any] | None,
) -> None:
    """One cell of the matrix, sync: the call under `fault`, then its repeat."""
    category, name, setup, call = OPERATIONS[operation]
    config = _config(category, vendor, fault, fallback, state)
    with ConnectorManager.from_config(config, registry=registry, clock=FakeClock()) as m:
        connector = m.connector(category)
        prepared = _setup_result(connector, setup)
        SCRIPT.faults.extend(_failures(fault))
        # A key the vendor honours may make a retry succeed; else the call fails.
        with contextlib.suppress(ConnectorError, KeyboardInterrupt, RuntimeError):
            call(connector, prepared)
        _check_first_call(name)
        _repeat(lambda: call(connector, prepared))
        _check(name)


async def _async_case(
    registry: PluginRegistry,
    operation: str,
    fault: str,
    *,
    vendor: str,
    fallback: bool,
    state: dict[str, Any] | None,
) -> None:
    """One cell of the matrix, async: the call under `fault` (cancelled mid-call for
    ``cancel``), then its repeat."""
    category, name, setup, call = OPERATIONS[operation]
    config = _config(category, vendor, fault, fallback, state)
    m = AsyncConnectorManager.from_config(config, registry=registry, clock=FakeClock())
    try:
        connector = m.connector(category)
        prepared = await _asetup_result(connector, setup)
        SCRIPT.faults.extend(_failures(fault))
        if fault == "cancel":
            task = asyncio.ensure_future(call(connector, prepared))
            await SCRIPT.entered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            # A key the vendor honours may make a retry succeed; else the call fails.
            with contextlib.suppress(ConnectorError, RuntimeError):
                await call(connector, prepared)
        _check_first_call(name)
        with contextlib.suppress(ConnectorError):  # a replayed error or the doubt: no action
            await call(connector, prepared)
        _check(name)
    finally:
        await m.aclose()


def _failures(fault: str) -> list[str]:
    return ["reset_after_send", "not_processed"] if fault in REFUSALS else [fault]


def _repeat(call: Callable[[], Any]) -> None:
    with contextlib.suppress(ConnectorError):  # a replayed error or the doubt: no action
        call()


async def _asetup_result(connector: Any, setup: Any) -> Any:
    if setup is None:
        return None
    name, request = setup
    result = await getattr(connector, name)(request)
    return _first_rate(result) if name == "rates" else result
