"""The pytest plugin for application tests (nexus_connector_core.testing.pytest_plugin), run
as an application's test session would run it: through its pytest11 entry point, in
pytester's sessions, on configs written to their folders."""

from __future__ import annotations

import re
from pathlib import Path

import importlib_metadata  # noqa: F401 - see below
import pytest

# The library's own modules that the sessions below would load first are imported here too
# (the HTTP toolkit, and the api vendors whose options classes the built-in plugin's
# registration keeps): pytester drops what a session imported from sys.modules when it ends,
# so they would be imported anew while objects of the first import live on. msgspec then
# could not read such a class's annotations (NameError: ClassVar), and the HTTP toolkit's
# errors of one import escaped the mapping of the other (a raw httpcore.ReadError): this file
# run alone failed the Stripe-double test, and a Django plugin test run after it.
import nexus_connector_core.vendors.http_api  # noqa: F401

# The core discovers plugins with the importlib_metadata backport, which on its first import
# puts its finder on sys.meta_path and takes the standard library's away. Imported first in
# one of pytester's in-process sessions, it would be gone with the session's sys.meta_path,
# leaving this process no way to find any distribution: so it is imported here, before them.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
TESTING_MD = ROOT / "docs" / "testing.md"
#: A fenced block whose first line is a comment naming its file: "# tests/test_shop.py".
_BLOCK = re.compile(r"^```(?:python|toml)\n# ([\w./-]+\.(?:py|toml))\n(.*?)^```$", re.M | re.S)

CONFIG = """
[connectors.email]
vendor = "smtp"
options = { host = "smtp.example.com", port = 587 }
credentials = { username = "env:SMTP_USER", password = "env:SMTP_PASSWORD" }

[connectors.payment]
vendor = "stripe"
fallback = ["memory"]
credentials = { api_key = "env:STRIPE_API_KEY" }
resilience = { retry = { max_attempts = 3 } }

[connectors.invoices]
category = "cloud_storage"
vendor = "s3"
options = { bucket = "invoices" }

[connectors.sms]
vendor = "twilio"

[state]
backend = "redis"
url = "redis://127.0.0.1:1/0"
fail_mode = "closed"

[observability]
loggers = ["sql"]
"""


@pytest.fixture
def app(pytester: pytest.Pytester) -> pytest.Pytester:
    """An application's folder with its connectors.toml (vendors it would need accounts for,
    a Redis nobody runs, secrets nobody set)."""
    pytester.makefile(".toml", connectors=CONFIG)
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers", *args)


def test_the_documented_application_test_passes_on_the_documented_config(
    pytester: pytest.Pytester,
) -> None:
    files = dict(_BLOCK.findall(TESTING_MD.read_text(encoding="utf-8")))
    assert {"connectors.toml", "shop.py", "tests/test_shop.py"} <= set(files)
    for name in ("connectors.toml", "shop.py", "tests/test_shop.py"):
        path = pytester.path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"# {name}\n{files[name]}", encoding="utf-8")
    pytester.syspathinsert()

    result = _run(pytester, "tests/test_shop.py")

    result.assert_outcomes(passed=5)


def test_the_documented_application_test_on_a_plugins_double_passes(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("nexus_connector_stripe.testing")
    files = dict(_BLOCK.findall(TESTING_MD.read_text(encoding="utf-8")))
    for name in ("connectors.toml", "shop.py", "tests/test_shop_on_stripe.py"):
        path = pytester.path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"# {name}\n{files[name]}", encoding="utf-8")
    pytester.syspathinsert()

    result = _run(pytester, "tests/test_shop_on_stripe.py")

    result.assert_outcomes(passed=1)


