"""override_connectors: every connector on the memory vendor with an outbox, in a Django
TestCase (pytest-django here, Django's own runner in a subprocess), as a decorator of one test
and as a context manager. The demo project's connectors are SMTP and Stripe with secrets from
the environment: none of them is set here, and nothing leaves the process."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from django.core import mail
from django.test import Client, TestCase
from nexus_connector_django import amanager, manager
from nexus_connector_django.testing import MemoryConnectors, memory_config, override_connectors

from nexus_connector_core import EmailMessage, VendorUnavailableError
from nexus_connector_core.testing import FakeClock


@override_connectors()
class OrderMailTests(TestCase):
    nexus: MemoryConnectors

    def test_the_order_mail_lands_in_the_outbox_instead_of_the_smtp_server(self) -> None:
        response = self.client.post("/orders/7/confirm/")

        assert response.status_code == 200
        [sent] = self.nexus.outbox()
        assert sent.subject == "Order 7 confirmed"
        assert [a.filename for a in sent.attachments] == ["invoice-7.pdf", "logo.png"]
        assert [op for op, _ in self.nexus.calls("email")] == ["send"]

    def test_each_test_starts_with_an_empty_outbox(self) -> None:
        assert self.nexus.outbox() == []

    def test_every_connector_is_served_by_the_memory_vendor(self) -> None:
        vendors = {name: s.vendor.key for name, s in manager().config.connectors.items()}

        assert vendors == {"email": "memory", "payment": "memory"}


def test_no_secret_of_the_projects_config_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    # the demo project's connectors are SMTP and Stripe, with secrets from the environment
    for name in ("SMTP_USER", "SMTP_PASSWORD", "STRIPE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)

    with override_connectors() as nexus:
        mail.send_mail("Hi", "x", None, ["ada@example.com"])

    assert len(nexus.outbox()) == 1


def test_as_a_function_decorator_the_handle_comes_as_a_keyword() -> None:
    @override_connectors(kwarg_name="nexus")
    def scenario(nexus: MemoryConnectors) -> list[str]:
        Client().post("/signup/", {"email": "ada@example.com"})
        return [m.subject for m in nexus.outbox()]

    assert scenario() == ["Welcome"]


def test_a_connector_made_to_fail_fails_as_its_vendor_would() -> None:
    with override_connectors({"email": {"fail_first": 1}}) as nexus:
        with pytest.raises(VendorUnavailableError):
            mail.send_mail("Hi", "x", None, ["ada@example.com"])
        mail.send_mail("Again", "x", None, ["ada@example.com"])

    assert [m.subject for m in nexus.outbox()] == ["Again"]
    assert len(nexus.calls("email")) == 2  # a send is not retried without a key


def test_the_managers_run_on_the_clock_given() -> None:
    clock = FakeClock()
    start = clock.monotonic()

    with override_connectors({"email": {"latency": 5.0}}, clock=clock):
        mail.send_mail("Hi", "x", None, ["ada@example.com"])

    assert clock.monotonic() - start == pytest.approx(5.0)  # waited on the fake clock


def test_async_views_send_through_the_same_memory_connectors(client: Client) -> None:
    with override_connectors() as nexus:
        # Under WSGI each async view runs in an event loop of its own, with its own manager:
        # the first one is closed when the second view asks; what it sent is kept.
        client.post("/async-signup/", {"email": "ada@example.com"})
        client.post("/async-signup/", {"email": "cy@example.com"})
        client.post("/signup/", {"email": "bob@example.com"})
        during = sorted(str(m.to[0]) for m in nexus.outbox())

    after = sorted(str(m.to[0]) for m in nexus.outbox())
    assert during == after == ["ada@example.com", "bob@example.com", "cy@example.com"]


def test_the_previous_managers_come_back_once_the_override_ends(
    nexus_settings: Callable[..., None],
) -> None:
    nexus_settings({"connectors": {"email": {"vendor": "memory"}}})
    before = manager()

    with override_connectors():
        during = manager()
    after = manager()

    assert during is not before
    assert after is before
    assert during.closed
    assert not before.closed


def test_options_for_a_connector_the_config_lacks_are_refused() -> None:
    with pytest.raises(ValueError, match="sms"), override_connectors({"sms": {"fail_first": 1}}):
        pass


def test_memory_config_keeps_category_and_resilience_and_drops_vendors_and_secrets() -> None:
    config = {
        "state": {"backend": "redis", "url": "redis://127.0.0.1:6379/0"},
        "connectors": {
            "marketing": {
                "category": "email",
                "vendor": "postmark",
                "fallback": ["smtp"],
                "credentials": {"server_token": "env:POSTMARK_TOKEN"},
                "resilience": {"timeout": 5.0},
            }
        },
    }

    assert memory_config(config, {"marketing": {"latency": 0.5}}) == {
        "connectors": {
            "marketing": {
                "category": "email",
                "resilience": {"timeout": 5.0},
                "vendor": "memory",
                "options": {"latency": 0.5},
            }
        },
        "observability": {"loggers": ["memory"]},
    }


def test_a_connector_of_a_category_without_a_memory_vendor_is_kept_as_written(
    nexus_settings: Callable[..., None],
) -> None:
    crm = {
        "category": "api",
        "vendor": "http",
        "options": {"base_url": "http://127.0.0.1:9/api"},
        "endpoints": {"find_contact": {"method": "GET", "path": "/contacts/{id}"}},
    }
    nexus_settings({"connectors": {"crm": crm, "email": {"vendor": "smtp"}}})

    with override_connectors() as nexus:
        vendors = {name: s.vendor.key for name, s in manager().config.connectors.items()}

    assert vendors == {"crm": "http", "email": "memory"}
    assert nexus.calls("email") == []
    with pytest.raises(KeyError, match="crm"):
        nexus.calls("crm")
    with pytest.raises(ValueError, match="no memory vendor"):
        override_connectors({"crm": {"fail_first": 1}}).enable()


def test_djangos_test_runner_runs_the_projects_tests_with_the_override(
    manage: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = manage("test", "demo_shop", "-v", "2", secrets=False)  # no secret needed

    assert done.returncode == 0, done.stderr
    assert "Ran 2 tests" in done.stderr
    assert re.search(
        r"test_the_welcome_mail_goes_out_through_the_email_connector \(.*\) \.\.\. ok", done.stderr
    )
    # the unset secrets are warnings (check --deploy makes them errors), not a failed run
    assert "(nexus_connector.W002) connectors.email.credentials.password" in done.stderr


def test_the_testing_module_loads_no_pytest() -> None:
    code = (
        "import sys, django; from django.conf import settings; settings.configure(); "
        "django.setup(); import nexus_connector_django.testing; print('pytest' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "False"


def test_amanager_gives_the_running_loops_manager_under_the_override() -> None:
    async def send() -> None:
        message = EmailMessage(sender="shop@example.com", to=["ada@example.com"], text="x")
        await amanager().email.send(message)

    with override_connectors() as nexus:
        asyncio.run(send())

    assert len(nexus.outbox()) == 1
