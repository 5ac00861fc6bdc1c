"""Every plugin under plugins/ has the canonical layout of its kind (docs/plugins.md, "The
plugin layout"): the same module names meaning the same thing, a dynamic version, a ``test``
extra, a ``plugin.py`` of registrations by dotted path that imports nothing but the core, and
a public ``testing.py`` that an application's tests use too.

The plugins are found, not listed, and so is their kind (`kind_of`): a plugin that registers
state backends is a state backend (Redis); one that depends on a web framework is a framework
integration (Django, Starlette), which registers nothing with the core; one that depends on
httpx is an HTTP vendor (Postmark, Twilio, Stripe...); any other is a vendor of another
protocol (SMTP). What each kind must have is data (`HTTP_VENDOR`, `VENDOR`, `STATE_BACKEND`,
`FRAMEWORK`), checked by the same tests.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from nexus_connector_core import ConnectorError
from nexus_connector_core._config_ranges import numeric_settings
from nexus_connector_core.http import AsyncHttpAdapter, ErrorKind, HttpAdapter

ROOT = Path(__file__).resolve().parent.parent
#: The plugins checked: this repository's, or the folder NEXUS_CONNECTOR_LAYOUT_PLUGINS names
#: (tests/test_cookiecutter_adapter.py checks the plugins cookiecutter-adapter renders).
PLUGINS = Path(os.environ.get("NEXUS_CONNECTOR_LAYOUT_PLUGINS") or ROOT / "plugins")
TEST_FILES = ("conftest.py", "test_conformance.py")


@dataclass(frozen=True, eq=False)
class Kind:
    """What one kind of plugin must have (each kind is one value, compared by identity)."""

    name: str
    #: The package's modules, and what each one is.
    modules: Mapping[str, str]
    #: The module its registrations point to: the implementations, sync and async twins;
    #: None for a kind that registers nothing with the core (no entry point, no plugin.py).
    implementation: str | None
    #: Imports each module must not have (relative to the package: ".x"), so the pure modules
    #: stay pure and the dependencies run one way.
    forbidden: Mapping[str, tuple[str, ...]]
    #: Modules this kind has none of, and why.
    absent: Mapping[str, str] = field(default_factory=dict)
    #: The classes the sync and async implementations derive from, if the kind has them.
    twins: tuple[type, type] | None = None
    #: What each entry of ``_answers.ERRORS`` (the vendor's code table) is; None: no table.
    code_table: type | None = None
    #: The files its tests/ must have.
    tests: tuple[str, ...] = TEST_FILES


_COMMON = {
    "__init__.py": "public names, loaded on first use through lazy_exports",
    "_version.py": "__version__, read by hatch",
    "plugin.py": "@hookimpl registrations by dotted path",
    "_options.py": "the options struct",
    "py.typed": "the package is typed",
}
#: The rooms of a vendor plugin, whatever its protocol: the pure modules import no adapter,
#: the adapter not the double, the double not our client (which it exists to check).
_VENDOR_FORBIDDEN = {
    "_options.py": ("._adapter", "._requests", "._answers", ".testing"),
    "_requests.py": ("._adapter", ".testing"),
    "_answers.py": ("._adapter", "._requests", ".testing"),
    "_adapter.py": (".testing",),
    "testing.py": ("._adapter", "._requests", "._answers"),
}


def _without(libraries: tuple[str, ...], *modules: str) -> dict[str, tuple[str, ...]]:
    """`_VENDOR_FORBIDDEN`, with `libraries` forbidden in `modules` too."""
    return {
        module: imports + (libraries if module in modules else ())
        for module, imports in _VENDOR_FORBIDDEN.items()
    }


HTTP_VENDOR = Kind(
    name="HTTP vendor",
    modules={
        **_COMMON,
        "_requests.py": "pure: each operation as the vendor's HTTP request",
        "_answers.py": "pure: the vendor's code table and the reading of its answers",
        "_adapter.py": "the HttpVendor base and the HttpAdapter / AsyncHttpAdapter twins",
        "testing.py": "public: a local double of the vendor",
    },
    implementation="_adapter",
    # _answers.py may read an httpx.Response: as data, not to send anything.
    forbidden=_without(("httpx",), "_options.py", "_requests.py"),
    twins=(HttpAdapter, AsyncHttpAdapter),
    code_table=ErrorKind,
)
VENDOR = Kind(
    name="vendor of another protocol",
    modules={
        **_COMMON,
        "_requests.py": "pure: each operation as the vendor's protocol sees it",
        "_answers.py": "pure: the vendor's code table and the reading of its answers",
        "_adapter.py": "the base and the sync and async twins",
        "testing.py": "public: a local server or double of the vendor",
    },
    implementation="_adapter",
    # What opens connections stays in the adapter (SMTP: smtplib and aiosmtplib).
    forbidden=_without(
        ("socket", "asyncio", "smtplib", "aiosmtplib", "httpx"),
        "_options.py",
        "_requests.py",
        "_answers.py",
    ),
    code_table=tuple,  # a NamedTuple of the error class and what to do, as ErrorKind is
)
STATE_BACKEND = Kind(
    name="state backend",
    modules={
        **_COMMON,
        "_backend.py": "the backend, sync and async twins",
        "testing.py": "public: a real server for tests",
    },
    implementation="_backend",
    forbidden={
        "_options.py": ("._backend", ".testing"),
        "_backend.py": (".testing",),
        # The helpers start and stop servers; they know nothing of our backend.
        "testing.py": ("._backend", "._options"),
    },
    absent={
        "_adapter.py": "a state backend is no vendor adapter: its twins are in _backend.py",
    },
)

FRAMEWORK = Kind(
    name="framework integration",
    modules={
        "__init__.py": "public names, loaded on first use through lazy_exports",
        "_version.py": "__version__, read by hatch",
        "py.typed": "the package is typed",
    },
    implementation=None,
    # Importing the package (for its version, say) imports no web framework.
    forbidden={"__init__.py": ("django", "starlette", "fastapi")},
    absent={
        "plugin.py": "a framework integration registers nothing: applications import it",
    },
    tests=("conftest.py",),  # no category's conformance suite: the tests use the framework
)
#: A plugin depending on one of these (distribution names) is a `FRAMEWORK` integration.
WEB_FRAMEWORKS = frozenset({"django", "starlette"})

#: Plugins not yet in the canonical layout, and why: a later change brings each one in.
NOT_YET = {
    "nexus-connector-fsspec": "drives whatever filesystem library the protocol names",
}


def _plugin_dirs() -> list[Path]:
    return sorted(p for p in PLUGINS.iterdir() if (p / "pyproject.toml").is_file())


class Plugin:
    """One plugin directory: its pyproject, its package, its files, its kind."""

    def __init__(self, name: str) -> None:
        self.root = PLUGINS / name
        self.vendor = name.removeprefix("nexus-connector-")
        self.package = f"nexus_connector_{self.vendor.replace('-', '_')}"
        self.source = self.root / self.package
        self.project: dict[str, Any] = tomllib.loads(
            (self.root / "pyproject.toml").read_text(encoding="utf-8")
        )
        self.kind = kind_of(self)

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

    def registrations(self) -> list[tuple[str, str, dict[str, Any]]]:
        """What plugin.py registers: (hook, implementation, the other arguments)."""
        found: list[tuple[str, str, dict[str, Any]]] = []
        module = self.load("plugin")
        for name, hook in vars(module).items():
            if name.startswith("register_") and callable(hook):
                hook(register=lambda key, impl, _h=name, **o: found.append((_h, impl, o)))
        return found


def kind_of(plugin: Plugin) -> Kind:
    """A plugin's kind, read from what it is (see the module docstring)."""
    dependencies = plugin.project["project"].get("dependencies", [])
    names = {d.split(">")[0].split("[")[0].strip().lower() for d in dependencies}
    if names & WEB_FRAMEWORKS:
        return FRAMEWORK
    plugin_py = (plugin.source / "plugin.py").read_text(encoding="utf-8")
    if "def register_state_backends" in plugin_py:
        return STATE_BACKEND
    if "httpx" in names:
        return HTTP_VENDOR
    return VENDOR


