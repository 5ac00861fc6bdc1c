"""p50 and p99 of a read against a vendor that stalls 1 s on 5% of reads: without hedging,
with hedging after a fixed delay, and with hedging after the observed p95.

    python benchmarks/hedged_reads.py [--rounds 5] [--calls 200] [--flavour both|sync|async]

The vendor is a bare asyncio HTTP/1.1 server on 127.0.0.1 in a process of its own: it
answers a small JSON body at once, except that each request, with probability 0.05 (a seeded
generator), is answered only after 1 s (a slow success, as a vendor's stalled replica would
give). The client reads it through three connectors of category ``api`` (vendor ``http``,
one ``GET /items/{id}`` endpoint declared ``reads = true``), alike but for ``hedging``:

- ``none``: no hedging (today, and what Python resilience libraries offer);
- ``fixed``: ``hedging = { delay = 0.1 }``;
- ``p95``: ``hedging = { delay = "p95" }`` (the 95th percentile of the last 256 successful
  attempts);

both with the defaults ``max_hedged_attempts = 1`` and ``budget_ratio = 0.1``, retries off,
a 5 s attempt timeout. Each connector is warmed up (50 reads: connections, and the p95's
samples). Then, in each round, each connector makes ``--calls`` reads one after the other,
the connectors taking turns (the order rotating each round); a round's p50 and p99 are the
nearest-rank percentiles of its reads' wall times. Printed: the median over rounds with the
spread (min-max), the extra requests hedging sent (attempts beyond one per read), and the
p99 ratio against ``none``. Goal (issue 16): p99 at least 5x lower with hedging.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import statistics
import time
from typing import Any

from nexus_connector_core import AsyncConnectorManager, ConnectorManager

STALL_SHARE = 0.05
STALL_SECONDS = 1.0
WARM_UP = 50
BODY = b'{"id": "item", "ok": true}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)
SETTINGS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "fixed": {"delay": 0.1},
    "p95": {"delay": "p95"},
}
LABELS = {"none": "no hedging", "fixed": "hedging, delay 0.1 s", "p95": "hedging, delay p95"}


# -- the vendor, in a process of its own ------------------------------------------------------


def _vendor(ports: Any, seed: int) -> None:
    import random

    rng = random.Random(seed)

    class Vendor(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                self.buffer = self.buffer[end + 4 :]  # a GET has no body
                if rng.random() < STALL_SHARE:
                    loop.call_later(STALL_SECONDS, self.answer)
                else:
                    self.answer()

        def answer(self) -> None:
            if not self.transport.is_closing():  # a cancelled loser hung up
                self.transport.write(ANSWER)

    async def main() -> None:
        server = await loop.create_server(Vendor, "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())


# -- the client ---------------------------------------------------------------------------------


def _config(port: int) -> dict[str, Any]:
    connectors = {}
    for name, hedging in SETTINGS.items():
        resilience: dict[str, Any] = {"timeout": 5.0, "deadline": 10.0, "retry": {"enabled": False}}
        if hedging is not None:
            resilience["hedging"] = hedging
        connectors[name] = {
            "category": "api",
            "vendor": "http",
            "options": {"base_url": f"http://127.0.0.1:{port}"},
            "endpoints": {"read": {"method": "GET", "path": "/items/{id}", "reads": True}},
            "resilience": resilience,
        }
    return {"connectors": connectors, "observability": {"loggers": ["memory"], "ring_size": 10**6}}


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(max(math.ceil(fraction * len(ordered)) - 1, 0), len(ordered) - 1)]


class Results:
    """Per setting: each round's p50, p99 (seconds) and extra requests per read."""

    def __init__(self) -> None:
        self.p50: dict[str, list[float]] = {name: [] for name in SETTINGS}
        self.p99: dict[str, list[float]] = {name: [] for name in SETTINGS}
        self.extra: dict[str, list[float]] = {name: [] for name in SETTINGS}

    def add(self, name: str, times: list[float], attempts: int) -> None:
        ordered = sorted(times)
        self.p50[name].append(_percentile(ordered, 0.50))
        self.p99[name].append(_percentile(ordered, 0.99))
        self.extra[name].append((attempts - len(times)) / len(times))


