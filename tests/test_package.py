"""The package's public surface: every exported name resolves, lazily and consistently."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import nexus_connector_core
from nexus_connector_core._lazy import declared_exports

INIT = Path(nexus_connector_core.__file__)


def test_every_public_name_resolves() -> None:
    missing = [
        name for name in nexus_connector_core.__all__ if not hasattr(nexus_connector_core, name)
    ]
    assert missing == []


def _declared_by_ast(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    declared: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    # An explicit re-export: `from ._x import A as A`, so type checkers and
                    # the lazy table read the same one list.
                    assert alias.asname == alias.name, f"write {alias.name} as {alias.name}"
                    declared[alias.name] = str(stmt.module)
    return declared


@pytest.mark.parametrize("package", ["nexus_connector_core"], ids=lambda name: name)
def test_the_lazy_table_is_read_from_the_one_declaration(package: str) -> None:
    module = importlib.import_module(package)
    path = Path(str(module.__file__))
    eager = {"__version__"} if package == "nexus_connector_core" else {"FakeClock"}

    assert declared_exports(str(path)) == _declared_by_ast(path)
    assert set(module.__all__) == {*eager, *_declared_by_ast(path)}


def test_every_declared_name_is_in_its_modules_all() -> None:
    for name, module in _declared_by_ast(INIT).items():
        defining = importlib.import_module(f"nexus_connector_core.{module}")
        assert name in defining.__all__, f"{name} is not in nexus_connector_core.{module}.__all__"


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


@pytest.mark.parametrize(
    "module",
    [
        "nexus_connector_core.state",
        "nexus_connector_core.pipeline",
        "nexus_connector_core.http",
        "nexus_connector_core.auth",
        "nexus_connector_core.webhooks",
        "nexus_connector_core.testing",
        "nexus_connector_core.asgi",
    ],
)
def test_every_name_of_a_public_subpackage_resolves(module: str) -> None:
    imported = importlib.import_module(module)

    assert [name for name in imported.__all__ if not hasattr(imported, name)] == []


def test_the_top_level_keeps_what_an_application_uses_not_the_backend_or_middleware_spi() -> None:
    spi = {"StateBackend", "GuardPlan", "Admission", "Middleware", "StepSettings", "Handler"}

    assert spi.isdisjoint(nexus_connector_core.__all__)
    assert {"ConnectorManager", "EmailMessage", "Money", "ConnectorError"} <= set(
        nexus_connector_core.__all__
    )
