"""What a quote costs through the EasyPost adapter, against the same request made by hand, and
what the read cache saves: all against the local EasyPost double over real sockets.

    python benchmarks/easypost_rates.py [--calls 300] [--rounds 5]

Measured, each the best of several rounds, per call:

- a keep-alive httpx POST of the same ``/v2/shipments`` body, its JSON decoded (the floor);
- ``manager.shipping.rates(shipment)`` through the whole pipeline (observe, idempotency,
  deadline, retry, breaker, attempt timeout), building the body, converting the units and
  reading the rates, sync and async;
- the same with ``cache = { ttl = 300 }``: every call after the first is a cache hit.

The double runs in a process of its own (as EasyPost would), so that its work does not
share this process's interpreter lock; it does the same work for the first two (it builds a
shipment and its rates), so the difference is the library's.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
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


def best(rounds: int, calls: int, run: Callable[[], Any]) -> float:
    """Microseconds per call, the best of `rounds` rounds of `calls` calls."""
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        timings.append((time.perf_counter() - start) / calls)
    return min(timings) * 1e6


async def abest(rounds: int, calls: int, run: Callable[[], Awaitable[Any]]) -> float:
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            await run()
        timings.append((time.perf_counter() - start) / calls)
    return min(timings) * 1e6


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
    results: dict[str, float] = {}
    with httpx.Client(base_url=url, auth=(API_KEY, "")) as client:
        results["httpx by hand (sync)"] = best(
            rounds, calls, lambda: client.post(call.path, **sent).json()
        )
    async with httpx.AsyncClient(base_url=url, auth=(API_KEY, "")) as aclient:

        async def by_hand() -> Any:
            return (await aclient.post(call.path, **sent)).json()

        results["httpx by hand (async)"] = await abest(rounds, calls, by_hand)
    for cache in (False, True):
        label = " + cache hits" if cache else ""
        with ConnectorManager.from_config(
            config(url, cache), registry=registry, environ=environ
        ) as manager:
            results[f"pipeline{label} (sync)"] = best(
                rounds, calls, lambda m=manager: m.shipping.rates(SHIPMENT)
            )
        amanager = AsyncConnectorManager.from_config(
            config(url, cache), registry=registry, environ=environ
        )
        try:
            results[f"pipeline{label} (async)"] = await abest(
                rounds, calls, lambda m=amanager: m.shipping.rates(SHIPMENT)
            )
        finally:
            await amanager.aclose()
    width = max(map(len, results))
    for name, micros in results.items():
        print(f"{name:<{width}}  {micros:9.1f} µs/call")
    for mode in ("sync", "async"):
        raw = results[f"httpx by hand ({mode})"]
        overhead = results[f"pipeline ({mode})"] - raw
        print(
            f"{f'overhead ({mode})':<{width}}  {overhead:9.1f} µs/call "
            f"({overhead / raw:.0%} of the request by hand)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.rounds))
