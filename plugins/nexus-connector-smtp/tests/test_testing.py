"""`nexus_connector_smtp.testing`, the local SMTP server, as an application's tests use it."""

from __future__ import annotations

import doctest

import pytest
from nexus_connector_smtp import testing


def test_the_documented_application_test_runs() -> None:
    results = doctest.testmod(testing)

    assert results.attempted > 0
    assert results.failed == 0


def test_a_fresh_double_has_counted_no_connection_nor_message() -> None:
    # aiosmtpd's controller connects once to see that the server is up: not the test's.
    with testing.SmtpDouble() as smtp:
        assert (smtp.connections, smtp.outbox) == (0, [])


def test_a_tls_double_needs_its_certificate() -> None:
    with pytest.raises(ValueError, match="server_context"):
        testing.SmtpDouble(tls="starttls")


def test_the_connector_table_carries_the_login_and_allows_it_in_clear_only_when_asked() -> None:
    smtp = testing.SmtpDouble(login=("mailer", "double-password"))

    table = smtp.connector(max_batch=5)

    assert table["credentials"] == {"username": "mailer", "password": "literal:double-password"}
    assert table["options"]["allow_insecure_auth"] is True  # tls="none": the double's choice
    assert table["options"]["max_batch"] == 5
