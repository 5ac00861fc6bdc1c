"""``nexus-connector demo``: a short tour on the embedded defaults, no account, no server."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import msgspec

from .._config import EMBEDDED_DEFAULTS
from .._connectors import CloudStorageConnector
from .._email import EmailMessage
from .._errors import ConnectorError
from .._manager import ConnectorManager
from .._money import Money
from .._observe import MemoryCallLogger
from .._payment import PaymentRequest

# Short waits, so the tour takes a second or two on the real clock.
_QUICK = {"retry": {"base": 0.05, "max_delay": 0.2, "jitter": "none"}}


def _step(number: int, title: str) -> None:
    click.echo()
    click.secho(f"{number}. {title}", bold=True)


def _archive_invoice(storage: CloudStorageConnector, number: int = 42) -> str:
    """Application code: it knows the category, never the vendor."""
    info = storage.put(f"invoices/2026/{number:04}.txt", b"Invoice: 19.99 EUR", "text/plain")
    return f"stored {info.key} ({info.size} bytes) via {info.vendor!r}"


def _storage(vendor: str, options: Mapping[str, Any]) -> dict[str, Any]:
    return {"connectors": {"cloud_storage": {"vendor": vendor, "options": dict(options)}}}


@click.command()
def demo() -> None:
    """A tour on the embedded defaults: a call, a vendor switch by config, retries, a circuit
    breaker opening and a fallback vendor taking over, and the integration-log record."""
    click.secho("Nexus Connector demo - embedded defaults, nothing leaves this process", fg="cyan")
    log = MemoryCallLogger()

    _step(1, "A call: manager.email.send(...) on the memory vendor")
    with ConnectorManager.from_config(EMBEDDED_DEFAULTS, loggers=[log]) as manager:
        receipt = manager.email.send(
            EmailMessage(
                sender="Shop <shop@example.com>",
                to=["Ada Lovelace <ada@example.com>"],
                subject="Your order has shipped",
                text="It is on its way.",
            )
        )
        statuses = ", ".join(f"{k}: {v.status}" for k, v in receipt.recipients.items())
        click.echo(f"   sent: vendor={receipt.vendor!r} id={receipt.vendor_id} ({statuses})")

    _step(2, "A vendor switch by config: the same function, two vendors")
    click.echo('   [connectors.cloud_storage] vendor = "memory"  ->  vendor = "filesystem"')
    with tempfile.TemporaryDirectory(prefix="nexus-demo-") as root:
        for vendor, options in (("memory", {}), ("filesystem", {"root": root})):
            with ConnectorManager.from_config(_storage(vendor, options)) as manager:
                click.echo(f"   {vendor:>10}: {_archive_invoice(manager.cloud_storage)}")
        files = sorted(str(p.relative_to(root)) for p in Path(root).rglob("*.txt"))
        click.echo(f"   on disk: {', '.join(files)}")

    _step(3, "Retries: vendors that fail, then answer")
    email = {"vendor": "memory", "options": {"fail_first": 1}, "resilience": _QUICK}
    with ConnectorManager.from_config({"connectors": {"email": email}}) as manager:
        try:
            manager.email.send(
                EmailMessage(sender="shop@example.com", to=["a@b.example"], text="Hi")
            )
        except ConnectorError as exc:
            click.echo(f"   email.send failed once: {type(exc).__name__}, not retried -")
            click.echo("      the vendor may have sent it, and it takes no idempotency key")
    flaky = {"vendor": "memory", "options": {"fail_first": 2}, "resilience": _QUICK}
    with ConnectorManager.from_config({"connectors": {"payment": flaky}}, loggers=[log]) as manager:
        request = PaymentRequest(amount=Money(1999, "EUR"), payment_method="pm_card_visa")
        payment = manager.payment.purchase(request)
        record = log.records()[-1]
        click.echo(
            f"   payment.purchase failed twice: {payment.status} on attempt {record.attempts},"
            f" charged once ({payment.vendor_id}) -"
        )
        click.echo(
            f"      the vendor honours idempotency keys, so every attempt carried "
            f"{record.idempotency_key}"
        )

    _step(4, "A circuit breaker opens, and the fallback vendor takes over")
    with tempfile.TemporaryDirectory(prefix="nexus-demo-") as root:
        config = {
            "connectors": {
                "cloud_storage": {
                    "vendor": "memory",
                    "options": {"fail_first": 1000},
                    "fallback": [{"vendor": "filesystem", "options": {"root": root}}],
                    "resilience": {
                        **_QUICK,
                        "circuit_breaker": {"window": 4, "min_calls": 4, "open_for": 30.0},
                    },
                }
            }
        }
        with ConnectorManager.from_config(config, loggers=[log]) as manager:
            storage = manager.cloud_storage
            primary = storage.adapter_for("memory")
            plan = storage.guard_plan("put", "memory")
            assert plan is not None  # the demo's connector has a breaker
            for number in range(1, 7):
                before = len(primary.calls)
                served = _archive_invoice(storage, number).split(" via ")[1]
                breaker = manager.state.breaker(plan)
                click.echo(
                    f"   put #{number}: memory tried {len(primary.calls) - before}x, served by "
                    f"{served}; breaker {breaker.state}"
                )

    _step(5, "The integration-log record of that last call")
    click.echo(msgspec.json.format(msgspec.json.encode(log.records()[-1]), indent=2).decode())
    click.echo()
    click.secho("Done. Next: write connectors.toml and run `nexus-connector check`.", fg="green")
