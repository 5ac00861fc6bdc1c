"""The plugin as installed: discovered by its entry point, cheap to discover, and registered
with what the pipeline needs to know about Postmark."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nexus_connector_core import ConfigError, ConnectorManager, PluginRegistry


def test_the_entry_point_offers_the_postmark_email_vendor_and_webhook_verifier() -> None:
    registry = PluginRegistry()
    registry.load_entry_points(environ={"NEXUS_CONNECTOR_PLUGINS": "postmark"})

    vendor = registry.find("email", "postmark")
    assert (vendor.plugin, vendor.distribution) == ("postmark", "nexus-connector-postmark")
    assert registry.find("webhook_verifier", "postmark").plugin == "postmark"


def test_postmark_is_registered_as_honouring_no_idempotency_keys(
    registry: PluginRegistry,
) -> None:
    vendor = registry.find("email", "postmark")

    assert vendor.idempotency_keys is False
    assert tuple(vendor.credentials) == ("server_token",)


def test_discovering_the_plugin_imports_neither_httpx_nor_the_adapter() -> None:
    code = (
        "import sys, nexus_connector_postmark.plugin; "
        "print(sorted(m for m in sys.modules if m == 'httpx' or m.startswith("
        "'nexus_connector_postmark._') and m != 'nexus_connector_postmark._version'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


def test_a_connector_without_a_server_token_is_a_config_error_naming_the_key(
    registry: PluginRegistry,
) -> None:
    config = {"connectors": {"email": {"vendor": "postmark"}}}
    with pytest.raises(ConfigError) as caught:
        ConnectorManager.from_config(config, registry=registry, environ={})

    assert "connectors.email.credentials.server_token" in str(caught.value)


def test_an_unknown_option_is_a_config_error_naming_the_key(registry: PluginRegistry) -> None:
    config = {
        "connectors": {
            "email": {
                "vendor": "postmark",
                "credentials": {"server_token": "pm-token-123456"},
                "options": {"message_streem": "outbound"},
            }
        }
    }
    with pytest.raises(ConfigError) as caught:
        ConnectorManager.from_config(config, registry=registry, environ={})

    assert "connectors.email.options" in str(caught.value)
    assert "message_streem" in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan"), 2**70])
def test_a_timeout_outside_its_range_is_a_config_error_naming_the_key(
    registry: PluginRegistry, timeout: float
) -> None:
    config = {
        "connectors": {
            "email": {
                "vendor": "postmark",
                "credentials": {"server_token": "pm-token-123456"},
                "options": {"timeout": timeout},
            }
        }
    }
    with pytest.raises(ConfigError) as caught:
        ConnectorManager.from_config(config, registry=registry, environ={})

    assert "connectors.email.options.timeout: must be a number from 0.001 to 86400" in str(
        caught.value
    )
