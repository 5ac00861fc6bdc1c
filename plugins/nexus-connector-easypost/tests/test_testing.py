"""`nexus_connector_easypost.testing`, the local EasyPost, as an application's tests use it."""

from __future__ import annotations

import doctest

from nexus_connector_easypost import testing


def test_the_documented_application_test_runs() -> None:
    results = doctest.testmod(testing)

    assert results.attempted > 0
    assert results.failed == 0
