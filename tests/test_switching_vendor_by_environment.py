"""Switching a connector's vendor takes one environment variable, whatever options and
credentials the file gives the vendor it names (docs/configuration.md, "Switching vendor")."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nexus_connector_core import ConfigError, PluginRegistry, load_config

VENDOR = "NEXUS_CONNECTOR__CONNECTORS__INVOICES__VENDOR"


@pytest.fixture
def config(tmp_path: Path) -> dict[str, object]:
    return {
        "connectors": {
            "invoices": {
                "category": "cloud_storage",
                "vendor": "filesystem",
                "options": {"root": str(tmp_path / "invoices")},
                "credentials": {"api_key": "env:FILESYSTEM_KEY_NOBODY_SET"},
                "resilience": {"retry": {"max_attempts": 5}},
            }
        }
    }


def test_one_variable_switches_the_vendor_and_leaves_the_files_options_behind(
    config: dict[str, object], registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "nexus_connector.config"):
        loaded = load_config(config, registry=registry, environ={VENDOR: "memory"})

    invoices = loaded.connectors["invoices"]
    assert invoices.vendor.key == "memory"
    assert invoices.credentials == {}
    assert invoices.resilience["put"].retry.max_attempts == 5  # the rest of the table stays
    [record] = caplog.records
    message = record.getMessage()
    assert f"{VENDOR} switches connector 'invoices' from vendor 'filesystem' to 'memory'" in message
    assert "options.root, credentials.api_key of 'filesystem' are not used" in message
    assert "FILESYSTEM_KEY_NOBODY_SET" not in message  # names keys, never values


def test_options_set_by_variables_apply_to_the_vendor_switched_to(
    config: dict[str, object], registry: PluginRegistry
) -> None:
    environ = {VENDOR: "memory", "NEXUS_CONNECTOR__CONNECTORS__INVOICES__OPTIONS__FAIL_FIRST": "2"}

    loaded = load_config(config, registry=registry, environ=environ)

    assert loaded.connectors["invoices"].options.fail_first == 2


def test_a_variable_naming_the_files_vendor_keeps_the_files_options(
    config: dict[str, object], registry: PluginRegistry, tmp_path: Path
) -> None:
    del config["connectors"]["invoices"]["credentials"]  # type: ignore[index]

    loaded = load_config(config, registry=registry, environ={VENDOR: "filesystem"})

    assert str(loaded.connectors["invoices"].options.root) == str(tmp_path / "invoices")


def test_in_the_file_a_vendor_refuses_the_options_of_another(
    config: dict[str, object], registry: PluginRegistry
) -> None:
    config["connectors"]["invoices"]["vendor"] = "memory"  # type: ignore[index]

    with pytest.raises(ConfigError) as caught:
        load_config(config, registry=registry, environ={})

    assert "connectors.invoices.options.root" in str(caught.value)


def test_a_vendor_set_only_by_a_variable_takes_the_files_options(
    config: dict[str, object], registry: PluginRegistry, tmp_path: Path
) -> None:
    table = config["connectors"]["invoices"]  # type: ignore[index]
    del table["vendor"], table["credentials"]

    loaded = load_config(config, registry=registry, environ={VENDOR: "filesystem"})

    assert str(loaded.connectors["invoices"].options.root) == str(tmp_path / "invoices")