def _registers(plugin: Plugin) -> None:
    """Skip a test of registrations for a kind that registers nothing."""
    if plugin.kind.implementation is None:
        pytest.skip(f"a {plugin.kind.name} registers nothing with the core")


PLUGIN_NAMES = [p.name for p in _plugin_dirs() if p.name not in NOT_YET]


@pytest.fixture(params=PLUGIN_NAMES)
def plugin(request: pytest.FixtureRequest) -> Plugin:
    return Plugin(request.param)


def _module_params() -> list[Any]:
    """(plugin, module) for every module a plugin's kind restricts the imports of."""
    return [
        pytest.param(name, module, id=f"{name}-{module}")
        for name in PLUGIN_NAMES
        for module in sorted(Plugin(name).kind.forbidden)
    ]


# -- what is checked ---------------------------------------------------------------------------


def test_the_plugins_are_found_with_their_kinds_and_the_exclusions_exist() -> None:
    if PLUGINS != ROOT / "plugins":
        pytest.skip("names this repository's plugins")
    kinds = {name: Plugin(name).kind for name in PLUGIN_NAMES}

    assert {kinds[f"nexus-connector-{v}"] for v in ("postmark", "twilio")} == {HTTP_VENDOR}
    assert kinds["nexus-connector-smtp"] is VENDOR
    assert kinds["nexus-connector-redis"] is STATE_BACKEND
    assert {kinds[f"nexus-connector-{f}"] for f in ("django", "starlette")} == {FRAMEWORK}
    assert {p.name for p in _plugin_dirs()} >= set(NOT_YET)  # no stale exclusion


