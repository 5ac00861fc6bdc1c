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
import statistics
import time
import types
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import msgspec
import pybreaker
from limits import parse
from limits import storage as limits_storage
from limits import strategies as limits_strategies
from limits.aio import storage as aio_storage
from limits.aio import strategies as aio_strategies
from tenacity import retry, stop_after_attempt, wait_exponential

from nexus_connector_core import (
    AsyncConnectorManager,
    ConnectorManager,
    PluginRegistry,
    Registrar,
    SmsMessage,
    SmsReceipt,
    hookimpl,
)

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
    "rate_limit": {"rate": 1e9, "burst": 1_000_000_000},
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


def paired_median(
    raw: Callable[[], object], piped: Callable[[], object], calls: int
) -> tuple[float, float]:
    """Alternate short blocks of both, so drift on a busy machine hits them alike."""
    raw_blocks, piped_blocks = [], []
    block = max(calls // 20, 1)
    for _ in range(20):
        for func, sink in ((raw, raw_blocks), (piped, piped_blocks)):
            start = time.perf_counter_ns()
            for _ in range(block):
                func()
            sink.append((time.perf_counter_ns() - start) / block)
    return statistics.median(raw_blocks), statistics.median(piped_blocks)


async def apaired_median(
    raw: Callable[[], Awaitable[object]], piped: Callable[[], Awaitable[object]], calls: int
) -> tuple[float, float]:
    raw_blocks, piped_blocks = [], []
    block = max(calls // 20, 1)
    for _ in range(20):
        for func, sink in ((raw, raw_blocks), (piped, piped_blocks)):
            start = time.perf_counter_ns()
            for _ in range(block):
                await func()
            sink.append((time.perf_counter_ns() - start) / block)
    return statistics.median(raw_blocks), statistics.median(piped_blocks)


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
    try:
        print("keep-alive httpx POST to a local server (median of alternating blocks)")
        with (
            httpx.Client() as client,
            ConnectorManager.from_config(config, registry=registry) as manager,
        ):
            sms = manager.sms
            raw, via = paired_median(
                lambda: client.post(url, data=form), lambda: sms.send(MESSAGE), calls
            )
        _row("raw httpx.Client.post", raw)
        _row("the same through the full pipeline", via, f"+{(via - raw) / raw:.1%} (goal <= 5%)")

        async def async_http() -> tuple[float, float]:
            async with (
                httpx.AsyncClient() as client,
                AsyncConnectorManager.from_config(config, registry=registry) as manager,
            ):
                sms = manager.sms
                return await apaired_median(
                    lambda: client.post(url, data=form), lambda: sms.send(MESSAGE), calls
                )

        araw, avia = asyncio.run(async_http())
        _row("raw httpx.AsyncClient.post", araw)
        _row(
            "the same through the full pipeline", avia, f"+{(avia - araw) / araw:.1%} (goal <= 5%)"
        )
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
