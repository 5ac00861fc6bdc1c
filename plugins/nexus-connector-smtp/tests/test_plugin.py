"""The plugin as a user meets it: discovery, options, credentials, health check."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from typing import Any

import msgspec
import pytest
from nexus_connector_smtp import AsyncSmtpEmailAdapter, SmtpEmailAdapter, SmtpOptions

from nexus_connector_core import (
    AdapterSettings,
    AsyncEmailAdapter,
    ConfigError,
    ConnectorManager,
    CredentialNotFoundError,
    EmailAdapter,
    PluginRegistry,
    Secret,
)


def settings(**options: Any) -> AdapterSettings:
    return AdapterSettings(
        connector="email",
        category="email",
        vendor="smtp",
        options=msgspec.convert(options, SmtpOptions),
        credentials={},
    )


def test_the_distribution_declares_its_entry_point() -> None:
    [point] = [ep for ep in entry_points(group="nexus_connector") if ep.name == "smtp"]
    assert point.value == "nexus_connector_smtp.plugin"


def test_installed_discovery_offers_the_smtp_email_vendor() -> None:
    registry = PluginRegistry()
    registry.load_entry_points()
    assert "smtp" in registry.keys("email")
    assert registry.find("email", "smtp").description.startswith("email over SMTP")


def test_discovery_imports_neither_smtp_library() -> None:
    code = (
        "import sys, nexus_connector_smtp.plugin; "
        "print(sorted(m for m in ('aiosmtplib', 'smtplib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_the_adapters_implement_the_email_protocols() -> None:
    assert isinstance(SmtpEmailAdapter(settings(tls="none")), EmailAdapter)
    assert isinstance(AsyncSmtpEmailAdapter(settings(tls="none")), AsyncEmailAdapter)


@pytest.mark.parametrize(("tls", "port"), [("none", 25), ("starttls", 587), ("implicit", 465)])
def test_the_port_defaults_to_the_tls_modes_own(tls: str, port: int) -> None:
    assert SmtpOptions(tls=tls).server_port == port  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tls": "ssl"}, "Invalid enum value 'ssl'"),
        ({"port": 70000}, r"Expected `int` <= 65535 - at `\$.port`"),
        ({"max_batch": 0}, r"Expected `int` >= 1 - at `\$.max_batch`"),
        ({"timeout": float("nan")}, r"Expected `float` > 0.0 - at `\$.timeout`"),
        ({"timeout": float("inf")}, r"Expected `float` <= 600.0 - at `\$.timeout`"),
        ({"port": 2**70}, r"Expected `int` <= 65535 - at `\$.port`"),
        ({"hostname": "x"}, "Object contains unknown field `hostname`"),
    ],
)
def test_bad_options_are_refused_with_what_was_expected(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(options, SmtpOptions)


def test_a_missing_ca_file_is_a_config_error_naming_the_option() -> None:
    with pytest.raises(ConfigError) as raised:
        SmtpEmailAdapter(settings(ca_file="/nonexistent/ca.pem"))
    assert raised.value.path == "connectors.email.options.ca_file"


def test_a_username_without_a_password_names_the_missing_credential() -> None:
    incomplete = msgspec.structs.replace(settings(), credentials={"username": Secret("mailer")})
    with pytest.raises(CredentialNotFoundError) as raised:
        SmtpEmailAdapter(incomplete)
    assert raised.value.path == "connectors.email.credentials.password"


def test_health_check_is_none_when_the_server_accepts_the_login(
    make_manager: Any, starttls_server: Any
) -> None:
    adapter = make_manager(starttls_server.connector()).email.adapter

    assert adapter.health_check() is None
    assert starttls_server.outbox == []


def test_health_check_says_why_the_server_refuses(make_manager: Any, starttls_server: Any) -> None:
    starttls_server.fail("auth", "535 5.7.8 Authentication credentials invalid")
    adapter = make_manager(starttls_server.connector()).email.adapter

    assert "535 5.7.8" in (adapter.health_check() or "")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("local_hostname", "client.test\r\nRSET"),  # would end EHLO and send a command of its own
        ("local_hostname", "client test"),
        ("local_hostname", "bücher.example"),  # EHLO carries ASCII only
        ("host", ""),
        ("host", "smtp.example.com\n"),
        ("host", "x" * 256),
    ],
)
def test_a_host_name_smtp_cannot_carry_is_refused_at_load_naming_the_key(
    key: str, value: str
) -> None:
    email = {"vendor": "smtp", "options": {"tls": "none", key: value}}

    with pytest.raises(ConfigError) as raised:
        ConnectorManager.from_config({"connectors": {"email": email}}, environ={})

    assert raised.value.path == f"connectors.email.options.{key}"