def _attempts(manager: Any, name: str, calls: int) -> int:
    records = [r for r in manager.call_log if r.connector == name][-calls:]
    return sum(r.attempts for r in records)


def _order(round_: int) -> list[str]:
    names = list(SETTINGS)
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


def run_sync(port: int, rounds: int, calls: int) -> Results:
    results = Results()
    manager = ConnectorManager.from_config(_config(port))
    try:
        connectors = {name: manager.connector(name, "api") for name in SETTINGS}
        for connector in connectors.values():
            for i in range(WARM_UP):
                connector.call("read", path={"id": i})
        for round_ in range(rounds):
            for name in _order(round_):
                connector = connectors[name]
                times = []
                for i in range(calls):
                    started = time.perf_counter()
                    connector.call("read", path={"id": i})
                    times.append(time.perf_counter() - started)
                results.add(name, times, _attempts(manager, name, calls))
    finally:
        manager.close()
    return results


async def _run_async(port: int, rounds: int, calls: int) -> Results:
    results = Results()
    manager = AsyncConnectorManager.from_config(_config(port))
    try:
        connectors = {name: manager.connector(name, "api") for name in SETTINGS}
        for connector in connectors.values():
            for i in range(WARM_UP):
                await connector.call("read", path={"id": i})
        for round_ in range(rounds):
            for name in _order(round_):
                connector = connectors[name]
                times = []
                for i in range(calls):
                    started = time.perf_counter()
                    await connector.call("read", path={"id": i})
                    times.append(time.perf_counter() - started)
                results.add(name, times, _attempts(manager, name, calls))
    finally:
        await manager.aclose()
    return results


def run_async(port: int, rounds: int, calls: int) -> Results:
    return asyncio.run(_run_async(port, rounds, calls))


# -- the report -----------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    return (
        f"{statistics.median(values) * 1000:8.1f} "
        f"({min(values) * 1000:.1f}-{max(values) * 1000:.1f})"
    )


def report(flavour: str, results: Results) -> None:
    print(f"\n{flavour}")
    print(f"  {'':24}{'p50 ms (min-max)':>24}{'p99 ms (min-max)':>28}{'extra requests':>18}")
    for name in SETTINGS:
        extra = statistics.median(results.extra[name]) * 100
        print(
            f"  {LABELS[name]:24}{_ms(results.p50[name]):>24}{_ms(results.p99[name]):>28}"
            f"{extra:>17.1f}%"
        )
    none = statistics.median(results.p99["none"])
    ratios = {n: none / statistics.median(results.p99[n]) for n in ("fixed", "p95")}
    verdict = "met" if min(ratios.values()) >= 5 else "NOT met"
    print(
        f"  p99 of no hedging / p99 with hedging: delay 0.1 s {ratios['fixed']:.1f}x, "
        f"delay p95 {ratios['p95']:.1f}x (goal >= 5x: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--flavour", choices=("both", "sync", "async"), default="both")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--budget-ratio", type=float, default=0.1)
    args = parser.parse_args()
    for hedging in SETTINGS.values():
        if hedging is not None:
            hedging["budget_ratio"] = args.budget_ratio

    spawn = multiprocessing.get_context("spawn")
    ports = spawn.Queue()
    vendor = spawn.Process(target=_vendor, args=(ports, args.seed), daemon=True)
    vendor.start()
    port = ports.get(timeout=30)
    print(
        f"hedged reads: a vendor that answers after {STALL_SECONDS:g} s on "
        f"{STALL_SHARE:.0%} of reads; {args.rounds} rounds x {args.calls} reads per setting, "
        f"settings in turns; medians over rounds (min-max); defaults max_hedged_attempts = 1, "
        f"budget_ratio = 0.1"
    )
    try:
        if args.flavour in ("both", "sync"):
            report("sync (ConnectorManager)", run_sync(port, args.rounds, args.calls))
        if args.flavour in ("both", "async"):
            report("async (AsyncConnectorManager)", run_async(port, args.rounds, args.calls))
    finally:
        vendor.terminate()
        vendor.join()


if __name__ == "__main__":
    main()
