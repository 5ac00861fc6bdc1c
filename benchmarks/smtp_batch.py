"""What reusing one SMTP connection for a batch saves: send_batch vs one send per message.

    python benchmarks/smtp_batch.py [--messages 100] [--rounds 5]

Against a local aiosmtpd server on 127.0.0.1 (started here, in a thread, on a free port),
through a real `ConnectorManager` / `AsyncConnectorManager` with the ``smtp`` vendor and the
full pipeline, `--messages` messages are sent two ways:

- ``send_batch``: one call, one connection (greeting, EHLO, STARTTLS, AUTH once), then
  MAIL FROM / RCPT TO / DATA per message;
- ``send`` x N: N calls, each opening and closing its own connection.

Over a plain connection (``tls = "none"``) and over STARTTLS with AUTH PLAIN (a certificate
from a throwaway CA made here with trustme), each with the sync and the async adapter.
Each figure is the median of `--rounds` rounds; the two ways alternate within a round so
that a busy machine slows them alike. Needs ``pip install -e plugins/nexus-connector-smtp``
plus aiosmtpd and trustme.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import nexus_connector_smtp.plugin
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from nexus_connector_core import (
    AsyncConnectorManager,
    ConnectorManager,
    EmailMessage,
    PluginRegistry,
)

# aiosmtpd warns at every login about a deprecated attribute it sets itself.
logging.getLogger("mail.log").setLevel(logging.ERROR)

HOST = "127.0.0.1"
ENVIRON = {"BENCH_SMTP_USER": "bench", "BENCH_SMTP_PASSWORD": "bench-password"}


class _Counter:
    """Accepts everything; counts messages."""

    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(  # noqa: N802 - the hook name aiosmtpd looks for
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.messages += 1
        return "250 2.0.0 Ok: queued"


class _Controller(Controller):
    def _trigger_server(self) -> None:  # bind to port 0, then read the port back
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def _accept(*_: Any) -> AuthResult:
    return AuthResult(success=True)


@contextmanager
def smtp_server(tls: bool, ca: trustme.CA) -> Iterator[tuple[_Controller, _Counter]]:
    handler = _Counter()
    kwargs: dict[str, Any] = {}
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(HOST).configure_cert(context)
        kwargs = {"tls_context": context, "require_starttls": True, "authenticator": _accept}
    controller = _Controller(handler, hostname=HOST, port=0, server_hostname="bench", **kwargs)
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def _messages(count: int) -> list[EmailMessage]:
    return [
        EmailMessage(
            sender="Shop <shop@example.com>",
            to=[f"customer{i}@example.com"],
            subject=f"Order {i} shipped",
            text=f"Hello,\nyour order {i} is on its way.\n" * 5,
            html=f"<p>Hello,<br>your order <b>{i}</b> is on its way.</p>" * 5,
        )
        for i in range(count)
    ]


def _config(port: int, tls: bool, ca_file: str) -> dict[str, Any]:
    table: dict[str, Any] = {
        "vendor": "smtp",
        "options": {"host": HOST, "port": port, "tls": "none", "local_hostname": "bench"},
        "resilience": {"retry": {"enabled": False}},
    }
    if tls:
        table["options"] |= {"tls": "starttls", "ca_file": ca_file}
        table["credentials"] = {
            "username": "env:BENCH_SMTP_USER",
            "password": "env:BENCH_SMTP_PASSWORD",
        }
    return {"connectors": {"email": table}, "observability": {"loggers": []}}


def _timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def measure_sync(
    config: dict[str, Any], registry: PluginRegistry, batch: list[Any]
) -> tuple[float, float]:
    with ConnectorManager.from_config(config, registry=registry, environ=ENVIRON) as manager:
        email = manager.email
        email.send(batch[0])  # warm up: adapter built, modules imported
        batched = _timed(lambda: email.send_batch(batch))
        single = _timed(lambda: [email.send(message) for message in batch])
    return batched, single


def measure_async(
    config: dict[str, Any], registry: PluginRegistry, batch: list[Any]
) -> tuple[float, float]:
    async def run() -> tuple[float, float]:
        manager = AsyncConnectorManager.from_config(config, registry=registry, environ=ENVIRON)
        async with manager:
            email = manager.email
            await email.send(batch[0])
            start = time.perf_counter()
            await email.send_batch(batch)
            batched = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            for message in batch:
                await email.send(message)
            single = (time.perf_counter() - start) * 1000
        return batched, single

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    registry = PluginRegistry()
    registry.register(nexus_connector_smtp.plugin)
    batch = _messages(args.messages)
    ca = trustme.CA()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        ca_file = os.path.join(folder, "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        for tls in (False, True):
            with smtp_server(tls, ca) as (controller, handler):
                config = _config(controller.port, tls, ca_file)
                for twin, measure in (("sync", measure_sync), ("async", measure_async)):
                    results = [measure(config, registry, batch) for _ in range(args.rounds)]
                    batched = statistics.median(r[0] for r in results)
                    single = statistics.median(r[1] for r in results)
                    rows.append((twin, "STARTTLS+AUTH" if tls else "plain", batched, single))
            expected = 2 * args.rounds * (2 * args.messages + 1)
            assert handler.messages == expected, (handler.messages, expected)

    _print_table(rows, args.messages, args.rounds)


def _print_table(rows: list[tuple[str, str, float, float]], n: int, rounds: int) -> None:
    print(f"{n} messages to a local aiosmtpd, median of {rounds} rounds")
    columns = ("adapter", "connection", "way", "total ms", "ms/msg", "speed-up")
    line = "{:<7} {:<14} {:<22} {:>9} {:>8} {:>9}"
    print(line.format(*columns))
    print("-" * len(line.format(*columns)))
    for twin, transport, batched, single in rows:
        for way, total in ((f"send x {n} ({n} conns)", single), ("send_batch (1 conn)", batched)):
            speed_up = f"{single / total:.1f}x"
            print(line.format(twin, transport, way, f"{total:.1f}", f"{total / n:.2f}", speed_up))


if __name__ == "__main__":
    main()
