"""System checks: ``manage.py check`` reads the config as the managers will and reports each
problem with its dotted key path and an id."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from django.core import checks

Manage = Callable[..., subprocess.CompletedProcess[str]]


def _ours(**kwargs: Any) -> list[tuple[str, str]]:
    found = checks.run_checks(tags=["nexus_connector"], **kwargs)
    return [(str(m.id), m.msg) for m in found]


def test_manage_py_check_reports_a_config_error_with_its_key_path(manage: Manage) -> None:
    bad = {"NEXUS_CONNECTOR__CONNECTORS__EMAIL__RESILIENCE__RETRY__MAX_ATTEMPTS": "0"}

    done = manage("check", env=bad)

    assert done.returncode == 1
    assert "(nexus_connector.E002) connectors.email.resilience.retry.max_attempts:" in done.stderr
    assert "NEXUS_CONNECTOR__CONNECTORS__EMAIL__RESILIENCE__RETRY__MAX_ATTEMPTS" in done.stderr
    assert "connectors.toml" in done.stderr  # the hint names the file


def test_manage_py_check_passes_a_valid_config_with_its_secrets_set(manage: Manage) -> None:
    done = manage("check")

    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_an_unset_secret_is_a_warning_and_an_error_with_deploy(manage: Manage) -> None:
    plain = manage("check", secrets=False)
    deploy = manage("check", "--deploy", "--tag", "nexus_connector", secrets=False)

    assert plain.returncode == 0  # warnings do not fail `check`, `test` or `runserver`
    assert "(nexus_connector.W002) connectors.email.credentials.password:" in plain.stderr
    assert deploy.returncode == 1
    assert "(nexus_connector.E004) connectors.payment.credentials.api_key:" in deploy.stderr


def test_every_problem_is_reported_each_with_its_path(nexus_settings: Callable[..., None]) -> None:
    config = {
        "connectors": {
            "email": {"vendor": "memory", "resilience": {"timeout": -1}},
            "sms": {"vendor": "no-such-vendor"},
        }
    }
    nexus_settings(config)

    found = _ours()

    assert [id_ for id_, _ in found] == ["nexus_connector.E002", "nexus_connector.E002"]
    assert {msg.split(":")[0] for _, msg in found} == {
        "connectors.email.resilience.timeout",
        "connectors.sms.vendor",
    }


def test_a_malformed_setting_is_E001(settings: Any) -> None:
    settings.NEXUS_CONNECTOR = {"confg": "connectors.toml"}

    [(id_, msg)] = _ours()

    assert id_ == "nexus_connector.E001"
    assert "NEXUS_CONNECTOR['confg']" in msg
    assert "did you mean 'config'?" in msg


def test_an_email_backend_without_its_email_connector_is_E003(
    nexus_settings: Callable[..., None],
) -> None:
    nexus_settings({"connectors": {"payment": {"vendor": "memory"}}}, email_connector="payment")

    [(id_, msg)] = _ours()

    assert id_ == "nexus_connector.E003"
    assert "'payment', which is a payment connector" in msg
