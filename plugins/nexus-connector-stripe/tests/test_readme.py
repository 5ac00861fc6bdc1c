"""The README's examples run as written: its ``connectors.toml`` and its Python, against the
local Stripe (the origin set by an environment override, as a deployment would)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from nexus_connector_stripe.testing import API_KEY, signature_header

from nexus_connector_core import ConnectorManager, Money, PaymentRequest, PluginRegistry
from nexus_connector_core.testing import FakeClock, FaultServer

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```(toml|python)\n(.*?)^```$", re.M | re.S)


def blocks(kind: str) -> list[str]:
    return [
        code for found, code in _BLOCK.findall(README.read_text(encoding="utf-8")) if found == kind
    ]


def test_the_first_example_authorizes_captures_part_and_refunds_part(
    tmp_path: Path, stripe_server: FaultServer, registry: PluginRegistry, clock: FakeClock
) -> None:
    config = tmp_path / "connectors.toml"
    config.write_text(blocks("toml")[0], encoding="utf-8")
    environ = {
        "STRIPE_SECRET_KEY": API_KEY,
        "NEXUS_CONNECTOR__CONNECTORS__PAYMENT__OPTIONS__BASE_URL": stripe_server.url,
    }
    namespace: dict[str, Any] = {}

    with ConnectorManager.from_config(
        config, registry=registry, environ=environ, clock=clock
    ) as manager:
        exec(blocks("python")[0], {"manager": manager}, namespace)  # as written

    payment = namespace["payment"]
    assert (payment.status, payment.captured, payment.refunded) == (
        "partially_refunded",
        Money(1500, "USD"),
        Money(500, "USD"),
    )
    assert payment.metadata == {"order_id": "1042"}


def test_the_webhook_example_reads_an_event_signed_with_the_old_secret() -> None:
    body = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": 1700000000,
            "livemode": False,
            "api_version": "2025-03-31.basil",
            "data": {"object": {"id": "pi_1", "object": "payment_intent"}},
        }
    ).encode()

    # A web framework's request, as far as the example reads it.
    signature = signature_header(body, "whsec_old...", int(time.time()))
    request = SimpleNamespace(headers={"Stripe-Signature": signature})

    with ConnectorManager.from_config({"connectors": {}}) as manager:
        namespace: dict[str, Any] = {"request": request, "raw_body": body, "manager": manager}
        exec(blocks("python")[1], namespace)

    event = namespace["event"]
    assert (event.id, event.type, event.object["id"]) == (
        "evt_1",
        "payment_intent.succeeded",
        "pi_1",
    )


def test_the_application_test_example_passes_with_a_checkout() -> None:
    def checkout(manager: Any, order_id: int) -> None:  # the application's code
        manager.payment.purchase(
            PaymentRequest(
                amount=Money(1999, "USD"),
                payment_method="pm_card_visa",
                customer="cus_ada",
                metadata={"order_id": str(order_id)},
            )
        )

    namespace: dict[str, Any] = {"checkout": checkout}
    exec(blocks("python")[2], namespace)

    # The example's own asserts: one charge of 19.99, though the first answer was lost.
    namespace["test_checkout_charges_the_order_once"]()
