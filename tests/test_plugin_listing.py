"""What `nexus-connector plugins` and the install hints tell a user: each registration's own
description, and only distributions that exist."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner

from nexus_connector_core import PluginRegistry, Registrar, hookimpl
from nexus_connector_core._registration import KNOWN_PROVIDERS
from nexus_connector_core.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def _plugin() -> SimpleNamespace:
    @hookimpl
    def register_sms_vendors(register: Registrar) -> None:
        register(
            "pigeon",
            "nexus_connector_core.vendors.memory:MemorySmsAdapter",
            description="Pigeon SMS REST API",
        )
        register("quiet", "nexus_connector_core.vendors.memory:MemorySmsAdapter")

    return SimpleNamespace(register_sms_vendors=register_sms_vendors)


def test_a_plugins_listing_carries_the_description_of_each_registration() -> None:
    registry = PluginRegistry()
    registry.register(_plugin(), name="pigeon")

    [info] = [p for p in registry.plugins() if p.name == "pigeon"]

    assert info.provides == {"sms": ["pigeon", "quiet"]}
    assert info.descriptions == {"sms": {"pigeon": "Pigeon SMS REST API"}}


def test_the_plugins_command_shows_each_description_in_text_and_json() -> None:
    runner = CliRunner()

    text = runner.invoke(cli, ["plugins"])
    data = json.loads(runner.invoke(cli, ["plugins", "--json"]).output)

    # The fixture distribution tests/dists/nexus-connector-acme registers "acme" with one.
    assert "  email: acme - Acme Mail (test fixture)" in text.output
    [acme] = [p for p in data["plugins"] if p["name"] == "acme"]
    assert acme["descriptions"] == {"email": {"acme": "Acme Mail (test fixture)"}}
    [builtin] = [p for p in data["plugins"] if p["name"] == "builtin"]
    assert builtin["descriptions"]["cloud_storage"]["filesystem"] == (
        "objects as files under a local folder"
    )


def test_every_install_hint_names_a_distribution_of_this_repository() -> None:
    ours = {p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file()}

    hinted = set(KNOWN_PROVIDERS.values())

    assert hinted <= ours, f"hints for distributions that do not exist: {hinted - ours}"
