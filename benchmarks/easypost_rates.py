"""What a quote costs through the EasyPost adapter, against the same request made by hand, and
what the read cache saves: all against the local EasyPost double over real sockets.

    python benchmarks/easypost_rates.py [--calls 300] [--rounds 5]

Measured per call; each round runs every variant once, in turn (interleaved, so the load
of a shared machine falls on all alike), and the median of the rounds is shown with their
range (min-max):

- a keep-alive httpx POST of the same ``/v2/shipments`` body, its JSON decoded (the floor);
- ``manager.shipping.rates(shipment)`` through the whole pipeline (observe, idempotency,
  deadline, retry, breaker, attempt timeout), building the body, converting the units and
  reading the rates, sync and async;
- the same with ``cache = { ttl = 300 }``: every call after the first is a cache hit.

"By hand" is httpx's default clients with ``auth=``: not a strict floor, since the adapter
runs on the toolkit's clients (the async one on aiohttp's pool when
``nexus-connector-core[aiohttp]`` is installed) and sets its Authorization header itself;
on a shared machine the pipeline has measured at or below it.

The double runs in a process of its own (as EasyPost would), so that its work does not
share this process's interpreter lock; it does the same work for the first two (it builds a
shipment and its rates), so the difference is the library's.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from multiprocessing.connection import Connection
from typing import Any

import httpx
from nexus_connector_easypost import plugin
from nexus_connector_easypost._requests import rates as rates_request
from nexus_connector_easypost.testing import API_KEY, EasyPostDouble

from nexus_connector_core import (
    Address,
    AsyncConnectorManager,
    ConnectorManager,
    Parcel,
    PluginRegistry,
    Shipment,
)
from nexus_connector_core.testing import FaultServer

SHIPMENT = Shipment(
    from_address=Address(
        street1="388 Townsend St",
        city="San Francisco",
        state="CA",
        postal_code="94107",
        country="US",
    ),
    to_address=Address(
        street1="179 N Harbor Dr",
        city="Redondo Beach",
        state="CA",
        postal_code="90277",
        country="US",
    ),
    parcels=[Parcel(weight=2, mass_unit="kg", length=30, width=20, height=10)],
)


def config(url: str, cache: bool) -> dict[str, Any]:
    resilience: dict[str, Any] = {"cache": {"ttl": 300}} if cache else {}
    table = {
        "vendor": "easypost",
        "options": {"base_url": url},
        "credentials": {"api_key": "env:EASYPOST_API_KEY"},
        "resilience": resilience,
    }
    return {"connectors": {"shipping": table}}


def serve(pipe: Connection) -> None:
    """The double, until the parent says stop."""
    with FaultServer(default=EasyPostDouble()) as server:
        pipe.send(server.url)
        pipe.recv()


async def main(calls: int, rounds: int) -> None:
    registry = PluginRegistry()
    registry.register(plugin, "easypost")
    environ = {"EASYPOST_API_KEY": API_KEY}
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=serve, args=(child,), daemon=True)
    process.start()
    try:
        url: str = parent.recv()
        await measure(url, registry, environ, calls, rounds)
    finally:
        parent.send("stop")
        process.join(10)


async def measure(
    url: str, registry: PluginRegistry, environ: dict[str, str], calls: int, rounds: int
) -> None:
    call = rates_request(SHIPMENT)
    sent = {"content": call.body, "headers": {"Content-Type": "application/json"}}
    async with AsyncExitStack() as stack:
        client = stack.enter_context(httpx.Client(base_url=url, auth=(API_KEY, "")))
        aclient = await stack.enter_async_context(
            httpx.AsyncClient(base_url=url, auth=(API_KEY, ""))
        )

        async def by_hand() -> Any:
            return (await aclient.post(call.path, **sent)).json()

        sync: dict[str, Callable[[], Any]] = {
            "httpx by hand (sync)": lambda: client.post(call.path, **sent).json()
        }
        async_: dict[str, Callable[[], Awaitable[Any]]] = {"httpx by hand (async)": by_hand}
        for cache in (False, True):
            label = " + cache hits" if cache else ""
            manager = stack.enter_context(
                ConnectorManager.from_config(config(url, cache), registry=registry, environ=environ)
            )
            amanager = AsyncConnectorManager.from_config(
                config(url, cache), registry=registry, environ=environ
            )
            stack.push_async_callback(amanager.aclose)
            sync[f"pipeline{label} (sync)"] = lambda m=manager: m.shipping.rates(SHIPMENT)
            async_[f"pipeline{label} (async)"] = lambda m=amanager: m.shipping.rates(SHIPMENT)
        for run in sync.values():  # warm-up; fills the caches
            run()
        for arun in async_.values():
            await arun()
        timings: dict[str, list[float]] = {name: [] for name in [*sync, *async_]}
        for _ in range(rounds):
            for name, run in sync.items():
                start = time.perf_counter()
                for _ in range(calls):
                    run()
                timings[name].append((time.perf_counter() - start) / calls * 1e6)
            for name, arun in async_.items():
                start = time.perf_counter()
                for _ in range(calls):
                    await arun()
                timings[name].append((time.perf_counter() - start) / calls * 1e6)
    report(timings, calls, rounds)


def report(timings: dict[str, list[float]], calls: int, rounds: int) -> None:
    """Median µs per call with the range of the rounds, and the pipeline's overhead."""
    print(f"{calls} calls per round, median of {rounds} interleaved rounds (min-max)")
    width = max(map(len, timings))
    medians = {name: statistics.median(runs) for name, runs in timings.items()}
    for name, runs in timings.items():
        spread = f"{min(runs):.1f}-{max(runs):.1f}"
        print(f"{name:<{width}}  {medians[name]:9.1f} µs/call  ({spread})")
    for mode in ("sync", "async"):
        raw = medians[f"httpx by hand ({mode})"]
        piped = medians[f"pipeline ({mode})"]
        print(
            f"{f'pipeline / by hand ({mode})':<{width}}  {piped / raw:9.2f}x  "
            f"(overhead {piped - raw:.1f} µs/call)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.rounds))
