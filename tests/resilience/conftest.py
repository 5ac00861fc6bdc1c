"""Fixtures for tests of the resilience pipeline over real sockets.

`fault_server` is a `FaultServer` that answers like a small Stripe-like payment API unless
a test scripts faults. ``httppay`` is a payment vendor defined here, standing in for real
vendor plugins: an HTTP adapter on the core's HTTP toolkit (`nexus_connector_core.http`),
built exactly as a real plugin is. It is registered twice: ``httppay`` honours idempotency
keys (like Stripe), ``httppay-nokeys`` does not. `make_manager` builds a manager whose
``payment`` connector calls the fault server through it.

With ``--import-mode=importlib`` test modules cannot import this file: everything a test
needs is a fixture.
"""

from __future__ import annotations

import gc
import itertools
import socket
import threading
import types
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import httpx
import msgspec
import pytest

from nexus_connector_core import (
    AdapterSettings,
    AsyncConnectorManager,
    CallContext,
    CaptureRequest,
    ConnectorError,
    ConnectorManager,
    Money,
    Payment,
    PaymentLookup,
    PaymentRequest,
    PaymentStatus,
    PluginRegistry,
    Refund,
    RefundRequest,
    Registrar,
    VoidRequest,
    hookimpl,
)
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor
from nexus_connector_core.testing import Fault, FaultServer
from nexus_connector_core.testing._fault_server import ReceivedRequest


@pytest.fixture(autouse=True, scope="session")
def _short_collector_pauses() -> Iterator[None]:
    """Deadlines here are real and as short as 50 ms, and a full garbage collection of all
    the session had loaded took ~120 ms on the shared machine: falling inside a call, it cut
    an attempt before its request went out (test_hardening's slow-call test failed or not
    with the number of tests collected). What exists before the first test here is frozen
    out of the collector, so a full collection only walks what the tests made."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


# -- the vendor's side: what the fault server answers by default -----------------------------


class StripeLikeVendor:
    """The default answers of the fault server: a tiny Stripe-like payment API.

    Created payment intents are kept; an id it never made stands for an authorized payment
    of `UNKNOWN` (so a test can ``get`` or ``capture`` any id without creating it first).
    """

    UNKNOWN = (1999, "usd")

    def __init__(self) -> None:
        self._intents: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self, request: ReceivedRequest) -> Fault:
        parts = request.path.strip("/").split("/")  # v1, resource, id, action
        body = request.json() if request.body else {}
        with self._lock:
            if parts == ["v1", "refunds"] and request.method == "POST":
                return Fault.respond(200, self._refund(body))
            if parts == ["v1", "payment_intents"] and request.method == "POST":
                return Fault.respond(200, self._create(body))
            if parts[:2] == ["v1", "payment_intents"] and len(parts) in (3, 4):
                intent = self._intent(parts[2])
                action = parts[3] if len(parts) == 4 else "GET"
                if action == "capture" and request.method == "POST":
                    intent["status"] = "succeeded"
                    intent["amount_received"] = body.get("amount_to_capture") or intent["amount"]
                elif action == "cancel" and request.method == "POST":
                    intent["status"] = "canceled"
                if action in ("capture", "cancel") or request.method == "GET":
                    return Fault.respond(200, intent)
        return Fault.respond(404, {"error": {"code": "resource_missing", "message": "no route"}})

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        manual = body.get("capture_method") == "manual"
        intent = self._store(f"pi_{next(self._ids)}", body["amount"], body["currency"])
        if not manual:
            intent.update(status="succeeded", amount_received=body["amount"])
        return intent

    def _intent(self, intent_id: str) -> dict[str, Any]:
        return self._intents.get(intent_id) or self._store(intent_id, *self.UNKNOWN)

    def _store(self, intent_id: str, amount: int, currency: str) -> dict[str, Any]:
        intent = self._intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "status": "requires_capture",
            "amount": amount,
            "amount_received": 0,
            "amount_refunded": 0,
            "currency": currency,
        }
        return intent

    def _refund(self, body: dict[str, Any]) -> dict[str, Any]:
        intent = self._intent(body["payment_intent"])
        amount = body.get("amount") or intent["amount_received"] - intent["amount_refunded"]
        intent["amount_refunded"] += amount
        return {
            "id": f"re_{next(self._ids)}",
            "object": "refund",
            "payment_intent": intent["id"],
            "amount": amount,
            "currency": intent["currency"],
            "status": "succeeded",
        }


# -- the adapter's side: what a real HTTP payment plugin does --------------------------------

T = TypeVar("T")


class HttpPayOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``options`` of the httppay vendors."""

    #: The vendor's origin; paths such as ``/v1/payment_intents`` are appended.
    base_url: str
    #: Misbehave: send requests without a timeout, whatever ``ctx.timeout`` says.
    ignore_timeout: bool = False


