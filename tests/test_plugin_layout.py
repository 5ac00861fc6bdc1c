"""Every HTTP vendor plugin under plugins/ has the canonical layout (docs/plugins.md, "The
plugin layout"): the same module names meaning the same thing, a dynamic version, a ``test``
extra, a ``plugin.py`` of registrations by dotted path that imports nothing but the core,
and a public local double in ``testing.py``.

The plugins are found, not listed: a new one under plugins/ (Stripe, S3, EasyPost...) is
checked the day it lands.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from nexus_connector_core._config_ranges import numeric_settings
from nexus_connector_core.http import AsyncHttpAdapter, ErrorKind, HttpAdapter

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"

#: Plugins that are not HTTP vendors: SMTP speaks its own protocol (a dialogue, smtplib and
#: aiosmtplib), Redis is a state backend, and fsspec drives whatever filesystem library the
#: protocol names. A later change brings them into the canonical layout, and into this test.
NOT_HTTP_VENDORS = frozenset(
    {"nexus-connector-smtp", "nexus-connector-redis", "nexus-connector-fsspec"}
)

#: The modules every HTTP vendor package has, and what each one is.
MODULES = {
    "__init__.py": "public names, loaded on first use through lazy_exports",
    "_version.py": "__version__, read by hatch",
    "plugin.py": "@hookimpl registrations by dotted path",
    "_options.py": "the options struct",
    "_requests.py": "pure: each operation as the vendor's HTTP request",
    "_answers.py": "pure: the vendor's code table and the reading of its answers",
    "_adapter.py": "the HttpVendor base and the HttpAdapter / AsyncHttpAdapter twins",
    "testing.py": "public: a local double of the vendor",
    "py.typed": "the package is typed",
}
TEST_FILES = ("conftest.py", "test_conformance.py")

#: Imports each module must not have (relative to the package: ".x"), so the pure modules
#: stay pure and the dependencies run one way: _options, _requests, _answers -> no adapter;
#: the adapter -> not the double; the double -> not our client, which it exists to check.
FORBIDDEN = {
    "_options.py": ("httpx", "._adapter", "._requests", "._answers", ".testing"),
    "_requests.py": ("httpx", "._adapter", ".testing"),
    "_answers.py": ("._adapter", "._requests", ".testing"),
    "_adapter.py": (".testing",),
    "testing.py": ("._adapter", "._requests", "._answers"),
}


def _plugin_dirs() -> list[Path]:
    return sorted(p for p in PLUGINS.iterdir() if (p / "pyproject.toml").is_file())


HTTP_VENDORS = [p.name for p in _plugin_dirs() if p.name not in NOT_HTTP_VENDORS]


class Plugin:
    """One plugin directory: its pyproject, its package, its files."""

    def __init__(self, name: str) -> None:
        self.root = PLUGINS / name
        self.vendor = name.removeprefix("nexus-connector-")
        self.package = f"nexus_connector_{self.vendor.replace('-', '_')}"
        self.source = self.root / self.package
        self.project: dict[str, Any] = tomllib.loads(
            (self.root / "pyproject.toml").read_text(encoding="utf-8")
        )

    def tree(self, module: str) -> ast.Module:
        return ast.parse((self.source / module).read_text(encoding="utf-8"))

    def imports(self, module: str) -> Iterator[str]:
        """Every module `module` imports, relative ones (and the package's own, written
        absolutely) as ``.name``."""
        for node in ast.walk(self.tree(module)):
            if isinstance(node, ast.Import):
                yield from (self._relative(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    if node.module:
                        yield "." + node.module
                    else:
                        yield from ("." + alias.name for alias in node.names)
                else:
                    yield self._relative(str(node.module))

    def _relative(self, name: str) -> str:
        if name == self.package or name.startswith(f"{self.package}."):
            return "." + name.removeprefix(f"{self.package}.")
        return name

    def load(self, module: str = "") -> ModuleType:
        return importlib.import_module(f"{self.package}.{module}" if module else self.package)


@pytest.fixture(params=HTTP_VENDORS)
def plugin(request: pytest.FixtureRequest) -> Plugin:
    return Plugin(request.param)


# -- what is checked ---------------------------------------------------------------------------


def test_the_http_vendor_plugins_are_found_and_the_exclusions_exist() -> None:
    assert {"nexus-connector-postmark", "nexus-connector-twilio"} <= set(HTTP_VENDORS)
    assert {p.name for p in _plugin_dirs()} >= NOT_HTTP_VENDORS  # no stale exclusion


def test_the_package_has_the_canonical_modules_and_the_tests_theirs(plugin: Plugin) -> None:
    missing = [m for m in MODULES if not (plugin.source / m).is_file()]
    missing += [f"tests/{t}" for t in TEST_FILES if not (plugin.root / "tests" / t).is_file()]
    missing += [] if (plugin.root / "README.md").is_file() else ["README.md"]

    assert missing == [], f"{plugin.root.name} lacks {missing}"


def test_the_version_is_dynamic_and_read_from_version_py(plugin: Plugin) -> None:
    project = plugin.project["project"]
    assert "version" not in project
    assert "version" in project.get("dynamic", [])
    path = plugin.project["tool"]["hatch"]["version"]["path"]
    assert path == f"{plugin.package}/_version.py"
    assert isinstance(plugin.load("_version").__version__, str)
    assert plugin.load().__version__ == plugin.load("_version").__version__


def test_there_is_a_test_extra_with_pytest(plugin: Plugin) -> None:
    extras = plugin.project["project"].get("optional-dependencies", {})

    assert any(r.startswith("pytest") for r in extras.get("test", []))


def test_the_entry_point_names_the_plugin_module(plugin: Plugin) -> None:
    entry_points = plugin.project["project"]["entry-points"]["nexus_connector"]

    assert entry_points == {plugin.vendor: f"{plugin.package}.plugin"}


def test_plugin_py_imports_nothing_but_the_core(plugin: Plugin) -> None:
    imported = set(plugin.imports("plugin.py")) - {"__future__"}

    assert {m for m in imported if m.split(".")[0] != "nexus_connector_core"} == set()


def test_plugin_py_holds_registrations_only(plugin: Plugin) -> None:
    for node in plugin.tree("plugin.py").body:
        if isinstance(node, ast.FunctionDef):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            assert decorators == ["hookimpl"], f"{node.name} is not a @hookimpl"
        else:
            assert isinstance(node, ast.Expr | ast.Import | ast.ImportFrom | ast.Assign), (
                f"plugin.py line {node.lineno}: only imports, constants and @hookimpl functions"
            )


def test_every_registration_is_a_dotted_path_that_resolves(plugin: Plugin) -> None:
    registered: list[tuple[str, object]] = []

    def register(key: str, impl: object, **options: object) -> None:
        registered.append((key, impl))
        registered.extend((key, options.get(name)) for name in ("async_impl", "options"))

    module = plugin.load("plugin")
    hooks = [f for name, f in vars(module).items() if name.startswith("register_")]
    for hook in hooks:
        hook(register=register)

    assert registered
    for key, path in registered:
        if path is None:
            continue
        assert isinstance(path, str), f"{key}: register {path!r} as 'module:attribute'"
        module_name, _, attribute = path.partition(":")
        assert hasattr(importlib.import_module(module_name), attribute), path


def test_discovery_and_the_double_load_no_http_client_nor_private_module(
    plugin: Plugin,
) -> None:
    code = f"""if True:
        import json, sys
        def loaded():
            return sorted(m for m in sys.modules if m == "httpx" or m == "pytest"
                          or m.startswith("{plugin.package}._")
                          and m != "{plugin.package}._version")
        import {plugin.package}.plugin
        discovery = loaded()
        import {plugin.package}.testing
        print(json.dumps([discovery, loaded()]))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    discovery, double = json.loads(out.stdout)

    assert discovery == []  # the adapter and httpx load when a connector first uses them
    assert "pytest" not in double  # an application's tests may use any runner


