"""The package's public surface: every exported name resolves, lazily and consistently."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import nexus_connector_core

INIT = Path(nexus_connector_core.__file__)


def test_every_public_name_resolves() -> None:
    missing = [
        name for name in nexus_connector_core.__all__ if not hasattr(nexus_connector_core, name)
    ]
    assert missing == []


def test_the_lazy_table_and_the_type_checking_imports_agree() -> None:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    checked: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    checked[alias.name] = str(stmt.module)
    lazy = nexus_connector_core._EXPORTS
    assert checked == lazy
    assert set(nexus_connector_core.__all__) == {"__version__", *lazy}


def test_importing_the_package_loads_no_heavy_module() -> None:
    code = (
        "import sys, nexus_connector_core;"
        "print(sorted(m for m in ('asyncio', 'httpx', 'pluggy', 'msgspec', 'click')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        nexus_connector_core.NoSuchThing  # noqa: B018
