"""What the resilience pipeline costs per call, against what a user would build by hand.

    python benchmarks/pipeline_overhead.py [--calls 20000] [--http-calls 2000]

Measured in one run, sync and async, each the best of several rounds:

- a plain call of the vendor function (the floor);
- the full Nexus Connector pipeline around it: observe, idempotency step, deadline, retry
  (with a retry budget), circuit breaker, rate limiter (never reached), bulkhead and
  attempt timeout, on the in-memory state backend, no telemetry SDK installed;
- the hand-built stack: tenacity ``@retry(stop=stop_after_attempt(3),
  wait=wait_exponential())`` + pybreaker ``CircuitBreaker(fail_max=5)`` + limits
  ``FixedWindowRateLimiter`` on ``MemoryStorage`` with a limit never reached;
- a keep-alive httpx call to a local HTTP server, raw and through the pipeline.

Goals (issue 3): pipeline overhead at most 1/4 of the hand-built stack's, and at most 5%
on the local httpx call.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import time
import types
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import msgspec
import pybreaker
from limits import parse, storage as limits_storage, strategies as limits_strategies
from limits.aio import storage as aio_storage, strategies as aio_strategies
from tenacity import retry, stop_after_attempt, wait_exponential

from nexus_connector_core import (
    SYSTEM_CLOCK,
    AsyncConnectorManager,
    CallContext,
    ConnectorManager,
    PluginRegistry,
    Registrar,
    SmsMessage,
    SmsReceipt,
    hookimpl,
)
from nexus_connector_core._sms import SMS_SEND

RECEIPT = SmsReceipt(vendor="bench", vendor_id="SM0", to="+14155550100")
MESSAGE = SmsMessage("+14155550100", "benchmark")
ROUNDS = 7

# -- the vendor function, plain and as adapters ---------------------------------------------


def vendor_call(message: SmsMessage) -> SmsReceipt:
    return RECEIPT


async def async_vendor_call(message: SmsMessage) -> SmsReceipt:
    return RECEIPT


class FunctionAdapter:
    def __init__(self, settings: Any) -> None:
        pass

    def send(self, message: SmsMessage, ctx: Any) -> SmsReceipt:
        return vendor_call(message)

    def get_status(self, request: Any, ctx: Any) -> Any:
        raise NotImplementedError


class AsyncFunctionAdapter(FunctionAdapter):
    async def send(self, message: SmsMessage, ctx: Any) -> SmsReceipt:  # type: ignore[override]
        return await async_vendor_call(message)


class HttpOptions(msgspec.Struct, frozen=True):
    url: str


class HttpAdapter:
    """Sends the message to a local server over one keep-alive connection."""

    def __init__(self, settings: Any) -> None:
        self.url = settings.options.url
        self.client = httpx.Client()

    def send(self, message: SmsMessage, ctx: Any) -> SmsReceipt:
        response = self.client.post(self.url, data={"To": message.to, "Body": message.body})
        response.raise_for_status()
        return RECEIPT

    def get_status(self, request: Any, ctx: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()


class AsyncHttpAdapter:
    def __init__(self, settings: Any) -> None:
        self.url = settings.options.url
        self.client = httpx.AsyncClient()

    async def send(self, message: SmsMessage, ctx: Any) -> SmsReceipt:
        response = await self.client.post(self.url, data={"To": message.to, "Body": message.body})
        response.raise_for_status()
        return RECEIPT

    async def get_status(self, request: Any, ctx: Any) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.client.aclose()


@hookimpl
def register_sms_vendors(register: Registrar) -> None:
    register("bench", FunctionAdapter, async_impl=AsyncFunctionAdapter)
    register("benchhttp", HttpAdapter, async_impl=AsyncHttpAdapter, options=HttpOptions)


def _registry() -> PluginRegistry:
    registry = PluginRegistry()
    registry.register(
        types.SimpleNamespace(__name__="bench", register_sms_vendors=register_sms_vendors)
    )
    return registry


FULL_PIPELINE = {
    "timeout": 10.0,
    "deadline": 30.0,
    "retry": {"max_attempts": 3, "budget": {"ratio": 0.2}},
    "circuit_breaker": {"window": 20, "min_calls": 10},
    "rate_limit": {"rate": 1e6, "burst": 1_000_000},  # the most a config may say; never reached
    "bulkhead": {"max_concurrent": 1000},
}


def _config(vendor: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "connectors": {
            "sms": {"vendor": vendor, "options": options or {}, "resilience": FULL_PIPELINE}
        },
    }


# -- the hand-built stack -------------------------------------------------------------------


def hand_built(func: Callable[[SmsMessage], SmsReceipt]) -> Callable[[SmsMessage], SmsReceipt]:
    breaker = pybreaker.CircuitBreaker(fail_max=5)
    limiter = limits_strategies.FixedWindowRateLimiter(limits_storage.MemoryStorage())
    item = parse("1000000000/second")

    @retry(stop=stop_after_attempt(3), wait=wait_exponential())
    def call(message: SmsMessage) -> SmsReceipt:
        if not limiter.hit(item, "sms"):
            raise RuntimeError("rate limited")
        return breaker.call(func, message)  # type: ignore[no-any-return]

    return call


def async_hand_built(
    func: Callable[[SmsMessage], Awaitable[SmsReceipt]],
) -> Callable[[SmsMessage], Awaitable[SmsReceipt]]:
    breaker = pybreaker.CircuitBreaker(fail_max=5)
    limiter = aio_strategies.FixedWindowRateLimiter(aio_storage.MemoryStorage())
    item = parse("1000000000/second")

    @retry(stop=stop_after_attempt(3), wait=wait_exponential())
    async def call(message: SmsMessage) -> SmsReceipt:
        if not await limiter.hit(item, "sms"):
            raise RuntimeError("rate limited")
        with breaker.calling():
            return await func(message)

    return call


# -- timing ---------------------------------------------------------------------------------


def best_ns(func: Callable[[], object], calls: int) -> float:
    func()
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(calls):
            func()
        rounds.append((time.perf_counter_ns() - start) / calls)
    return min(rounds)


async def abest_ns(func: Callable[[], Awaitable[object]], calls: int) -> float:
    await func()
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(calls):
            await func()
        rounds.append((time.perf_counter_ns() - start) / calls)
    return min(rounds)


def paired(
    raw: Callable[[], object], piped: Callable[[], object], calls: int
) -> tuple[float, float]:
    """Median raw call, and median of the per-pair differences (piped - raw).

    Each pair runs the two back to back in a random order, so a busy machine's noise and
    any first/second bias hit both alike; the median of the differences drops outliers.
    """
    raw_times, differences = [], []
    clock = time.perf_counter_ns
    order = random.Random(7)
    for _ in range(calls):
        first, second = (raw, piped) if order.random() < 0.5 else (piped, raw)
        start = clock()
        first()
        middle = clock()
        second()
        end = clock()
        a, b = middle - start, end - middle
        raw_time, piped_time = (a, b) if first is raw else (b, a)
        raw_times.append(raw_time)
        differences.append(piped_time - raw_time)
    return statistics.median(raw_times), statistics.median(differences)


async def apaired(
    raw: Callable[[], Awaitable[object]], piped: Callable[[], Awaitable[object]], calls: int
) -> tuple[float, float]:
    raw_times, differences = [], []
    clock = time.perf_counter_ns
    order = random.Random(7)
    for _ in range(calls):
        first, second = (raw, piped) if order.random() < 0.5 else (piped, raw)
        start = clock()
        await first()
        middle = clock()
        await second()
        end = clock()
        a, b = middle - start, end - middle
        raw_time, piped_time = (a, b) if first is raw else (b, a)
        raw_times.append(raw_time)
        differences.append(piped_time - raw_time)
    return statistics.median(raw_times), statistics.median(differences)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response and no Nagle: else delayed ACKs add 40 ms to every call.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"sid": "SM0", "status": "queued"}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(ready: multiprocessing.Queue[int]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ready.put(server.server_address[1])
    server.serve_forever()


def _row(name: str, ns: float | None, note: str = "") -> None:
    value = f"{ns / 1000:>10.2f}" if ns is not None else " " * 10
    print(f"  {name:<58} {value}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--http-calls", type=int, default=2000)
    args = parser.parse_args()
    registry = _registry()
    title = f"per call (best of {ROUNDS} rounds)"
    print(f"{title:<60} {'µs':>10}")
    print("sync")
    _sync_part(registry, args.calls)
    print("async")
    asyncio.run(_async_part(registry, args.calls))
    _http_part(registry, args.http_calls)


def _sync_part(registry: PluginRegistry, calls: int) -> None:
    plain = best_ns(lambda: vendor_call(MESSAGE), calls)
    with ConnectorManager.from_config(_config("bench"), registry=registry) as manager:
        sms = manager.sms
        piped = best_ns(lambda: sms.send(MESSAGE), calls)
    stack_call = hand_built(vendor_call)
    stack = best_ns(lambda: stack_call(MESSAGE), calls)
    _report(plain, piped, stack, "tenacity + pybreaker + limits")


async def _async_part(registry: PluginRegistry, calls: int) -> None:
    plain = await abest_ns(lambda: async_vendor_call(MESSAGE), calls)
    async with AsyncConnectorManager.from_config(_config("bench"), registry=registry) as manager:
        sms = manager.sms
        piped = await abest_ns(lambda: sms.send(MESSAGE), calls)
    stack_call = async_hand_built(async_vendor_call)
    stack = await abest_ns(lambda: stack_call(MESSAGE), calls)
    _report(plain, piped, stack, "tenacity + pybreaker + limits (aio)")


def _report(plain: float, piped: float, stack: float, stack_name: str) -> None:
    _row("plain call", plain)
    _row("Nexus Connector, full pipeline", piped)
    _row(stack_name, stack)
    ratio = (piped - plain) / (stack - plain)
    _row("pipeline overhead / hand-built overhead", None, f"{ratio:.1%} (goal <= 25%)")


def _http_part(registry: PluginRegistry, calls: int) -> None:
    # The server runs in its own process, so it does not share this one's GIL.
    ready: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ready,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{ready.get(timeout=10)}/2010-04-01/Messages.json"
    config = _config("benchhttp", {"url": url})
    form = {"To": MESSAGE.to, "Body": MESSAGE.body}
    ctx = CallContext("sms", "benchhttp", SMS_SEND, SYSTEM_CLOCK)
    try:
        print("keep-alive httpx POST to a local server (random-order pairs, medians)")
        with (
            httpx.Client() as client,
            httpx.Client() as other,
            ConnectorManager.from_config(config, registry=registry) as manager,
        ):
            sms = manager.sms
            adapter = sms.adapter
            raw, noise = paired(
                lambda: client.post(url, data=form), lambda: other.post(url, data=form), calls
            )
            direct, extra = paired(
                lambda: adapter.send(MESSAGE, ctx), lambda: sms.send(MESSAGE), calls
            )
        _http_rows("raw httpx.Client.post", raw, noise, direct, extra)

        async def async_http() -> tuple[float, float, float, float]:
            async with (
                httpx.AsyncClient() as client,
                httpx.AsyncClient() as other,
                AsyncConnectorManager.from_config(config, registry=registry) as manager,
            ):
                sms = manager.sms
                adapter = sms.adapter
                raw, noise = await apaired(
                    lambda: client.post(url, data=form),
                    lambda: other.post(url, data=form),
                    calls,
                )
                direct, extra = await apaired(
                    lambda: adapter.send(MESSAGE, ctx), lambda: sms.send(MESSAGE), calls
                )
                return raw, noise, direct, extra

        _http_rows("raw httpx.AsyncClient.post", *asyncio.run(async_http()))
    finally:
        server.terminate()
        server.join()


def _http_rows(name: str, raw: float, noise: float, direct: float, extra: float) -> None:
    _row(name, raw)
    _row("  the same on a second client: the noise floor", noise, f"{noise / raw:+.1%}")
    _row("  the adapter's send() called directly", direct)
    _row(
        "  through the full pipeline: extra per call", extra, f"{extra / direct:+.1%} (goal <= 5%)"
    )


if __name__ == "__main__":
    main()
