"""Plugin discovery: entry points, isolation of broken plugins, conflicts, lazy loading."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from nexus_connector_core import (
    PluginError,
    PluginRegistry,
    Registrar,
    VendorNotFoundError,
    hookimpl,
)

MakeDistribution = Callable[..., Path]
ADAPTER = "nexus_connector_core.vendors.memory.email:MemoryEmailAdapter"


def _plugin(name: str, **hooks: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(__name__=name, **hooks)


def _email_vendor(key: str, impl: str = ADAPTER) -> object:
    @hookimpl
    def register_email_vendors(register: Registrar) -> None:
        register(key, impl, description=f"{key} for tests")

    return register_email_vendors


def test_the_builtin_plugin_provides_every_embedded_vendor(registry: PluginRegistry) -> None:
    (builtin,) = registry.plugins()
    assert (builtin.name, builtin.distribution) == ("builtin", "nexus-connector-core")
    assert builtin.provides["cloud_storage"] == ["memory", "filesystem"]
    for category in ("email", "sms", "payment", "shipping"):
        assert builtin.provides[category] == ["memory"]
    assert registry.failures == []


def test_an_installed_distribution_is_found_through_its_entry_point() -> None:
    registry = PluginRegistry()
    registry.load_entry_points(environ={})
    acme = next(p for p in registry.plugins() if p.name == "acme")
    assert (acme.distribution, acme.version) == ("nexus-connector-acme", "1.2.3")
    assert acme.provides == {"email": ["acme"]}
    assert registry.find("email", "acme").credentials == ("api_key",)


def test_discovery_imports_no_vendor_module() -> None:
    code = (
        "import sys; from nexus_connector_core import PluginRegistry;"
        "r = PluginRegistry(); r.load_entry_points(); r.find('email', 'acme');"
        "print('nexus_connector_acme.adapter' in sys.modules,"
        " 'nexus_connector_core.vendors.memory.email' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


#: What discovering every plugin of this repository may import of them: the package and its
#: entry-point module. An adapter, a backend or a vendor library loads on first use.
_ENTRY_MODULES = {".plugin", "._version"}
_VENDOR_LIBRARIES = ("redis", "httpx", "httpcore", "aiosmtplib", "smtplib", "ssl")


def test_discovering_every_installed_plugin_imports_no_vendor_library() -> None:
    code = (
        "import json, sys; from nexus_connector_core import PluginRegistry;"
        "r = PluginRegistry(); r.load_entry_points(environ={});"
        "print(json.dumps([sorted(p.name for p in r.plugins()), sorted(sys.modules)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    plugins, modules = json.loads(out.stdout)
    assert {"redis", "smtp", "postmark", "twilio"} <= set(plugins)
    assert [m for m in modules if m.split(".")[0] in _VENDOR_LIBRARIES] == []
    beyond_entry = [
        module
        for module in modules
        if module.startswith("nexus_connector_")
        and not module.startswith(("nexus_connector_core", "nexus_connector_acme"))
        and module[module.find(".") :] not in _ENTRY_MODULES
        and "." in module
    ]
    assert beyond_entry == []


def test_a_plugin_that_fails_to_import_is_recorded_and_the_rest_work(
    make_distribution: MakeDistribution,
) -> None:
    make_distribution(
        "nexus-connector-broken",
        entry_points={"broken": "broken_plugin"},
        modules={"broken_plugin": "import vendor_sdk_that_is_not_installed\n"},
    )
    registry = PluginRegistry()
    registry.load_entry_points(environ={})
    (failure,) = [f for f in registry.failures if f.plugin == "broken"]
    assert failure.distribution == "nexus-connector-broken"
    assert "No module named 'vendor_sdk_that_is_not_installed'" in failure.error
    assert registry.find("email", "acme").key == "acme"
    assert registry.find("email", "memory").key == "memory"


def test_a_plugin_whose_hook_raises_is_recorded(registry: PluginRegistry) -> None:
    @hookimpl
    def register_sms_vendors(register: Registrar) -> None:
        raise RuntimeError("boom")

    registry.register(_plugin("flaky", register_sms_vendors=register_sms_vendors))
    assert [(f.plugin, f.error) for f in registry.failures] == [
        ("flaky", "register_sms_vendors: RuntimeError: boom")
    ]
    assert registry.keys("sms") == ["memory"]


def test_a_malformed_registration_is_recorded_and_its_siblings_kept(
    registry: PluginRegistry,
) -> None:
    @hookimpl
    def register_email_vendors(register: Registrar) -> None:
        register("Bad Key", ADAPTER)
        register("fine", ADAPTER)
        register("nomodule", "just-a-name")

    registry.register(_plugin("sloppy", register_email_vendors=register_email_vendors))
    errors = [f.error for f in registry.failures]
    assert any("'Bad Key'" in e and "lowercase" in e for e in errors)
    assert any("'nomodule'" in e and "module:attribute" in e for e in errors)
    assert registry.keys("email") == ["fine", "memory"]


def test_unknown_hooks_are_refused_with_a_suggestion(registry: PluginRegistry) -> None:
    @hookimpl
    def register_emial_vendors(register: Registrar) -> None:
        """A typo."""

    with pytest.raises(
        PluginError, match="register_emial_vendors.*did you mean register_email_vendors"
    ):
        registry.register(_plugin("typo", register_emial_vendors=register_emial_vendors))
    assert [p.name for p in registry.plugins()] == ["builtin"]


def test_two_plugins_offering_one_key_is_an_error_naming_both(registry: PluginRegistry) -> None:
    registry.register(_plugin("first", register_email_vendors=_email_vendor("twin")), name="first")
    registry.register(
        _plugin("second", register_email_vendors=_email_vendor("twin")), name="second"
    )
    with pytest.raises(
        PluginError, match=r"'twin' is offered by both plugin 'first'.*plugin 'second'"
    ):
        registry.find("email", "twin")
    assert any(
        "twin" in f.error and "first" in f.error and "second" in f.error for f in registry.failures
    )
    assert registry.find("email", "memory").key == "memory"


def test_installed_duplicates_name_both_distributions(make_distribution: MakeDistribution) -> None:
    source = f"""
        from nexus_connector_core import hookimpl

        @hookimpl
        def register_email_vendors(register):
            register("acme", "{ADAPTER}")
    """
    make_distribution(
        "nexus-connector-acme-fork",
        entry_points={"acmefork": "acme_fork"},
        modules={"acme_fork": source},
    )
    registry = PluginRegistry()
    registry.load_entry_points(environ={})
    with pytest.raises(PluginError) as caught:
        registry.find("email", "acme")
    assert "nexus-connector-acme-fork" in str(caught.value)
    assert "nexus-connector-acme)" in str(caught.value)


def test_overriding_a_builtin_key_is_a_conflict_too(registry: PluginRegistry) -> None:
    registry.register(_plugin("shadow", register_email_vendors=_email_vendor("memory")))
    with pytest.raises(PluginError, match="offered by both plugin 'builtin'"):
        registry.find("email", "memory")


@pytest.mark.parametrize(
    ("value", "loaded"),
    [
        ("acme", ["builtin", "acme"]),
        ("nexus-connector-acme", ["builtin", "acme"]),
        ("", ["builtin"]),
    ],
)
def test_nexus_connector_plugins_loads_only_the_named_ones(
    make_distribution: MakeDistribution, value: str, loaded: list[str]
) -> None:
    make_distribution(
        "nexus-connector-other",
        entry_points={"other": "other_plugin"},
        modules={"other_plugin": "raise ImportError('must not be imported')\n"},
    )
    registry = PluginRegistry()
    registry.load_entry_points(environ={"NEXUS_CONNECTOR_PLUGINS": value})
    assert [p.name for p in registry.plugins()] == loaded
    assert registry.failures == []


def test_naming_a_plugin_that_is_not_installed_is_reported() -> None:
    registry = PluginRegistry()
    registry.load_entry_points(environ={"NEXUS_CONNECTOR_PLUGINS": "acme,not-installed"})
    assert [(f.plugin, "NEXUS_CONNECTOR_PLUGINS" in f.error) for f in registry.failures] == [
        ("not-installed", True)
    ]


def test_unknown_vendor_lists_installed_ones_and_where_to_get_it(registry: PluginRegistry) -> None:
    with pytest.raises(VendorNotFoundError) as caught:
        registry.find("payment", "stripe")
    error = caught.value
    assert error.installed == ("memory",)
    assert "Installed: memory" in str(error)
    assert "pip install nexus-connector-stripe" in str(error)


def test_a_close_misspelling_is_suggested(registry: PluginRegistry) -> None:
    with pytest.raises(VendorNotFoundError, match="Did you mean 'memory'"):
        registry.find("email", "memroy")


def test_implementations_load_on_first_use_and_missing_modules_get_a_hint(
    registry: PluginRegistry,
) -> None:
    registry.register(
        _plugin("ghost", register_shipping_vendors=_shipping("ghost", "nexus_ghost_sdk.adapter:A"))
    )
    registration = registry.find("shipping", "ghost")
    with pytest.raises(PluginError, match="could not be loaded.*nexus_ghost_sdk"):
        registration.load()


def _shipping(key: str, impl: str) -> object:
    @hookimpl
    def register_shipping_vendors(register: Registrar) -> None:
        register(key, impl)

    return register_shipping_vendors


def test_registering_twice_under_one_name_is_refused(registry: PluginRegistry) -> None:
    registry.register(_plugin("p", register_email_vendors=_email_vendor("one")), name="p")
    with pytest.raises(PluginError, match="already registered"):
        registry.register(_plugin("p", register_email_vendors=_email_vendor("two")), name="p")


def test_unregistering_removes_what_the_plugin_offered(registry: PluginRegistry) -> None:
    registry.register(_plugin("temp", register_email_vendors=_email_vendor("temp")), name="temp")
    assert "temp" in registry.keys("email")
    registry.unregister("temp")
    assert registry.keys("email") == ["memory"]