def test_the_package_has_the_modules_of_its_kind_and_the_tests_theirs(plugin: Plugin) -> None:
    kind = plugin.kind
    missing = [m for m in kind.modules if not (plugin.source / m).is_file()]
    missing += [f"tests/{t}" for t in kind.tests if not (plugin.root / "tests" / t).is_file()]
    missing += [] if (plugin.root / "README.md").is_file() else ["README.md"]
    unexpected = [m for m in kind.absent if (plugin.source / m).is_file()]

    assert missing == [], f"{plugin.root.name} ({kind.name}) lacks {missing}"
    assert unexpected == [], [kind.absent[m] for m in unexpected]


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
    if plugin.kind.implementation is None:
        assert "nexus_connector" not in plugin.project["project"].get("entry-points", {})
        return
    entry_points = plugin.project["project"]["entry-points"]["nexus_connector"]

    assert entry_points == {plugin.vendor: f"{plugin.package}.plugin"}


def test_plugin_py_imports_nothing_but_the_core(plugin: Plugin) -> None:
    _registers(plugin)
    imported = set(plugin.imports("plugin.py")) - {"__future__"}

    assert {m for m in imported if m.split(".")[0] != "nexus_connector_core"} == set()


def test_plugin_py_holds_registrations_only(plugin: Plugin) -> None:
    _registers(plugin)
    for node in plugin.tree("plugin.py").body:
        if isinstance(node, ast.FunctionDef):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            assert decorators == ["hookimpl"], f"{node.name} is not a @hookimpl"
        else:
            assert isinstance(node, ast.Expr | ast.Import | ast.ImportFrom | ast.Assign), (
                f"plugin.py line {node.lineno}: only imports, constants and @hookimpl functions"
            )


def test_every_registration_is_a_dotted_path_that_resolves(plugin: Plugin) -> None:
    _registers(plugin)
    registered = plugin.registrations()

    assert registered
    for hook, impl, options in registered:
        for path in (impl, options.get("async_impl"), options.get("options")):
            if path is None:
                continue
            assert isinstance(path, str), f"{hook}: register {path!r} as 'module:attribute'"
            module_name, _, attribute = path.partition(":")
            assert hasattr(importlib.import_module(module_name), attribute), path


