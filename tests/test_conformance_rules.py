"""The conformance suites check the rules of docs/plugins.md ("Conformance rules"), one rule
per test, and a failing test says which rule was broken."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_connector_core.testing import (
    RULES,
    CloudStorageAdapterConformance,
    EmailAdapterConformance,
    PaymentAdapterConformance,
    ShippingAdapterConformance,
    SmsAdapterConformance,
)

ROOT = Path(__file__).resolve().parent.parent
SUITES = [
    EmailAdapterConformance,
    SmsAdapterConformance,
    PaymentAdapterConformance,
    CloudStorageAdapterConformance,
    ShippingAdapterConformance,
]


def _rules_section() -> str:
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    start = text.index("\n## Conformance rules\n")
    return text[start : text.index("\n## ", start + 1)]


@pytest.mark.parametrize("suite", SUITES, ids=lambda suite: suite.__name__)
def test_every_test_of_a_suite_checks_a_rule_of_the_plugin_guide(suite: type) -> None:
    tests = {name: test for name, test in inspect.getmembers(suite) if name.startswith("test_")}

    assert tests
    unruled = [name for name, test in tests.items() if getattr(test, "rule", None) not in RULES]
    assert unruled == []


def test_the_plugin_guide_writes_down_every_rule_and_no_other() -> None:
    written = re.findall(r"^\| \*\*([a-z-]+)\*\* \|", _rules_section(), re.M)

    assert sorted(written) == sorted(RULES)


_BROKEN_TIMEOUT = """
import pytest
from nexus_connector_core import PluginRegistry
from nexus_connector_core.http import HttpVendor
from nexus_connector_core.testing import (
    FaultServer, SmsAdapterConformance, SmsHarness, TransportFaults, _adapter_conformance)
from nexus_connector_twilio import plugin
from nexus_connector_twilio.testing import (
    ACCOUNT_SID, AUTH_TOKEN, FAULTS, SENDER, TwilioDouble)


@pytest.fixture(autouse=True)
def an_adapter_that_ignores_the_attempt_timeout(monkeypatch):
    monkeypatch.setattr(HttpVendor, "timeout_for", lambda self, ctx: 60.0)
    monkeypatch.setattr(_adapter_conformance, "HELD_BACK", 1.5)
    monkeypatch.setattr(_adapter_conformance, "TIMEOUT_BOUND", 1.0)


class TestTwilio(SmsAdapterConformance):
    @pytest.fixture
    def harness(self):
        registry = PluginRegistry()
        registry.register(plugin, "twilio")
        with FaultServer(default=TwilioDouble()) as server:
            yield SmsHarness(
                registry=registry,
                connector={
                    "vendor": "twilio",
                    "options": {"base_url": server.url, "sender": SENDER},
                    "credentials": {"account_sid": "literal:" + ACCOUNT_SID,
                                    "auth_token": "literal:" + AUTH_TOKEN},
                },
                received=lambda: [],
                fail_next=lambda kind: server.script(FAULTS[kind]),
                transport=TransportFaults.over_http(server),
            )
"""


def test_a_sync_adapter_that_ignores_ctx_timeout_fails_naming_the_timeout_rule(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_broken.py").write_text(_BROKEN_TIMEOUT, encoding="utf-8")

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "attempt_timeout"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    out = run.stdout
    failed = sorted(re.findall(r"^FAILED \S+::(\w+\[\w+\])", out, re.M))
    assert failed == [
        "test_an_answer_that_never_comes_ends_at_the_attempt_timeout[sync]",
        "test_an_answer_trickling_in_ends_at_the_attempt_timeout[sync]",
    ], out  # the async twin is cancelled by the pipeline at its timeout
    assert "[rule timeout] the attempt took" in out
    assert "Broken rule 'timeout' (docs/plugins.md, 'Conformance rules'): honour ctx.timeout" in out
