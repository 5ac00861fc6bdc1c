"""Configuration: every error names its dotted key path, all problems are reported at once,
environment variables override any value, secrets resolve and never show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nexus_connector_core import (
    EMBEDDED_DEFAULTS,
    ConfigError,
    PluginRegistry,
    Registrar,
    VendorNotFoundError,
    hookimpl,
    load_config,
)
from nexus_connector_core._config import find_config_file

SECRET = "s3cr3t-VALUE-never-shown"


@pytest.fixture
def installed() -> PluginRegistry:
    registry = PluginRegistry()
    registry.load_entry_points(environ={})
    return registry


def _problems(
    config: Any, registry: PluginRegistry, environ: dict[str, str] | None = None
) -> dict[str | None, str]:
    with pytest.raises(ConfigError) as caught:
        load_config(config, registry=registry, environ=environ or {})
    return {p.path: p.detail for p in caught.value.problems}


def _one(
    config: Any, registry: PluginRegistry, environ: dict[str, str] | None = None
) -> tuple[str | None, str]:
    problems = _problems(config, registry, environ)
    assert len(problems) == 1, problems
    return next(iter(problems.items()))


# -- reading --------------------------------------------------------------------------------


def test_the_embedded_defaults_give_every_category_its_memory_vendor(
    registry: PluginRegistry,
) -> None:
    config = load_config(EMBEDDED_DEFAULTS, registry=registry, environ={})
    assert {n: (s.category, s.vendor.key) for n, s in config.connectors.items()} == {
        "email": ("email", "memory"),
        "sms": ("sms", "memory"),
        "payment": ("payment", "memory"),
        "cloud_storage": ("cloud_storage", "memory"),
        "shipping": ("shipping", "memory"),
    }


def test_a_toml_file_is_read(tmp_path: Path, registry: PluginRegistry) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text('[connectors.email]\nvendor = "memory"\n', encoding="utf-8")
    config = load_config(path, registry=registry, environ={})
    assert config.source == str(path)
    assert list(config.connectors) == ["email"]


def test_the_file_is_found_by_env_var_then_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "connectors.toml").write_text("", encoding="utf-8")
    assert find_config_file({}, cwd=tmp_path) == tmp_path / "connectors.toml"
    assert find_config_file({"NEXUS_CONNECTOR_CONFIG": "/etc/x.toml"}, cwd=tmp_path) == Path(
        "/etc/x.toml"
    )
    with pytest.raises(ConfigError, match=r"no configuration found.*NEXUS_CONNECTOR_CONFIG.*demo"):
        find_config_file({}, cwd=tmp_path / "elsewhere")


def test_a_missing_file_is_a_config_error(tmp_path: Path, registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file: No such file") as caught:
        load_config(tmp_path / "nope.toml", registry=registry, environ={})
    assert caught.value.source == str(tmp_path / "nope.toml")


def test_invalid_toml_says_where(tmp_path: Path, registry: PluginRegistry) -> None:
    path = tmp_path / "connectors.toml"
    path.write_text('[connectors.email]\nvendor = "memory\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2"):
        load_config(path, registry=registry, environ={})


# -- structure ------------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_right_one(registry: PluginRegistry) -> None:
    path, detail = _one({"conectors": {}}, registry)
    assert path == "conectors"
    assert "did you mean 'connectors'" in detail


def test_connectors_must_be_a_table(registry: PluginRegistry) -> None:
    assert _one({"connectors": ["email"]}, registry)[0] == "connectors"


def test_connector_names_must_fit_environment_variables(registry: PluginRegistry) -> None:
    path, detail = _one({"connectors": {"E-mail": {"vendor": "memory"}}}, registry)
    assert _one({"connectors": {"a.b": {"vendor": "memory"}}}, registry)[0] == 'connectors."a.b"'
    assert path == "connectors.E-mail"
    assert "lowercase" in detail


def test_unknown_connector_key_names_the_path_and_suggests(registry: PluginRegistry) -> None:
    path, detail = _one({"connectors": {"email": {"vendor": "memory", "optoins": {}}}}, registry)
    assert path == "connectors.email.optoins"
    assert "did you mean 'options'" in detail
    assert "credentials" in detail  # lists what is allowed


def test_missing_vendor(registry: PluginRegistry) -> None:
    assert _one({"connectors": {"email": {}}}, registry) == (
        "connectors.email.vendor",
        "missing required key",
    )


def test_wrong_type_names_the_path(registry: PluginRegistry) -> None:
    path, detail = _one({"connectors": {"email": {"vendor": 7}}}, registry)
    assert path == "connectors.email.vendor"
    assert "expected `str`, got `int`" in detail


def test_a_connector_not_named_after_a_category_needs_one(registry: PluginRegistry) -> None:
    path, detail = _one({"connectors": {"marketing": {"vendor": "memory"}}}, registry)
    assert path == "connectors.marketing"
    assert "category = one of email, sms, payment, cloud_storage, shipping" in detail


def test_unknown_category(registry: PluginRegistry) -> None:
    config = {"connectors": {"marketing": {"vendor": "memory", "category": "fax"}}}
    assert _one(config, registry)[0] == "connectors.marketing.category"


def test_unknown_vendor_names_path_installed_vendors_and_distribution(
    registry: PluginRegistry,
) -> None:
    with pytest.raises(VendorNotFoundError) as caught:
        load_config(
            {"connectors": {"email": {"vendor": "postmark"}}}, registry=registry, environ={}
        )
    error = caught.value
    assert error.path == "connectors.email.vendor"
    assert "Installed: memory." in error.detail
    assert "pip install nexus-connector-postmark" in error.detail
    assert str(error).startswith("connectors.email.vendor: unknown email vendor 'postmark'")


def test_several_named_connectors_of_one_category(registry: PluginRegistry) -> None:
    config = load_config(
        {
            "connectors": {
                "email": {"vendor": "memory"},
                "marketing": {"category": "email", "vendor": "memory"},
            }
        },
        registry=registry,
        environ={},
    )
    assert [(s.name, s.category) for s in config.connectors.values()] == [
        ("email", "email"),
        ("marketing", "email"),
    ]


# -- vendor options -------------------------------------------------------------------------


def test_vendor_options_are_checked_against_the_vendors_type(registry: PluginRegistry) -> None:
    config = load_config(
        {"connectors": {"sms": {"vendor": "memory", "options": {"fail_first": 2}}}},
        registry=registry,
        environ={},
    )
    assert config.connectors["sms"].options.fail_first == 2


@pytest.mark.parametrize(
    ("options", "path", "fragment"),
    [
        ({"latency": "slow"}, "connectors.sms.options.latency", "expected `float`, got `str`"),
        ({"fail_frist": 1}, "connectors.sms.options.fail_frist", "did you mean 'fail_first'"),
        (
            {"failure": "meltdown"},
            "connectors.sms.options.failure",
            "invalid enum value 'meltdown'",
        ),
        (
            {"fail_first": -1},
            "connectors.sms.options.fail_first",
            "must be a number from 0 to 1000000000, got -1",
        ),
    ],
)
def test_bad_vendor_options_name_their_path(
    registry: PluginRegistry, options: dict[str, Any], path: str, fragment: str
) -> None:
    got_path, detail = _one(
        {"connectors": {"sms": {"vendor": "memory", "options": options}}}, registry
    )
    assert got_path == path
    assert fragment in detail


def test_options_for_a_vendor_that_takes_none(registry: PluginRegistry) -> None:
    @hookimpl
    def register_sms_vendors(register: Registrar) -> None:
        register("plain", "nexus_connector_core.vendors.memory.sms:MemorySmsAdapter")

    registry.register(type("P", (), {"register_sms_vendors": staticmethod(register_sms_vendors)}))
    config = {"connectors": {"sms": {"vendor": "plain", "options": {"x": 1}}}}
    assert _one(config, registry) == ("connectors.sms.options", "vendor 'plain' takes no options")


# -- credentials ----------------------------------------------------------------------------


def test_a_required_credential_that_is_absent(installed: PluginRegistry) -> None:
    path, detail = _one({"connectors": {"email": {"vendor": "acme"}}}, installed)
    assert path == "connectors.email.credentials.api_key"
    assert "needs credential 'api_key'" in detail
    assert "env:EMAIL_API_KEY" in detail


def test_env_and_file_references_resolve_to_secrets(
    tmp_path: Path, installed: PluginRegistry
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key").write_text(SECRET + "\n", encoding="utf-8")
    path = tmp_path / "connectors.toml"
    path.write_text(
        "[connectors.email]\nvendor = 'acme'\n"
        "credentials = { api_key = 'file:secrets/key', extra = 'env:ACME_EXTRA' }\n",
        encoding="utf-8",
    )
    config = load_config(path, registry=installed, environ={"ACME_EXTRA": SECRET})
    creds = config.connectors["email"].credentials
    assert creds["api_key"].reveal() == SECRET  # relative to the config file's folder
    assert creds["extra"].reveal() == SECRET
    assert SECRET not in repr(config)


def test_an_unset_environment_variable_names_the_reference(installed: PluginRegistry) -> None:
    config = {
        "connectors": {"email": {"vendor": "acme", "credentials": {"api_key": "env:ACME_KEY"}}}
    }
    path, detail = _one(config, installed)
    assert path == "connectors.email.credentials.api_key"
    assert "ACME_KEY is not set" in detail


def test_an_unreadable_secret_file(installed: PluginRegistry, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    config = {
        "connectors": {"email": {"vendor": "acme", "credentials": {"api_key": f"file:{missing}"}}}
    }
    path, detail = _one(config, installed)
    assert path == "connectors.email.credentials.api_key"
    assert "cannot read secret file" in detail


def test_an_unknown_provider_does_not_echo_what_may_be_a_literal_secret(
    installed: PluginRegistry,
) -> None:
    literal = "hunter:two-PASSWORD"
    config = {"connectors": {"email": {"vendor": "acme", "credentials": {"api_key": literal}}}}
    path, detail = _one(config, installed)
    assert path == "connectors.email.credentials.api_key"
    assert "literal:" in detail
    assert "hunter" not in detail
    assert "PASSWORD" not in detail


def test_literal_values_are_allowed(installed: PluginRegistry) -> None:
    config = {
        "connectors": {
            "email": {
                "vendor": "acme",
                "credentials": {"api_key": "plainvalue", "b": "literal:x:y"},
            }
        }
    }
    creds = load_config(config, registry=installed, environ={}).connectors["email"].credentials
    assert (creds["api_key"].reveal(), creds["b"].reveal()) == ("plainvalue", "x:y")


# -- environment overrides ------------------------------------------------------------------


def test_environment_variables_override_any_value(registry: PluginRegistry) -> None:
    environ = {
        "NEXUS_CONNECTOR__CONNECTORS__SMS__OPTIONS__FAIL_FIRST": "3",
        "NEXUS_CONNECTOR__CONNECTORS__SMS__OPTIONS__FAILURE": "timeout",
        "NEXUS_CONNECTOR__CONNECTORS__EXTRA__CATEGORY": "email",
        "NEXUS_CONNECTOR__CONNECTORS__EXTRA__VENDOR": "memory",
    }
    config = load_config(
        {"connectors": {"sms": {"vendor": "memory"}}}, registry=registry, environ=environ
    )
    options = config.connectors["sms"].options
    assert (options.fail_first, options.failure) == (3, "timeout")
    assert config.connectors["extra"].category == "email"


def test_an_overridden_value_that_is_wrong_names_the_variable(registry: PluginRegistry) -> None:
    environ = {"NEXUS_CONNECTOR__CONNECTORS__SMS__OPTIONS__LATENCY": "soon"}
    path, detail = _one({"connectors": {"sms": {"vendor": "memory"}}}, registry, environ)
    assert path == "connectors.sms.options.latency"
    assert "NEXUS_CONNECTOR__CONNECTORS__SMS__OPTIONS__LATENCY" in detail


def test_an_override_inside_a_non_table(registry: PluginRegistry) -> None:
    environ = {"NEXUS_CONNECTOR__CONNECTORS__SMS__VENDOR__X": "1"}
    path, detail = _one({"connectors": {"sms": {"vendor": "memory"}}}, registry, environ)
    assert path == "connectors.sms.vendor"
    assert "not a table" in detail


def test_credentials_from_overrides_stay_strings(installed: PluginRegistry) -> None:
    environ = {"NEXUS_CONNECTOR__CONNECTORS__EMAIL__CREDENTIALS__API_KEY": "123456"}
    config = load_config(
        {"connectors": {"email": {"vendor": "acme"}}}, registry=installed, environ=environ
    )
    assert config.connectors["email"].credentials["api_key"].reveal() == "123456"


# -- all at once, nothing half-applied ------------------------------------------------------


def test_every_problem_is_reported_at_once(registry: PluginRegistry) -> None:
    problems = _problems(
        {
            "connectors": {
                "email": {"vendor": "nope"},
                "sms": {"vendor": "memory", "options": {"latency": -1}},
                "payment": {"vendor": "memory", "credentials": {"k": "env:UNSET"}},
            },
            "observability": {"loggers": ["carrier-pigeon"]},
        },
        registry,
    )
    assert set(problems) == {
        "connectors.email.vendor",
        "connectors.sms.options.latency",
        "connectors.payment.credentials.k",
        "observability.loggers[0]",
    }


def test_the_aggregate_message_lists_each_path(registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {"connectors": {"email": {"vendor": "x"}, "sms": {"vendor": "y"}}},
            registry=registry,
            environ={},
        )
    message = str(caught.value)
    assert message.startswith("2 problems:")
    assert "connectors.email.vendor:" in message
    assert "connectors.sms.vendor:" in message


def test_unknown_middleware(registry: PluginRegistry) -> None:
    config = {"connectors": {"email": {"vendor": "memory", "middleware": ["audit"]}}}
    path, detail = _one(config, registry)
    assert path == "connectors.email.middleware[0]"
    assert "unknown middleware 'audit'" in detail


def test_secret_values_never_appear_in_config_errors(installed: PluginRegistry) -> None:
    environ = {"ACME_KEY": SECRET}
    config = {
        "connectors": {
            "email": {"vendor": "acme", "credentials": {"api_key": "env:ACME_KEY"}, "oops": 1}
        }
    }
    with pytest.raises(ConfigError) as caught:
        load_config(config, registry=installed, environ=environ)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.problems)