def test_the_twins_are_registered_from_the_implementation_module_of_the_kind(
    plugin: Plugin,
) -> None:
    _registers(plugin)
    kind = plugin.kind
    implementation = f"{plugin.package}.{kind.implementation}"
    twins = [
        (impl, options["async_impl"])
        for _, impl, options in plugin.registrations()
        if "async_impl" in options  # not a webhook verifier: one class serves both
    ]

    assert twins, "no implementation registered"
    for impl, async_impl in twins:
        assert impl.partition(":")[0] == async_impl.partition(":")[0] == implementation
        sync, async_ = (_resolve(path) for path in (impl, async_impl))
        if kind.twins is not None:
            assert issubclass(sync, kind.twins[0])
            assert issubclass(async_, kind.twins[1])
        # The async twin's operations are coroutines where the sync twin's are not.
        for name, method in vars(sync).items():
            if name.startswith("_") or not inspect.isfunction(method):
                continue
            if name in vars(async_):
                assert inspect.iscoroutinefunction(vars(async_)[name]), name
                assert not inspect.iscoroutinefunction(method), name


def _resolve(path: str) -> type:
    module, _, attribute = path.partition(":")
    value = getattr(importlib.import_module(module), attribute)
    assert inspect.isclass(value), path
    return value


def test_discovery_and_testing_py_load_no_http_client_nor_private_module(
    plugin: Plugin,
) -> None:
    _registers(plugin)
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

    assert discovery == []  # the implementation and its client load when first used
    assert "pytest" not in double  # an application's tests may use any runner
    # The double knows the vendor's documented protocol, not our client: it can catch the
    # client's mistakes only if it shares none of its code.
    assert [m for m in double if m.startswith(f"{plugin.package}._")] == []


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


@pytest.mark.parametrize(("name", "module"), _module_params())
def test_each_module_imports_only_what_its_room_allows(name: str, module: str) -> None:
    plugin = Plugin(name)
    if not (plugin.source / module).is_file():
        pytest.skip(f"{name} has no {module}")  # the modules test says whether it must
    imported = set(plugin.imports(module))
    forbidden = plugin.kind.forbidden[module]

    assert {m for m in imported if m in forbidden or m.split(".")[0] in forbidden} == set()


def test_the_options_are_a_frozen_struct_refusing_unknown_fields_with_bounded_numbers(
    plugin: Plugin,
) -> None:
    if "_options.py" not in plugin.kind.modules:
        pytest.skip(f"a {plugin.kind.name} has no options struct")
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
    entry = plugin.kind.code_table
    if entry is None:
        pytest.skip(f"a {plugin.kind.name} has no code table")
    errors = plugin.load("_answers").ERRORS

    assert errors
    for code, meaning in errors.items():
        assert isinstance(meaning, entry), code
        assert issubclass(meaning.error, ConnectorError), code


def test_conftest_holds_fixtures_and_hooks_and_the_double_lives_in_testing_py(
    plugin: Plugin,
) -> None:
    tree = ast.parse((plugin.root / "tests" / "conftest.py").read_text(encoding="utf-8"))

    for node in tree.body:
        assert not isinstance(node, ast.ClassDef), (
            f"conftest.py defines {node.name}: a double belongs in {plugin.package}.testing"
        )
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            is_fixture = any(d.startswith("pytest.fixture") for d in decorators)
            assert is_fixture or node.name.startswith("pytest_"), node.name


def test_the_conformance_test_runs_a_core_conformance_suite(plugin: Plugin) -> None:
    if "test_conformance.py" not in plugin.kind.tests:
        pytest.skip(f"a {plugin.kind.name} runs no conformance suite")
    tree = ast.parse((plugin.root / "tests" / "test_conformance.py").read_text(encoding="utf-8"))
    bases = {
        ast.unparse(base)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for base in node.bases
    }

    assert any(base.endswith("Conformance") for base in bases), bases
