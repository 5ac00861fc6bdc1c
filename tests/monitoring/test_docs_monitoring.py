"""The SLO and alert examples of the documentation load as they are written."""

from __future__ import annotations

import base64
import re
import tomllib
import types
from pathlib import Path
from typing import Any

from nexus_connector_core import PluginRegistry, hookimpl, load_config

DOCS = Path(__file__).resolve().parents[2] / "docs"
CONNECTORS = '[connectors.payment]\nvendor = "stripe"\n[connectors.email]\nvendor = "memory"\n'
ENVIRON = {"OPS_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"docs-example-key").decode()}


@hookimpl
def register_payment_vendors(register: Any) -> None:
    # The examples name Stripe; the memory vendor stands in for it (no key needed).
    memory = "nexus_connector_core.vendors.memory.payment"
    register(
        "stripe",
        f"{memory}:MemoryPaymentAdapter",
        async_impl=f"{memory}:AsyncMemoryPaymentAdapter",
    )


def _registry() -> PluginRegistry:
    registry = PluginRegistry()
    registry.register(
        types.SimpleNamespace(
            __name__="stand-in", register_payment_vendors=register_payment_vendors
        )
    )
    return registry


def _blocks(page: str, *sections: str) -> list[str]:
    """The first TOML block after each of the section titles."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = []
    for title in sections:
        start = text.index(f"\n{title}\n")
        block = re.search(r"```toml\n(.*?)```", text[start:], re.S)
        assert block is not None, title
        found.append(block.group(1))
    return found


def test_the_configuration_guides_example_loads() -> None:
    (block,) = _blocks("configuration.md", "## SLOs and alerts")
    config = load_config(tomllib.loads(CONNECTORS + block), registry=_registry(), environ=ENVIRON)
    assert [rule.name for rule in config.alerting.rules] == ["payment-burning"]
    assert [spec.name for spec in config.alerting.slos] == ["payment", "payment.capture"]


def test_the_observability_guides_examples_load_together() -> None:
    slo, rules, sink = _blocks("observability.md", "## SLOs", "## Alert rules", "### Sinks")
    config = load_config(
        tomllib.loads(CONNECTORS + slo + rules + sink), registry=_registry(), environ=ENVIRON
    )
    assert [rule.name for rule in config.alerting.rules] == [
        "payment-burning",
        "stripe-down",
        "email-errors",
        "email-slow",
    ]
