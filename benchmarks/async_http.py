"""Async vendor calls at 50 concurrent, through the pipeline, against the raw clients.

    python benchmarks/async_http.py [--rounds 5] [--seconds 1.0] [--concurrency 50]

One keep-alive HTTP server on 127.0.0.1 in a process of its own (a bare asyncio protocol,
so the client is the bottleneck); in this process, `concurrency` tasks each send a POST and
read its JSON answer, one after the other, for `seconds`; requests per second and the CPU
time of this process per request. Each round runs every client once, in turn (interleaved),
so the load of a shared machine falls on all alike; the median of the rounds is shown with
their range (min-max).

The clients: raw aiohttp; httpx's default AsyncClient; httpx over httpx-aiohttp's
AiohttpTransport; httpx2 (a fork of httpx under another name), when installed; and a vendor
on the HTTP toolkit called through the whole pipeline of an AsyncConnectorManager (observe,
idempotency, deadline, retry with a budget, breaker, rate limiter, bulkhead, attempt
timeout; memory state backend), once per ``options.transport``.

Goal (issue 16): the pipeline on the default transport >= 10x httpx's default AsyncClient
and >= 40% of raw aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import _local_vendor as bench
import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from nexus_connector_core import AsyncConnectorManager

Call = Callable[[], Awaitable[object]]


async def _run(call: Call, seconds: float, concurrency: int) -> tuple[float, float]:
    """Requests per second, and CPU microseconds of this process per request."""
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return done / wall, cpu / done * 1e6


async def _clients(url: str, stack: AsyncExitStack) -> dict[str, Call]:
    target = url + bench.PATH
    session = await stack.enter_async_context(aiohttp.ClientSession())

    async def raw_aiohttp() -> object:
        async with session.post(target, data=bench.FORM) as response:
            return await response.json()

    def httpx_call(client: Any) -> Call:
        async def call() -> object:
            response = await client.post(target, data=bench.FORM)
            response.raise_for_status()
            return response.json()

        return call

    clients: dict[str, Call] = {"raw aiohttp": raw_aiohttp}
    default = await stack.enter_async_context(httpx.AsyncClient())
    clients["httpx AsyncClient (default)"] = httpx_call(default)
    over = await stack.enter_async_context(httpx.AsyncClient(transport=AiohttpTransport()))
    clients["httpx over httpx-aiohttp"] = httpx_call(over)
    try:
        import httpx2
    except ImportError:
        print("(httpx2 is not installed: pip install httpx2 to measure it too)")
    else:
        fork = await stack.enter_async_context(httpx2.AsyncClient())
        clients[f"httpx2 {httpx2.__version__} AsyncClient"] = httpx_call(fork)
    registry = bench.registry()
    for transport in ("aiohttp", "httpx"):
        config = bench.config("bench", base_url=url, transport=transport)
        manager = AsyncConnectorManager.from_config(config, registry=registry)
        await stack.enter_async_context(manager)
        clients[f"pipeline + toolkit, transport={transport}"] = _send(manager)
    return clients


def _send(manager: AsyncConnectorManager) -> Call:
    sms = manager.sms

    def call() -> Awaitable[object]:
        return sms.send(bench.MESSAGE)

    return call


async def main(rounds: int, seconds: float, concurrency: int) -> None:
    with bench.LocalServer() as url:
        async with AsyncExitStack() as stack:
            clients = await _clients(url, stack)
            for call in clients.values():  # connections opened, code warm
                await _run(call, 0.2, concurrency)
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
            for _ in range(rounds):
                for name, call in clients.items():
                    results[name].append(await _run(call, seconds, concurrency))
    _report(results, rounds, concurrency)


def _report(results: dict[str, list[tuple[float, float]]], rounds: int, concurrency: int) -> None:
    print(
        f"{concurrency} concurrent POSTs to 127.0.0.1, median of {rounds} interleaved rounds "
        "(min-max)"
    )
    print(f"  {'client':<44} {'req/s':>7} {'(min-max)':>13} {'CPU us/req':>11}")
    medians = {}
    for name, runs in results.items():
        rates = [rate for rate, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        medians[name] = statistics.median(rates)
        spread = f"{min(rates):.0f}-{max(rates):.0f}"
        print(f"  {name:<44} {medians[name]:>7.0f} {spread:>13} {cpu:>11.0f}")
    ours = medians["pipeline + toolkit, transport=aiohttp"]
    httpx_default = medians["httpx AsyncClient (default)"]
    aiohttp_raw = medians["raw aiohttp"]
    print(
        f"  pipeline (aiohttp) / httpx default: {ours / httpx_default:.1f}x (goal >= 10x); "
        f"/ raw aiohttp: {ours / aiohttp_raw:.0%} (goal >= 40%)"
    )
    on_httpx = medians["pipeline + toolkit, transport=httpx"]
    print(f"  pipeline (httpx) / httpx default: {on_httpx / httpx_default:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.seconds, args.concurrency))
