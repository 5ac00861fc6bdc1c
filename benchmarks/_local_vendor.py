"""What benchmarks/async_http.py and benchmarks/http_call_excess.py share: a fast local HTTP
server in a process of its own, and an SMS vendor on the HTTP toolkit that sends to it.

The server is a bare asyncio protocol (keep-alive, HTTP/1.1, one canned JSON answer), so
the client under test is the bottleneck. The vendor is what a plugin on the toolkit is: an
`HttpVendor` whose twins post a form and read the answer's JSON into a receipt.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import types
from typing import Any

import msgspec

from nexus_connector_core import (
    AdapterSettings,
    CallContext,
    PluginRegistry,
    Registrar,
    SmsMessage,
    SmsReceipt,
    hookimpl,
)
from nexus_connector_core.http import AsyncHttpAdapter, HttpAdapter, HttpVendor

BODY = b'{"sid": "SM0", "status": "queued"}'
ANSWER = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)
PATH = "/2010-04-01/Messages.json"
MESSAGE = SmsMessage("+14155550100", "benchmark")
FORM = {"To": MESSAGE.to, "Body": MESSAGE.body}
RECEIPT = SmsReceipt(vendor="bench", vendor_id="SM0", to=MESSAGE.to)

#: The resilience table of the benchmarks: every step on (as pipeline_overhead.py).
FULL_PIPELINE: dict[str, Any] = {
    "timeout": 10.0,
    "deadline": 30.0,
    "retry": {"max_attempts": 3, "budget": {"ratio": 0.2}},
    "circuit_breaker": {"window": 20, "min_calls": 10},
    "rate_limit": {"rate": 1e6, "burst": 1_000_000},  # the most a config may say; never reached
    "bulkhead": {"max_concurrent": 1000},
}


# -- the server --------------------------------------------------------------------------------


class _Answering(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = buffer[:end].lower()
            at = head.find(b"content-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else end])
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length :]
            self.transport.write(ANSWER)
        self.buffer = buffer


def _serve(ready: Any) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            _Answering, "127.0.0.1", 0, backlog=1024
        )
        ready.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


class LocalServer:
    """The server, in a process of its own (it must not share this one's CPU time)."""

    def __enter__(self) -> str:
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        self._process = context.Process(target=_serve, args=(ready,), daemon=True)
        self._process.start()
        return f"http://127.0.0.1:{ready.get(timeout=30)}"

    def __exit__(self, *exc_info: object) -> None:
        self._process.terminate()
        self._process.join()


# -- the vendor on the toolkit -------------------------------------------------------------------


class BenchOptions(msgspec.Struct, frozen=True, kw_only=True):
    base_url: str
    transport: str = "auto"


class _Bench(HttpVendor):
    vendor_name = "Bench"

    def __init__(self, settings: AdapterSettings) -> None:
        options: BenchOptions = settings.options
        super().__init__(
            settings, base_url=options.base_url, timeout=10.0, transport=options.transport
        )

    def _receipt(self, body: Any) -> SmsReceipt:
        return SmsReceipt(vendor=self.vendor, vendor_id=body["sid"], to=MESSAGE.to)

    def get_status(self, request: Any, ctx: CallContext) -> Any:
        raise NotImplementedError


class BenchSmsAdapter(_Bench, HttpAdapter):
    def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        response = self.request("POST", PATH, ctx, data={"To": message.to, "Body": message.body})
        return self.read(response, self._receipt, "a message")


class AsyncBenchSmsAdapter(_Bench, AsyncHttpAdapter):
    async def send(self, message: SmsMessage, ctx: CallContext) -> SmsReceipt:
        response = await self.request(
            "POST", PATH, ctx, data={"To": message.to, "Body": message.body}
        )
        return self.read(response, self._receipt, "a message")

    async def get_status(self, request: Any, ctx: CallContext) -> Any:  # type: ignore[override]
        raise NotImplementedError


class PlainAdapter:
    """The same vendor as a plain function: what the pipeline costs around nothing."""

    def __init__(self, settings: Any) -> None:
        pass

    def send(self, message: SmsMessage, ctx: Any) -> SmsReceipt:
        return RECEIPT

    def get_status(self, request: Any, ctx: Any) -> Any:
        raise NotImplementedError


class AsyncPlainAdapter(PlainAdapter):
    async def send(self, message: SmsMessage, ctx: Any) -> SmsReceipt:  # type: ignore[override]
        return RECEIPT


@hookimpl
def register_sms_vendors(register: Registrar) -> None:
    register("bench", BenchSmsAdapter, async_impl=AsyncBenchSmsAdapter, options=BenchOptions)
    register("plain", PlainAdapter, async_impl=AsyncPlainAdapter)


def registry() -> PluginRegistry:
    registry = PluginRegistry()
    plugin = types.SimpleNamespace(__name__="bench", register_sms_vendors=register_sms_vendors)
    registry.register(plugin)
    return registry


def config(vendor: str, **options: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"vendor": vendor, "resilience": FULL_PIPELINE}
    if options:
        table["options"] = options
    return {"connectors": {"sms": table}}