def test_every_connector_is_on_the_memory_vendor_with_its_name_category_and_policies(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(
        """
        def test_switched(nexus_manager):
            connectors = nexus_manager.config.connectors
            assert {n: (c.category, c.vendor.key) for n, c in connectors.items()} == {
                "email": ("email", "memory"),
                "payment": ("payment", "memory"),
                "invoices": ("cloud_storage", "memory"),
                "sms": ("sms", "memory"),
            }
            payment = nexus_manager.connector("payment")
            assert payment.vendors == ("memory",)
            assert connectors["payment"].resilience["purchase"].retry.max_attempts == 3
            assert connectors["email"].credentials == {}
            assert nexus_manager.config.state.backend.key == "memory"
            assert nexus_manager.config.observability.loggers == ("memory",)
        """
    )

    _run(app).assert_outcomes(passed=1)


def test_environment_overrides_do_not_reach_the_test_managers(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_CONNECTOR__CONNECTORS__EMAIL__VENDOR", "smtp")
    monkeypatch.setenv("NEXUS_CONNECTOR__CONNECTORS__EMAIL__CREDENTIALS__API_KEY", "env:NOPE")
    app.makepyfile(
        """
        def test_switched(nexus_manager):
            assert nexus_manager.email.vendor == "memory"
        """
    )

    _run(app).assert_outcomes(passed=1)


def test_nexus_config_follows_NEXUS_CONNECTOR_CONFIG(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text('[connectors.alerts]\ncategory = "sms"\nvendor = "twilio"\n')
    monkeypatch.setenv("NEXUS_CONNECTOR_CONFIG", str(elsewhere))
    pytester.makepyfile(
        """
        from nexus_connector_core import SmsMessage

        def test_alerts(nexus_config, nexus_manager, nexus_outbox):
            assert str(nexus_config).endswith("elsewhere.toml")
            nexus_manager.connector("alerts").send(SmsMessage(to="+14155550100", body="Up"))
            [(operation, sms)] = nexus_outbox["alerts"]
            assert (operation, sms.body) == ("send", "Up")
        """
    )

    _run(pytester).assert_outcomes(passed=1)


def test_without_a_config_the_test_fails_saying_where_it_looked_and_how_to_give_one(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_needs_config(nexus_manager):\n    pass\n")

    result = _run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no configuration found*override the nexus_config fixture*"])


def test_nexus_config_is_overridden_like_any_fixture(app: pytest.Pytester) -> None:
    app.makeconftest(
        """
        import pytest

        @pytest.fixture
        def nexus_config():
            return {"connectors": {"shipping": {"vendor": "easypost", "options": {"x": 1}}}}
        """
    )
    app.makepyfile(
        """
        def test_override(nexus_manager, nexus_outbox):
            assert list(nexus_manager.config.connectors) == ["shipping"]
            assert list(nexus_outbox) == ["shipping"]
        """
    )

    _run(app).assert_outcomes(passed=1)


def test_an_invalid_config_fails_the_test_naming_the_key_and_the_file(
    app: pytest.Pytester,
) -> None:
    app.makefile(
        ".toml",
        connectors='[connectors.email]\nvendor = "smtp"\nresilience.retry.max_atempts = 2\n',
    )
    app.makepyfile("def test_it(nexus_manager):\n    pass\n")

    result = _run(app)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*connectors.toml, with every connector switched to the memory vendor*", "*max_atempts*"]
    )


def test_the_fake_clock_is_the_managers_clock_and_waits_take_no_time(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(
        """
        import pytest
        from nexus_connector_core import Money, PaymentRequest

        @pytest.mark.nexus_fail("payment", failure="rate_limited", times=2)
        def test_waits(nexus_manager, nexus_amanager, nexus_clock, nexus_outbox):
            assert nexus_manager.clock is nexus_clock is nexus_amanager.clock
            request = PaymentRequest(amount=Money(500, "EUR"), payment_method="pm_card_visa")
            nexus_manager.payment.purchase(request)
            assert len(nexus_outbox["payment"]) == 3
            assert nexus_clock.sleeps and min(nexus_clock.sleeps) >= 1.0  # Retry-After: 1
        """
    )

    _run(app).assert_outcomes(passed=1)


def test_a_failure_marker_fails_the_first_attempts_with_the_failure_named(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(
        """
        import pytest
        from nexus_connector_core import AuthenticationError, EmailMessage, VendorTimeoutError

        MESSAGE = EmailMessage(sender="a@example.com", to=["b@example.com"], subject="s", text="t")

        @pytest.mark.nexus_fail("email", failure="auth", times=1)
        def test_once(nexus_manager, nexus_outbox):
            with pytest.raises(AuthenticationError):
                nexus_manager.email.send(MESSAGE)
            nexus_manager.email.send(MESSAGE)
            assert len(nexus_outbox["email"]) == 2

        @pytest.mark.nexus_fail("email", failure="timeout")
        def test_always(nexus_manager, nexus_outbox):
            for _ in range(3):
                with pytest.raises(VendorTimeoutError):
                    nexus_manager.email.send(MESSAGE)

        @pytest.mark.nexus_fail("email", failure="invalid")
        class TestClassMarker:
            @pytest.mark.nexus_fail("email", failure="auth")
            def test_the_closest_marker_wins(self, nexus_manager):
                with pytest.raises(AuthenticationError):
                    nexus_manager.email.send(MESSAGE)

        def test_no_marker_no_failure(nexus_manager):
            nexus_manager.email.send(MESSAGE)
        """
    )

    _run(app).assert_outcomes(passed=4)


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        (
            '"paymnt"',
            "*names 'paymnt', which *connectors.toml does not configure; its connectors:"
            " email, payment, invoices, sms*",
        ),
        ('"payment", failure="broke"', "*failure must be one of unavailable, *got 'broke'*"),
        ('"payment", times=0', "*times must be a whole number from 1 to*got 0*"),
        ('"payment", times=True', "*times must be a whole number*got True*"),
        ("42", "*connector must be a connector's name*"),
    ],
)
def test_a_bad_marker_fails_the_test_with_the_reason(
    app: pytest.Pytester, marker: str, expected: str
) -> None:
    app.makepyfile(
        f"""
        import pytest

        @pytest.mark.nexus_fail({marker})
        def test_marked(nexus_manager):
            pass
        """
    )

    result = _run(app)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([expected])


def test_a_vendor_marker_puts_a_connector_on_a_plugins_double_served_by_a_fixture(
    app: pytest.Pytester,
) -> None:
    pytest.importorskip("nexus_connector_stripe.testing")
    app.makepyfile(
        """
        import socket

        import pytest
        from nexus_connector_core import Money, PaymentRequest
        from nexus_connector_core.testing import FaultServer
        from nexus_connector_stripe.testing import API_KEY, StripeDouble

        SERVED = []

        @pytest.fixture
        def stripe():
            return StripeDouble()

        @pytest.fixture
        def local_stripe(stripe):
            with FaultServer(default=stripe) as server:
                SERVED.append(server)
                yield {
                    "vendor": "stripe",
                    "options": {"base_url": server.url},
                    "credentials": {"api_key": f"literal:{API_KEY}"},
                }

        @pytest.mark.nexus_vendor("payment", "local_stripe")
        def test_the_charge_reaches_the_double_once(nexus_manager, nexus_outbox, stripe):
            stripe.reset_after_processing()  # Stripe acts, the answer is lost: retried

            payment = nexus_manager.payment.purchase(
                PaymentRequest(amount=Money(1999, "USD"), payment_method="pm_card_visa")
            )

            assert payment.status == "succeeded"
            assert [c["amount"] for c in stripe.charges] == [1999]  # the key made it once
            assert nexus_manager.payment.vendors == ("stripe",)  # fallback ["memory"] dropped
            assert nexus_manager.email.vendor == "memory"
            assert "payment" not in nexus_outbox and "email" in nexus_outbox

        def test_the_fixture_stopped_the_double_after_the_test():
            [server] = SERVED
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        """
    )

    _run(app).assert_outcomes(passed=2)


def test_a_vendor_marker_takes_a_table_and_the_closest_marker_wins(
    app: pytest.Pytester, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    app.makepyfile(
        f"""
        import pytest

        pytestmark = pytest.mark.nexus_vendor("invoices", {{"vendor": "nowhere"}})

        @pytest.mark.nexus_vendor(
            "invoices", {{"vendor": "filesystem", "options": {{"root": {str(store)!r}}}}}
        )
        def test_stored_on_disk(nexus_manager):
            nexus_manager.connector("invoices").put("2026/1.pdf", b"%PDF")
            assert nexus_manager.connector("invoices").vendor == "filesystem"
        """
    )

    _run(app).assert_outcomes(passed=1)
    assert (store / "2026" / "1.pdf").read_bytes() == b"%PDF"


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ('"billing", {"vendor": "stripe"}', "*names 'billing', which *connectors.toml*"),
        ('"payment"', "*give the connector's vendor table*got None*"),
        ('"payment", {"options": {}}', "*must name the vendor*"),
        ('"payment", {"vendor": "stripe", "resilience": {}}', "*gives 'resilience'*"),
        ('"payment", "stripe_table"', "*fixture 'stripe_table' must be a mapping*got 42*"),
    ],
    ids=["unknown-connector", "no-table", "no-vendor", "not-a-vendor-key", "fixture-not-a-table"],
)
def test_a_bad_vendor_marker_fails_the_test_with_the_reason(
    app: pytest.Pytester, marker: str, expected: str
) -> None:
    app.makepyfile(
        f"""
        import pytest

        @pytest.fixture
        def stripe_table():
            return 42

        @pytest.mark.nexus_vendor({marker})
        def test_marked(nexus_manager):
            pass
        """
    )

    result = _run(app)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([expected])


def test_a_connector_cannot_be_both_failed_and_put_on_another_vendor(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(
        """
        import pytest

        @pytest.mark.nexus_fail("payment")
        @pytest.mark.nexus_vendor("payment", {"vendor": "stripe"})
        def test_marked(nexus_manager):
            pass
        """
    )

    result = _run(app)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*both name 'payment'*script its double*"])


def test_a_marker_on_a_test_without_a_manager_fails_it_rather_than_do_nothing(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(
        """
        import pytest

        @pytest.mark.nexus_fail("payment")
        def test_marked(nexus_outbox):
            pass
        """
    )

    result = _run(app)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*acts on nexus_manager and nexus_amanager*uses neither*"])


def test_the_managers_are_closed_after_the_test_and_the_outbox_outlives_them(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(
        """
        import pytest
        from nexus_connector_core import SmsMessage

        seen = {}

        @pytest.mark.asyncio
        async def test_use(nexus_manager, nexus_amanager, nexus_outbox):
            seen.update(sync=nexus_manager, async_=nexus_amanager, outbox=nexus_outbox)
            await nexus_amanager.sms.send(SmsMessage(to="+14155550100", body="Hi"))

        def test_closed():
            assert seen["sync"].closed and seen["async_"].closed
            assert seen["outbox"]["email"] == []
            assert [op for op, _ in seen["outbox"]["sms"]] == ["send"]
        """
    )

    _run(app, "-p", "asyncio").assert_outcomes(passed=2)


def test_a_connector_of_a_category_without_a_memory_vendor_is_kept_as_written(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_TOKEN", "token-from-the-environment")
    app.makefile(
        ".toml",
        connectors=CONFIG
        + """
[connectors.crm]
category = "api"
vendor = "http"
options = { base_url = "http://127.0.0.1:9/api" }
auth = { kind = "bearer", token = "env:CRM_TOKEN" }
endpoints = { find = { method = "GET", path = "/contacts/{id}", reads = true } }
""",
    )
    app.makepyfile(
        """
        import pytest

        def test_kept(nexus_manager, nexus_outbox):
            assert nexus_manager.connector("crm").vendor == "http"
            assert nexus_manager.email.vendor == "memory"
            assert "crm" not in nexus_outbox

        @pytest.mark.nexus_fail("crm")
        def test_cannot_fail(nexus_manager):
            pass
        """
    )

    result = _run(app)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*api connectors have no memory vendor to fail*"])


def test_the_outbox_names_the_connectors_when_asked_for_another(app: pytest.Pytester) -> None:
    app.makepyfile(
        """
        import pytest

        def test_unknown(nexus_outbox):
            with pytest.raises(KeyError, match="no connector named 'mail'.*: email, payment, inv"):
                nexus_outbox["mail"]
        """
    )

    _run(app).assert_outcomes(passed=1)


def test_a_session_that_uses_no_fixture_of_the_plugin_loads_nothing_of_the_library(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_untouched():
            loaded = [m for m in sys.modules if m.startswith("nexus_connector_core.")]
            assert set(loaded) <= {
                "nexus_connector_core._version",
                "nexus_connector_core.testing",
                "nexus_connector_core.testing._clock",
                "nexus_connector_core.testing.pytest_plugin",
                "nexus_connector_core._lazy",
            }, loaded
        """
    )

    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")

    result.assert_outcomes(passed=1)
    _run(pytester, "--markers").stdout.fnmatch_lines(["@pytest.mark.nexus_fail(connector, *"])


def test_the_plugin_is_loaded_by_its_entry_point() -> None:
    from importlib.metadata import entry_points

    [entry] = [e for e in entry_points(group="pytest11") if e.name == "nexus_connector"]
    assert entry.value == "nexus_connector_core.testing.pytest_plugin"
    assert entry.dist is not None
    assert entry.dist.name == "nexus-connector-core"
