"""What a keep-alive HTTP call through an adapter on the toolkit costs beyond the same httpx
call raw and the pipeline's own cost.

    python benchmarks/http_call_excess.py [--rounds 7] [--calls 300]

For each of sync (httpx's transport) and async (httpx's transport, then aiohttp's), one call
at a time to a local keep-alive server (a process of its own), the CPU time of this process
per call (so the server's time and the machine's other load stay out of it) of:

- raw: the same POST with httpx (``client.post(path, data=form)`` on a client with the
  vendor's ``base_url``, on the same transport) and its JSON read;
- plain: the vendor as a plain function (returns the receipt);
- pipeline around plain: that function through the whole pipeline (observe, idempotency,
  deadline, retry with a budget, breaker, rate limiter, bulkhead, attempt timeout);
- adapter: the toolkit's adapter called directly (what the toolkit adds to raw);
- adapter through pipeline: the call an application makes.

excess = adapter through pipeline - raw - (pipeline around plain - plain): what an HTTP call
costs beyond the raw call and the in-process pipeline (issue 16: under +5 us). Each round
measures every variant in turn (interleaved); medians of the rounds, with their range, and
the excess computed within each round. A last pair runs the pipeline around the plain
function right after an HTTP call: the pipeline's own cost on caches the call has just
evicted, which is what "the pipeline around the HTTP call" costs beyond "around plain".
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import _local_vendor as bench
import httpx
from httpx_aiohttp import AiohttpTransport

from nexus_connector_core import SYSTEM_CLOCK, AsyncConnectorManager, CallContext, ConnectorManager
from nexus_connector_core._sms import SMS_SEND

#: (what is measured, first, second): each a median of per-call differences second - first.
PAIRS = (
    ("toolkit: adapter - raw", "raw", "adapter"),
    ("pipeline around the HTTP call", "adapter", "adapter through pipeline"),
    ("pipeline around plain", "plain", "pipeline around plain"),
    # The same, each right after an HTTP call (its time in both): the pipeline on caches the
    # call has just filled with its own code and data.
    ("  the same, after an HTTP call", "HTTP call, then plain", "HTTP call, then pipeline"),
)


def _ctx() -> CallContext:
    return CallContext("sms", "bench", SMS_SEND, SYSTEM_CLOCK)


def _paired(first: Callable[[], object], second: Callable[[], object], calls: int) -> float:
    """Median of (second - first) over `calls` back-to-back pairs in a random order, in us:
    a load spike hits both of a pair alike, and the median drops the pairs it split."""
    clock, order, differences = time.perf_counter_ns, random.Random(7), []
    for _ in range(calls):
        swap = order.random() < 0.5
        a, b = (second, first) if swap else (first, second)
        start = clock()
        a()
        middle = clock()
        b()
        end = clock()
        one, two = middle - start, end - middle
        differences.append((one - two) if swap else (two - one))
    return statistics.median(differences) / 1000


async def _apaired(
    first: Callable[[], Awaitable[object]], second: Callable[[], Awaitable[object]], calls: int
) -> float:
    clock, order, differences = time.perf_counter_ns, random.Random(7), []
    for _ in range(calls):
        swap = order.random() < 0.5
        a, b = (second, first) if swap else (first, second)
        start = clock()
        await a()
        middle = clock()
        await b()
        end = clock()
        one, two = middle - start, end - middle
        differences.append((one - two) if swap else (two - one))
    return statistics.median(differences) / 1000


def _raw_us(call: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


async def _araw_us(call: Callable[[], Awaitable[object]], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        await call()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def _sync(url: str, rounds: int, calls: int) -> dict[str, list[float]]:
    registry = bench.registry()
    results: dict[str, list[float]] = {name: [] for name in ("raw call", *(p[0] for p in PAIRS))}
    with (
        httpx.Client(base_url=url) as client,
        ConnectorManager.from_config(bench.config("plain"), registry=registry) as plain_m,
        ConnectorManager.from_config(
            bench.config("bench", base_url=url), registry=registry
        ) as http_m,
    ):
        plain, http = plain_m.sms, http_m.sms
        ctx = _ctx()
        variants: dict[str, Callable[[], object]] = {
            "raw": lambda: client.post(bench.PATH, data=bench.FORM).json(),
            "plain": lambda: plain.adapter.send(bench.MESSAGE, ctx),
            "pipeline around plain": lambda: plain.send(bench.MESSAGE),
            "adapter": lambda: http.adapter.send(bench.MESSAGE, ctx),
            "adapter through pipeline": lambda: http.send(bench.MESSAGE),
            "HTTP call, then plain": lambda: (
                http.adapter.send(bench.MESSAGE, ctx),
                plain.adapter.send(bench.MESSAGE, ctx),
            ),
            "HTTP call, then pipeline": lambda: (
                http.adapter.send(bench.MESSAGE, ctx),
                plain.send(bench.MESSAGE),
            ),
        }
        for call in variants.values():
            _raw_us(call, 100)  # warm: connections open, caches filled
        for _ in range(rounds):
            results["raw call"].append(_raw_us(variants["raw"], calls))
            for name, first, second in PAIRS:
                results[name].append(_paired(variants[first], variants[second], calls))
    return results


async def _async(url: str, transport: str, rounds: int, calls: int) -> dict[str, list[float]]:
    registry = bench.registry()
    results: dict[str, list[float]] = {name: [] for name in ("raw call", *(p[0] for p in PAIRS))}
    raw_transport = AiohttpTransport() if transport == "aiohttp" else None
    async with (
        httpx.AsyncClient(base_url=url, transport=raw_transport) as client,
        AsyncConnectorManager.from_config(bench.config("plain"), registry=registry) as plain_m,
        AsyncConnectorManager.from_config(
            bench.config("bench", base_url=url, transport=transport), registry=registry
        ) as http_m,
    ):
        plain, http = plain_m.sms, http_m.sms
        ctx = _ctx()

        async def raw() -> object:
            return (await client.post(bench.PATH, data=bench.FORM)).json()

        async def then_plain() -> object:
            await http.adapter.send(bench.MESSAGE, ctx)
            return await plain.adapter.send(bench.MESSAGE, ctx)

        async def then_pipeline() -> object:
            await http.adapter.send(bench.MESSAGE, ctx)
            return await plain.send(bench.MESSAGE)

        variants: dict[str, Callable[[], Awaitable[object]]] = {
            "raw": raw,
            "plain": lambda: plain.adapter.send(bench.MESSAGE, ctx),
            "pipeline around plain": lambda: plain.send(bench.MESSAGE),
            "adapter": lambda: http.adapter.send(bench.MESSAGE, ctx),
            "adapter through pipeline": lambda: http.send(bench.MESSAGE),
            "HTTP call, then plain": then_plain,
            "HTTP call, then pipeline": then_pipeline,
        }
        for call in variants.values():
            await _araw_us(call, 100)
        for _ in range(rounds):
            results["raw call"].append(await _araw_us(variants["raw"], calls))
            for name, first, second in PAIRS:
                results[name].append(await _apaired(variants[first], variants[second], calls))
    return results


def _report(title: str, results: dict[str, list[float]]) -> None:
    print(title)
    for name, runs in results.items():
        spread = f"({min(runs):+.1f} to {max(runs):+.1f})"
        print(f"  {name:<32} {statistics.median(runs):>+8.1f} us {spread:>20}")
    excess = [
        toolkit + around_http - around_plain
        for toolkit, around_http, around_plain, _ in zip(
            *(results[name] for name, _, _ in PAIRS), strict=True
        )
    ]
    spread = f"({min(excess):+.1f} to {max(excess):+.1f})"
    print(f"  {'excess':<32} {statistics.median(excess):>+8.1f} us {spread:>20}  (goal < +5 us)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    print(
        f"wall time per call; differences are medians of {args.calls} random-order pairs; "
        f"median of {args.rounds} rounds (min to max)"
    )
    with bench.LocalServer() as url:
        _report("sync, httpx's transport", _sync(url, args.rounds, args.calls))
        for transport in ("httpx", "aiohttp"):
            results: Any = asyncio.run(_async(url, transport, args.rounds, args.calls))
            _report(f"async, transport={transport}", results)


if __name__ == "__main__":
    main()
