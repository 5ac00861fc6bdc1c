"""`nexus_connector_postmark.testing`, the local Postmark, as an application's tests use it."""

from __future__ import annotations

import doctest

from nexus_connector_postmark import testing


def test_the_documented_application_test_runs() -> None:
    results = doctest.testmod(testing)

    assert results.attempted > 0
    assert results.failed == 0
