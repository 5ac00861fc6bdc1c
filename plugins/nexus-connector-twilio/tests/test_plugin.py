"""The plugin as installed and configured: what discovery finds, that discovery stays
cheap, and what a mistake in the connector's table says."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from nexus_connector_core import ConfigError, ConnectorManager, PluginRegistry, SmsMessage


def test_the_installed_distribution_offers_the_sms_vendor_and_the_verifier() -> None:
    registry = PluginRegistry()

    registry.load_entry_points({"NEXUS_CONNECTOR_PLUGINS": "nexus-connector-twilio"})

    [info] = [p for p in registry.plugins() if p.name == "twilio"]
    assert info.distribution == "nexus-connector-twilio"
    assert info.provides == {"sms": ["twilio"], "webhook_verifier": ["twilio"]}
    assert registry.find("sms", "twilio").credentials == ("account_sid", "auth_token")


def test_discovery_imports_neither_the_adapter_nor_httpx() -> None:
    code = (
        "import sys, nexus_connector_twilio.plugin; "
        "print(sorted(m for m in ('httpx', 'nexus_connector_twilio._adapter') "
        "if m in sys.modules))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


def _build(registry: PluginRegistry, environ: dict[str, str], table: dict[str, Any]) -> Any:
    return ConnectorManager.from_config(
        {"connectors": {"sms": {"vendor": "twilio", **table}}}, registry=registry, environ=environ
    )


CREDENTIALS = {"account_sid": "env:TWILIO_ACCOUNT_SID", "auth_token": "env:TWILIO_AUTH_TOKEN"}


@pytest.mark.parametrize(
    ("options", "key", "says"),
    [
        ({"base_url": "api.twilio.com"}, "base_url", "http(s) URL"),
        ({"messaging_service_sid": "MS123"}, "messaging_service_sid", "'MG' followed by"),
        ({"status_callback": "/status"}, "status_callback", "absolute http(s) URL"),
        ({"timeout": 0}, "timeout", "from 0.001 to 86400"),
        ({"timeout": float("inf")}, "timeout", "from 0.001 to 86400"),
        ({"timeout": float("nan")}, "timeout", "from 0.001 to 86400"),
        ({"timeout": 2**70}, "timeout", "from 0.001 to 86400"),
        ({"from": "+15005550006"}, "from", "unknown key"),
    ],
)
def test_a_bad_option_is_a_config_error_naming_its_key(
    registry: PluginRegistry, environ: dict[str, str], options: Any, key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _build(registry, environ, {"options": options, "credentials": CREDENTIALS})

    text = str(caught.value)
    assert "connectors.sms.options" in text
    assert key in text
    assert says in text


def test_a_missing_credential_is_a_config_error_naming_it(
    registry: PluginRegistry, environ: dict[str, str]
) -> None:
    credentials = {"account_sid": "env:TWILIO_ACCOUNT_SID"}

    with pytest.raises(ConfigError, match=r"connectors\.sms\.credentials\.auth_token"):
        _build(registry, environ, {"credentials": credentials})


def test_an_account_sid_of_the_wrong_shape_is_a_config_error_that_hides_it(
    registry: PluginRegistry, environ: dict[str, str]
) -> None:
    environ["TWILIO_ACCOUNT_SID"] = "SK-an-api-key-sid-0123"
    manager = _build(registry, environ, {"credentials": CREDENTIALS})

    with pytest.raises(ConfigError) as caught:
        manager.sms.send(SmsMessage("+14155550100", "Hi", sender="Shop"))

    assert caught.value.path == "connectors.sms.credentials.account_sid"
    assert "SK-an-api-key-sid-0123" not in str(caught.value)
    manager.close()
