"""The core's layering, read from its source (every import, also those inside functions and
``if TYPE_CHECKING:`` blocks): the core imports no vendor plugin, credentials know no config
file format, and the resilience policies never reach up into the manager (issue 10)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nexus_connector_core

PACKAGE = Path(nexus_connector_core.__file__).resolve().parent
CORE = "nexus_connector_core"

#: Modules that hold or resolve secrets: they know the `Secret`, errors, and nothing of how a
#: config file is written or read.
CREDENTIALS = ("_credentials", "_credential_providers", "_credential_store")
#: What a credential module may not import (the config file's formats and their resolution).
CONFIG_LAYER = ("_config", "_config_problems", "_config_ranges", "_connector_settings")
#: What the policies (`_resilience`) may not import: the layers that assemble and run them.
ASSEMBLY_LAYER = (
    "_runtime",
    "_manager",
    "_async_manager",
    "_manager_base",
    "_connectors",
    "_async_connectors",
    "_connector_base",
    "_config",
    "cli",
)


def _module_name(path: Path) -> str:
    parts = [CORE, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, absolute; ``from .x import y`` counts as ``.x.y`` too
    (y may be a submodule)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
IMPORTS = {_module_name(path): _imports(path) for path in SOURCES}


def _reaches(importer: str, layer: tuple[str, ...]) -> list[str]:
    banned = tuple(f"{CORE}.{name}" for name in layer)
    return sorted(
        imported
        for imported in IMPORTS[importer]
        if any(imported == b or imported.startswith(f"{b}.") for b in banned)
    )


def test_the_reader_sees_the_imports_it_judges() -> None:
    # Known edges, relative and absolute, so the rules below cannot pass by reading nothing.
    assert f"{CORE}._resilience.attempts" in IMPORTS[f"{CORE}._connector_base"]
    assert f"{CORE}._errors" in IMPORTS[f"{CORE}._resilience.errors"]
    assert f"{CORE}._credentials" in IMPORTS[f"{CORE}._credential_store"]
    assert len(IMPORTS) > 100


def test_the_core_imports_no_vendor_plugin() -> None:
    reaching = {
        module: sorted(
            name
            for name in names
            if name.startswith("nexus_connector_") and not name.startswith(f"{CORE}")
        )
        for module, names in IMPORTS.items()
    }

    assert {module: names for module, names in reaching.items() if names} == {}


@pytest.mark.parametrize("module", CREDENTIALS)
def test_credentials_know_no_config_file_format(module: str) -> None:
    assert _reaches(f"{CORE}.{module}", CONFIG_LAYER) == []


@pytest.mark.parametrize(
    "module", sorted(name for name in IMPORTS if name.startswith(f"{CORE}._resilience"))
)
def test_the_policies_never_reach_up_into_the_manager(module: str) -> None:
    assert _reaches(module, ASSEMBLY_LAYER) == []
