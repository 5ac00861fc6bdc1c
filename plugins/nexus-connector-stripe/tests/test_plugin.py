"""The plugin as installed and configured: what discovery finds, and what a mistake in the
connector's table says."""

from __future__ import annotations

from typing import Any

import pytest
from nexus_connector_stripe.testing import API_KEY

from nexus_connector_core import (
    ConfigError,
    ConnectorManager,
    Money,
    ObjectNotFoundError,
    PaymentRequest,
    PluginRegistry,
)
from nexus_connector_core.testing import FaultServer

CREDENTIALS = {"api_key": "env:STRIPE_SECRET_KEY"}
VISA = PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")


def test_the_installed_distribution_offers_the_payment_vendor_and_the_verifier() -> None:
    registry = PluginRegistry()

    registry.load_entry_points({"NEXUS_CONNECTOR_PLUGINS": "nexus-connector-stripe"})

    [info] = [p for p in registry.plugins() if p.name == "stripe"]
    assert info.distribution == "nexus-connector-stripe"
    assert info.provides == {"payment": ["stripe"], "webhook_verifier": ["stripe"]}
    registration = registry.find("payment", "stripe")
    assert registration.credentials == ("api_key",)
    assert registration.idempotency_keys  # the pipeline keys every call that moves money


def _build(registry: PluginRegistry, environ: dict[str, str], table: dict[str, Any]) -> Any:
    return ConnectorManager.from_config(
        {"connectors": {"payment": {"vendor": "stripe", **table}}},
        registry=registry,
        environ=environ,
    )


@pytest.mark.parametrize(
    ("options", "key", "says"),
    [
        ({"base_url": "api.stripe.com"}, "base_url", "http(s) URL"),
        ({"base_url": "https://api.stripe.com?x=1"}, "base_url", "no query"),
        ({"api_version": "2024-06-20"}, "api_version", "from '2025-03-31.basil' on"),
        ({"api_version": "latest"}, "api_version", "YYYY-MM-DD.name"),
        ({"timeout": 0}, "timeout", "0.001"),
        ({"timeout": float("inf")}, "timeout", "0.001"),
        ({"timeout": float("nan")}, "timeout", "0.001"),
        ({"timeout": 2**70}, "timeout", "0.001"),
        ({"stripe_version": "2025-03-31.basil"}, "stripe_version", "unknown key"),
    ],
)
def test_a_bad_option_is_a_config_error_naming_its_key(
    registry: PluginRegistry, environ: dict[str, str], options: Any, key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _build(registry, environ, {"options": options, "credentials": CREDENTIALS})

    text = str(caught.value)
    assert "connectors.payment.options" in text
    assert key in text
    assert says in text


def test_a_missing_api_key_is_a_config_error_naming_it(
    registry: PluginRegistry, environ: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match=r"connectors\.payment\.credentials\.api_key"):
        _build(registry, environ, {"credentials": {}})


@pytest.mark.parametrize(
    "api_key",
    ["pk_test_publishable0123456789", "sk_test_line\r\nbreak0123456789"],
    ids=["publishable", "line-break"],
)
def test_an_api_key_that_cannot_work_is_a_config_error_that_hides_it(
    registry: PluginRegistry, stripe_server: FaultServer, api_key: str
) -> None:
    table = {"credentials": CREDENTIALS, "options": {"base_url": stripe_server.url}}
    manager = _build(registry, {"STRIPE_SECRET_KEY": api_key}, table)

    with pytest.raises(ConfigError) as caught:
        manager.payment.purchase(VISA)

    assert caught.value.path == "connectors.payment.credentials.api_key"
    assert api_key not in str(caught.value)
    assert stripe_server.hits == 0
    manager.close()


def test_a_proxy_path_in_base_url_is_kept_before_stripes_paths(
    registry: PluginRegistry, stripe_server: FaultServer
) -> None:
    table = {"credentials": CREDENTIALS, "options": {"base_url": f"{stripe_server.url}/stripe"}}
    with _build(registry, {"STRIPE_SECRET_KEY": API_KEY}, table) as manager:
        with pytest.raises(ObjectNotFoundError, match="Unrecognized request URL"):
            manager.payment.purchase(VISA)  # the local Stripe knows no /stripe prefix

    assert stripe_server.requests[0].path == "/stripe/v1/payment_intents"