class _Call(NamedTuple, Generic[T]):
    """One operation as HTTP: what to send, and how to read the answer."""

    method: str
    path: str
    payload: dict[str, Any] | None
    read: Callable[[Any, str], T]


_STATUSES: Mapping[str, PaymentStatus] = {
    "requires_capture": "authorized",
    "succeeded": "succeeded",
    "canceled": "canceled",
    "processing": "pending",
    "requires_payment_method": "failed",
}


def _read_payment(data: Any, vendor: str) -> Payment:
    currency = data["currency"].upper()
    return Payment(
        vendor=vendor,
        vendor_id=data["id"],
        status=_STATUSES.get(data["status"], "pending"),
        amount=Money(data["amount"], currency),
        captured=Money(data["amount_received"], currency),
        refunded=Money(data["amount_refunded"], currency),
        raw=data,
    )


def _read_refund(data: Any, vendor: str) -> Refund:
    return Refund(
        vendor=vendor,
        vendor_id=data["id"],
        payment_id=data["payment_intent"],
        amount=Money(data["amount"], data["currency"].upper()),
        status=data["status"],
        raw=data,
    )


def _create(request: PaymentRequest, *, capture: bool) -> _Call[Payment]:
    payload = {
        "amount": request.amount.amount,
        "currency": request.amount.currency.lower(),
        "payment_method": request.payment_method,
        "capture_method": "automatic" if capture else "manual",
        "confirm": True,
        "metadata": dict(request.metadata),
    }
    return _Call("POST", "/v1/payment_intents", payload, _read_payment)


def _capture(request: CaptureRequest) -> _Call[Payment]:
    payload = {"amount_to_capture": request.amount.amount} if request.amount else {}
    return _Call(
        "POST", f"/v1/payment_intents/{request.payment_id}/capture", payload, _read_payment
    )


def _refund(request: RefundRequest) -> _Call[Refund]:
    payload: dict[str, Any] = {"payment_intent": request.payment_id}
    if request.amount:
        payload["amount"] = request.amount.amount
    return _Call("POST", "/v1/refunds", payload, _read_refund)


def _void(request: VoidRequest) -> _Call[Payment]:
    return _Call("POST", f"/v1/payment_intents/{request.payment_id}/cancel", {}, _read_payment)


def _lookup(request: PaymentLookup) -> _Call[Payment]:
    return _Call("GET", f"/v1/payment_intents/{request.payment_id}", None, _read_payment)


class _HttpPay(HttpVendor):
    """What both twins share: settings, and how one call becomes an HTTP request; the
    core's HTTP toolkit maps failed exchanges and error answers (402: declined)."""

    vendor_name = "httppay"

    def __init__(self, settings: AdapterSettings) -> None:
        self.options: HttpPayOptions = settings.options
        super().__init__(settings, base_url=self.options.base_url)

    def timeout_for(self, ctx: CallContext) -> float | None:
        return None if self.options.ignore_timeout else super().timeout_for(ctx)

    def _send(self, call: _Call[Any], ctx: CallContext) -> dict[str, Any]:
        headers = {}
        if ctx.idempotency_key and call.method == "POST":
            headers["Idempotency-Key"] = ctx.idempotency_key
        return {"json": call.payload, "headers": headers}

    def _result(self, response: httpx.Response, call: _Call[T]) -> T:
        return self.read(response, lambda data: call.read(data, self.vendor), "a payment")


class HttpPaymentAdapter(_HttpPay, HttpAdapter):
    """The synchronous httppay adapter."""

    def _call(self, call: _Call[T], ctx: CallContext) -> T:
        response = self.request(call.method, call.path, ctx, **self._send(call, ctx))
        return self._result(response, call)

    def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        return self._call(_create(request, capture=False), ctx)

    def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        return self._call(_create(request, capture=True), ctx)

    def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment:
        return self._call(_capture(request), ctx)

    def refund(self, request: RefundRequest, ctx: CallContext) -> Refund:
        return self._call(_refund(request), ctx)

    def void(self, request: VoidRequest, ctx: CallContext) -> Payment:
        return self._call(_void(request), ctx)

    def get(self, request: PaymentLookup, ctx: CallContext) -> Payment:
        return self._call(_lookup(request), ctx)