def test_the_public_names_load_lazily_from_where_type_checkers_look(plugin: Plugin) -> None:
    tree = plugin.tree("__init__.py")
    assert not any(
        isinstance(node, ast.FunctionDef) and node.name in ("__getattr__", "__dir__")
        for node in ast.walk(tree)
    ), "use nexus_connector_core.lazy_exports, not a hand-written __getattr__"
    checked: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                checked.update({alias.name: str(stmt.module) for alias in stmt.names})
    package = plugin.load()

    assert set(package.__all__) == {"__version__", *checked}
    for name, module in checked.items():
        assert getattr(package, name) is getattr(plugin.load(module), name), name
    assert dir(package) == sorted(package.__all__)


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_each_module_imports_only_what_its_room_allows(plugin: Plugin, module: str) -> None:
    imported = set(plugin.imports(module))

    assert imported & set(FORBIDDEN[module]) == set()


def test_the_options_are_a_frozen_struct_refusing_unknown_fields_with_bounded_numbers(
    plugin: Plugin,
) -> None:
    module = plugin.load("_options")
    [options] = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, msgspec.Struct)
        and value.__module__ == module.__name__
        and value.__name__.endswith("Options")
    ]
    config = options.__struct_config__

    assert (config.frozen, config.forbid_unknown_fields) == (True, True)
    for key, bounds in numeric_settings(options):
        assert bounds is not None, f"{options.__name__}.{key} has no range"
        assert bounds.ge is not None or bounds.gt is not None, f"{key} has no lower bound"
        assert bounds.le is not None or bounds.lt is not None, f"{key} has no upper bound"


def test_the_answers_hold_the_vendors_code_table(plugin: Plugin) -> None:
    errors = plugin.load("_answers").ERRORS

    assert errors
    assert all(isinstance(kind, ErrorKind) for kind in errors.values())


def test_the_adapter_module_has_the_sync_and_async_twins(plugin: Plugin) -> None:
    module = plugin.load("_adapter")
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module.__name__
    ]

    assert any(issubclass(c, HttpAdapter) for c in classes)
    assert any(issubclass(c, AsyncHttpAdapter) for c in classes)


def test_conftest_holds_fixtures_and_the_double_lives_in_testing_py(plugin: Plugin) -> None:
    tree = ast.parse((plugin.root / "tests" / "conftest.py").read_text(encoding="utf-8"))

    for node in tree.body:
        assert not isinstance(node, ast.ClassDef), (
            f"conftest.py defines {node.name}: a double belongs in {plugin.package}.testing"
        )
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            assert any(d.startswith("pytest.fixture") for d in decorators), node.name


def test_the_conformance_test_runs_a_core_conformance_suite(plugin: Plugin) -> None:
    tree = ast.parse((plugin.root / "tests" / "test_conformance.py").read_text(encoding="utf-8"))
    bases = {
        ast.unparse(base)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for base in node.bases
    }

    assert any(base.endswith("Conformance") for base in bases), bases
