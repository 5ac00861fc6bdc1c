{%- set C = cookiecutter.__class -%}
"""The plugin as an installed distribution: discovery finds the vendor through the entry
point, with its description, and loads neither the adapters nor httpx to do so."""

from __future__ import annotations

import json
import subprocess
import sys

from nexus_connector_core import PluginRegistry


def test_discovery_finds_the_vendor_through_the_entry_point() -> None:
    registry = PluginRegistry()
    registry.load_entry_points()

    found = registry.find("{{ cookiecutter.category }}", "{{ cookiecutter.vendor_key }}")

    assert found.distribution == "{{ cookiecutter.distribution_name }}"
    assert found.description == "{{ cookiecutter.vendor_name }} {{ {"sms": "SMS", "cloud_storage": "object storage"}.get(cookiecutter.category, cookiecutter.category) }} API (HTTP)"
    assert registry.failures == []


def test_discovery_loads_neither_the_adapters_nor_httpx() -> None:
    code = (
        "import json, sys; import {{ cookiecutter.package_name }}.plugin; "
        "print(json.dumps(sorted(m for m in sys.modules if m == 'httpx' "
        "or m.startswith('{{ cookiecutter.package_name }}._') and m != '{{ cookiecutter.package_name }}._version')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert json.loads(out.stdout) == []