class AsyncHttpPaymentAdapter(_HttpPay, AsyncHttpAdapter):
    """The asynchronous httppay adapter."""

    async def _call(self, call: _Call[T], ctx: CallContext) -> T:
        response = await self.request(call.method, call.path, ctx, **self._send(call, ctx))
        return self._result(response, call)

    async def authorize(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        return await self._call(_create(request, capture=False), ctx)

    async def purchase(self, request: PaymentRequest, ctx: CallContext) -> Payment:
        return await self._call(_create(request, capture=True), ctx)

    async def capture(self, request: CaptureRequest, ctx: CallContext) -> Payment:
        return await self._call(_capture(request), ctx)

    async def refund(self, request: RefundRequest, ctx: CallContext) -> Refund:
        return await self._call(_refund(request), ctx)

    async def void(self, request: VoidRequest, ctx: CallContext) -> Payment:
        return await self._call(_void(request), ctx)

    async def get(self, request: PaymentLookup, ctx: CallContext) -> Payment:
        return await self._call(_lookup(request), ctx)


@hookimpl
def register_payment_vendors(register: Registrar) -> None:
    for key, honours_keys in (("httppay", True), ("httppay-nokeys", False)):
        register(
            key,
            HttpPaymentAdapter,
            async_impl=AsyncHttpPaymentAdapter,
            options=HttpPayOptions,
            idempotency_keys=honours_keys,
            description="Stripe-like HTTP payments (test stand-in)",
        )


# -- fixtures --------------------------------------------------------------------------------


def _payment_server() -> FaultServer:
    return FaultServer(default=StripeLikeVendor())


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A started fault server answering like a Stripe-like payment API; closed after."""
    with _payment_server() as server:
        yield server


@pytest.fixture
def fallback_server() -> Iterator[FaultServer]:
    """A second payment fault server, for the fallback vendor."""
    with _payment_server() as server:
        yield server


@pytest.fixture
def httppay_registry(registry: PluginRegistry) -> PluginRegistry:
    """The built-in plugin plus the httppay vendors."""
    registry.register(
        types.SimpleNamespace(__name__="httppay", register_payment_vendors=register_payment_vendors)
    )
    return registry


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port


#: make_manager(resilience, *, clock=None, async_=False, vendor="httppay",
#:              fallback=[("httppay-nokeys", server)], base_url=None, options=None)
MakeManager = Callable[..., Any]


@pytest.fixture
async def make_manager(
    fault_server: FaultServer, httppay_registry: PluginRegistry
) -> AsyncIterator[MakeManager]:
    """Build a ConnectorManager (or, with ``async_=True``, an AsyncConnectorManager) whose
    ``payment`` connector calls `fault_server` (or `base_url`) through `vendor`, with the
    given ``resilience`` table, extra vendor ``options`` and ``fallback`` chain of
    ``(vendor, server)``; `clock` None is the real clock; the memory call log is on. Every
    manager made is closed at teardown."""
    made: list[ConnectorManager | AsyncConnectorManager] = []

    def make(
        resilience: Mapping[str, Any],
        *,
        clock: Any = None,
        async_: bool = False,
        vendor: str = "httppay",
        fallback: Sequence[tuple[str, FaultServer]] = (),
        base_url: str | None = None,
        options: Mapping[str, Any] | None = None,
        propagate_trace: bool = True,
    ) -> ConnectorManager | AsyncConnectorManager:
        table = {
            "propagate_trace": propagate_trace,
            "vendor": vendor,
            "options": {"base_url": base_url or fault_server.url, **(options or {})},
            "resilience": dict(resilience),
            "fallback": [{"vendor": v, "options": {"base_url": s.url}} for v, s in fallback],
        }
        config = {
            "connectors": {"payment": table},
            "observability": {"loggers": ["memory"]},
        }
        kind = AsyncConnectorManager if async_ else ConnectorManager
        manager = kind.from_config(config, registry=httppay_registry, clock=clock, environ={})
        made.append(manager)
        return manager

    yield make
    errors: list[ConnectorError] = []
    for manager in made:
        try:
            if isinstance(manager, AsyncConnectorManager):
                await manager.aclose()
            else:
                manager.close()
        except ConnectorError as exc:  # close every manager, then report
            errors.append(exc)
    assert not errors, errors
