"""`lazy_exports`: a package's public names imported from its private modules on first use,
then kept in the package's globals."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

import nexus_connector_core
from nexus_connector_core import lazy_exports

INIT = """
from typing import TYPE_CHECKING

from nexus_connector_core import lazy_exports

__all__ = ["Adapter", "Options", "parse"]

if TYPE_CHECKING:
    from ._adapter import Adapter
    from ._options import Options
    from ._parts.parse import parse
else:
    __getattr__, __dir__ = lazy_exports(
        __name__, {"Adapter": "_adapter", "Options": "_options", "parse": "_parts.parse"}
    )
"""

MakePackage = Callable[[], ModuleType]


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePackage]:
    """Write a package whose public names live in private modules, and import it."""
    names: list[str] = []

    def make() -> ModuleType:
        name = f"lazy_pkg_{uuid.uuid4().hex}"
        root = tmp_path / name
        (root / "_parts").mkdir(parents=True)
        (root / "__init__.py").write_text(INIT, encoding="utf-8")
        (root / "_adapter.py").write_text("class Adapter:\n    pass\n", encoding="utf-8")
        (root / "_options.py").write_text("class Options:\n    pass\n", encoding="utf-8")
        (root / "_parts" / "__init__.py").write_text("", encoding="utf-8")
        (root / "_parts" / "parse.py").write_text("def parse():\n    return 1\n", "utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        names.append(name)
        return importlib.import_module(name)

    yield make
    for name in names:
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


def test_importing_the_package_imports_none_of_its_private_modules(
    make_package: MakePackage,
) -> None:
    package = make_package()

    assert [m for m in sys.modules if m.startswith(f"{package.__name__}.")] == []


def test_a_name_is_imported_from_its_module_on_first_use(make_package: MakePackage) -> None:
    package = make_package()

    adapter = package.Adapter

    assert adapter is sys.modules[f"{package.__name__}._adapter"].Adapter
    assert f"{package.__name__}._options" not in sys.modules  # only the module asked for


def test_a_name_in_a_nested_module_resolves(make_package: MakePackage) -> None:
    package = make_package()

    assert package.parse() == 1


def test_a_looked_up_name_is_kept_in_the_package_globals(make_package: MakePackage) -> None:
    package = make_package()
    assert "Options" not in vars(package)

    options = package.Options

    assert vars(package)["Options"] is options  # later lookups skip __getattr__


def test_an_unknown_name_is_an_attribute_error_naming_package_and_name(
    make_package: MakePackage,
) -> None:
    package = make_package()

    with pytest.raises(
        AttributeError, match=rf"module '{package.__name__}' has no attribute 'Nope'"
    ):
        package.Nope  # noqa: B018
    with pytest.raises(ImportError, match="Nope"):
        exec(f"from {package.__name__} import Nope", {})


def test_dir_lists_the_public_names_and_no_private_module(make_package: MakePackage) -> None:
    package = make_package()
    package.Adapter  # noqa: B018 - imports _adapter, which becomes an attribute too

    assert dir(package) == ["Adapter", "Options", "parse"]


def test_a_module_written_with_a_leading_dot_is_refused_naming_the_names() -> None:
    with pytest.raises(ValueError, match=r"mypkg: write the modules of Adapter relative"):
        lazy_exports("mypkg", {"Adapter": "._adapter", "Options": "_options"})


def test_the_core_exports_lazy_exports_and_uses_it_for_its_own_names() -> None:
    assert nexus_connector_core.lazy_exports is lazy_exports
    assert nexus_connector_core.__getattr__.__module__ == "nexus_connector_core._lazy"
