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
from .._manager import ConnectorManager
from .._money import Money
from .._payment import PaymentRequest


def _step(number: int, title: str) -> None:
    click.echo()
    click.secho(f"{number}. {title}", bold=True)


def _archive_invoice(storage: CloudStorageConnector) -> str:
    """Application code: it knows the category, never the vendor."""
    info = storage.put("invoices/2026/0042.txt", b"Invoice 42: 19.99 EUR", "text/plain")
    listed = storage.list(prefix="invoices/")
    return f"stored {info.key} ({info.size} bytes) via {info.vendor!r}; {len(listed.items)} listed"


def _with_storage(vendor: str, options: Mapping[str, Any]) -> dict[str, Any]:
    config = {k: dict(v) for k, v in EMBEDDED_DEFAULTS.items()}
    config["connectors"] = {"cloud_storage": {"vendor": vendor, "options": dict(options)}}
    return config


@click.command()
def demo() -> None:
    """A tour on the embedded defaults: a call, a vendor switch by config, the log record."""
    click.secho("Nexus Connector demo - embedded defaults, nothing leaves this process", fg="cyan")

    _step(1, "A call: manager.email.send(...) on the memory vendor")
    with ConnectorManager.from_config(EMBEDDED_DEFAULTS) as manager:
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
        payment = manager.payment.purchase(
            PaymentRequest(amount=Money(1999, "EUR"), payment_method="pm_card_visa")
        )
        click.echo(f"   paid: {payment.amount} -> {payment.status} ({payment.vendor_id})")
        record = manager.call_log[-1]

    _step(2, "A vendor switch by config: the same function, two vendors")
    click.echo('   [connectors.cloud_storage] vendor = "memory"  ->  vendor = "filesystem"')
    with tempfile.TemporaryDirectory(prefix="nexus-demo-") as root:
        for vendor, options in (("memory", {}), ("filesystem", {"root": root})):
            with ConnectorManager.from_config(_with_storage(vendor, options)) as manager:
                click.echo(f"   {vendor:>10}: {_archive_invoice(manager.cloud_storage)}")
        files = sorted(str(p.relative_to(root)) for p in Path(root).rglob("*.txt"))
        click.echo(f"   on disk: {', '.join(files)}")

    _step(3, "The integration-log record of the payment call")
    click.echo(msgspec.json.format(msgspec.json.encode(record), indent=2).decode())
    click.echo()
    click.secho("Done. Next: write connectors.toml and run `nexus-connector check`.", fg="green")
