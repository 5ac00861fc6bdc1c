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

    python benchmarks/async_http.py --instructions [--requests 1000] [--client NAME ...]

counts instead the CPU instructions per request of each client (valgrind's callgrind, which
does not move with the load of the machine): the client runs in a process of its own under
callgrind twice, after the same set-up and warm-up, once with no requests and once with
``--requests`` (at the same concurrency), and the difference is shared among the requests.
The server runs outside valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
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


async def _raw_aiohttp(target: str, stack: AsyncExitStack) -> Call:
    session = await stack.enter_async_context(aiohttp.ClientSession())

    async def raw_aiohttp() -> object:
        async with session.post(target, data=bench.FORM) as response:
            return await response.json()

    return raw_aiohttp


def _httpx_call(client: Any, target: str) -> Call:
    async def call() -> object:
        response = await client.post(target, data=bench.FORM)
        response.raise_for_status()
        return response.json()

    return call


async def _httpx_default(target: str, stack: AsyncExitStack) -> Call:
    return _httpx_call(await stack.enter_async_context(httpx.AsyncClient()), target)


async def _httpx_aiohttp(target: str, stack: AsyncExitStack) -> Call:
    client = httpx.AsyncClient(transport=AiohttpTransport())
    return _httpx_call(await stack.enter_async_context(client), target)


async def _httpx2(target: str, stack: AsyncExitStack) -> Call:
    import httpx2

    return _httpx_call(await stack.enter_async_context(httpx2.AsyncClient()), target)


def _pipeline(transport: str) -> Callable[[str, AsyncExitStack], Awaitable[Call]]:
    async def make(target: str, stack: AsyncExitStack) -> Call:
        url = target.removesuffix(bench.PATH)
        config = bench.config("bench", base_url=url, transport=transport)
        if os.environ.get(_VALGRIND):  # everything runs ~50x slower: no attempt may time out
            slow = {**bench.FULL_PIPELINE, "timeout": 600.0, "deadline": 900.0}
            config["connectors"]["sms"]["resilience"] = slow
        manager = AsyncConnectorManager.from_config(config, registry=bench.registry())
        sms = (await stack.enter_async_context(manager)).sms

        def call() -> Awaitable[object]:
            return sms.send(bench.MESSAGE)

        return call

    return make


#: Set in the environment of the instructions mode's child, which runs under valgrind.
_VALGRIND = "ASYNC_HTTP_BENCH_UNDER_VALGRIND"


def _httpx2_installed() -> bool:
    try:
        import httpx2  # noqa: F401
    except ImportError:
        return False
    return True


#: Every client measured, by the name the report gives it.
CLIENTS: dict[str, Callable[[str, AsyncExitStack], Awaitable[Call]]] = {
    "raw aiohttp": _raw_aiohttp,
    "httpx AsyncClient (default)": _httpx_default,
    "httpx over httpx-aiohttp": _httpx_aiohttp,
    "httpx2 AsyncClient": _httpx2,
    "pipeline + toolkit, transport=aiohttp": _pipeline("aiohttp"),
    "pipeline + toolkit, transport=httpx": _pipeline("httpx"),
}


async def _clients(url: str, stack: AsyncExitStack) -> dict[str, Call]:
    clients: dict[str, Call] = {}
    for name, make in CLIENTS.items():
        if name.startswith("httpx2") and not _httpx2_installed():
            print("(httpx2 is not installed: pip install httpx2 to measure it too)")
            continue
        clients[name] = await make(url + bench.PATH, stack)
    return clients


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


async def _count(call: Call, requests: int, concurrency: int) -> None:
    """Exactly `requests` calls by `concurrency` tasks (the instructions mode's load)."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _one_client(name: str, url: str, requests: int, concurrency: int) -> None:
    """The child of the instructions mode: set up `name`, warm it up, send `requests`."""
    async with AsyncExitStack() as stack:
        call = await CLIENTS[name](url + bench.PATH, stack)
        await _count(call, 500, concurrency)  # connections opened, code warm
        await _count(call, requests, concurrency)


def _instructions(name: str, url: str, requests: int, concurrency: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = [sys.executable, __file__, "--client", name, "--url", url]
        command += ["--requests", str(requests), "--concurrency", str(concurrency)]
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
            env={**os.environ, "PYTHONHASHSEED": "0", _VALGRIND: "1"},
            check=True,
            capture_output=True,
        )
        summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        assert summary is not None
        return int(summary.group(1))


def instructions(names: list[str], requests: int, concurrency: int) -> None:
    print(
        f"CPU instructions per request (callgrind), {concurrency} concurrent POSTs to "
        f"127.0.0.1, ({requests} requests - none) / {requests}"
    )
    with bench.LocalServer() as url:
        for name in names:
            ran = _instructions(name, url, requests, concurrency)
            idle = _instructions(name, url, 0, concurrency)
            print(f"  {name:<44} {(ran - idle) / requests:>10.0f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--instructions", action="store_true", help="count instructions")
    parser.add_argument("--requests", type=int, default=1000, help="with --instructions")
    parser.add_argument("--client", action="append", choices=sorted(CLIENTS), help="(repeat)")
    parser.add_argument("--url", help=argparse.SUPPRESS)  # the instructions mode's child
    args = parser.parse_args()
    if args.url:
        asyncio.run(_one_client(args.client[0], args.url, args.requests, args.concurrency))
    elif args.instructions:
        names = args.client or [name for name in CLIENTS if "httpx2" not in name]
        instructions(names, args.requests, args.concurrency)
    else:
        asyncio.run(main(args.rounds, args.seconds, args.concurrency))
