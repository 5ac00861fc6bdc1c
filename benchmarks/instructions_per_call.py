"""CPU instructions per call through the full pipeline: a count that does not move with the
load of the machine (valgrind's callgrind counts instructions, not seconds).

    python benchmarks/instructions_per_call.py --compare OTHER_CHECKOUT [--calls 2000]
        [--variant plain|slo|slo-flush]

runs, for this checkout and (with ``--compare``) another one, the full pipeline of
``pipeline_overhead.py`` (observe, idempotency, deadline, retry with a budget, breaker, rate
limiter, bulkhead, timeout; memory state backend; no OpenTelemetry SDK; logging at WARNING)
under callgrind twice — with no calls and with ``--calls`` calls after the same set-up — and
prints the instructions per call (the difference over the number of calls), sync and async.
``--variant slo`` gives the connector an SLO, so each call is counted (what the hot path
adds: the background flush is kept out of the run); ``slo-flush`` also drains and flushes the
counts within the run (what counting costs in all, the background thread's share included).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

_BODY = r"""
import asyncio, sys, types
from nexus_connector_core import (AsyncConnectorManager, ConnectorManager, PluginRegistry,
    SmsMessage, SmsReceipt, hookimpl)

RECEIPT = SmsReceipt(vendor="bench", vendor_id="SM0", to="+14155550100")
MESSAGE = SmsMessage("+14155550100", "benchmark")

class Adapter:
    def __init__(self, settings): pass
    def send(self, message, ctx): return RECEIPT
    def get_status(self, request, ctx): raise NotImplementedError

class AsyncAdapter:
    def __init__(self, settings): pass
    async def send(self, message, ctx): return RECEIPT
    async def get_status(self, request, ctx): raise NotImplementedError

@hookimpl
def register_sms_vendors(register):
    register("bench", Adapter, async_impl=AsyncAdapter)

registry = PluginRegistry()
plugin = types.SimpleNamespace(__name__="bench", register_sms_vendors=register_sms_vendors)
registry.register(plugin)
config = {"connectors": {"sms": {"vendor": "bench", "resilience": {
    "timeout": 10.0, "deadline": 30.0,
    "retry": {"max_attempts": 3, "budget": {"ratio": 0.2}},
    "circuit_breaker": {"window": 20, "min_calls": 10},
    "rate_limit": {"rate": 1e6, "burst": 1_000_000},
    "bulkhead": {"max_concurrent": 1000}}}}}
calls = int(sys.argv[1]); mode = sys.argv[2]; variant = sys.argv[3]
if variant != "plain":
    config["connectors"]["sms"]["slo"] = {"availability": 0.999, "latency": {"p95": 0.5}}
    config["alerting"] = {"evaluate_every": 0, "flush_every": 60.0}

def flushed(manager):
    if variant == "slo-flush":
        manager.monitor.flush()

if mode == "sync":
    manager = ConnectorManager.from_config(config, registry=registry)
    send = manager.sms.send
    for _ in range(200): send(MESSAGE)
    flushed(manager)
    for _ in range(calls): send(MESSAGE)
    flushed(manager)
else:
    async def main():
        manager = AsyncConnectorManager.from_config(config, registry=registry)
        send = manager.sms.send
        for _ in range(200): await send(MESSAGE)
        flushed(manager)
        for _ in range(calls): await send(MESSAGE)
        flushed(manager)
    asyncio.run(main())
"""


def _instructions(checkout: Path, calls: int, mode: str, variant: str) -> int:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "bench.py"
        script.write_text(_BODY)
        out = Path(folder) / "callgrind.out"
        env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONHASHSEED": "0"}
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(script),
                str(calls),
                mode,
                variant,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        assert summary is not None
        return int(summary.group(1))


def per_call(checkout: Path, calls: int, mode: str, variant: str = "plain") -> float:
    ran = _instructions(checkout, calls, mode, variant)
    return (ran - _instructions(checkout, 0, mode, variant)) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--compare", type=Path, help="another checkout (its root folder)")
    parser.add_argument("--variant", choices=("plain", "slo", "slo-flush"), default="plain")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    checkouts = [("this checkout", here)]
    if args.compare:
        checkouts.insert(0, (f"{args.compare}", args.compare.resolve()))
    for mode in ("sync", "async"):
        for name, checkout in checkouts:
            print(
                f"{mode:5}  {per_call(checkout, args.calls, mode, args.variant):10.0f} "
                f"instructions/call  {name} ({args.variant})"
            )


if __name__ == "__main__":
    main()
