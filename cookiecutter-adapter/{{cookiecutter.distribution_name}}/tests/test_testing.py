"""The example of the double's docstring runs: an application's test with the local
{{ cookiecutter.vendor_name }}, through the installed plugin."""

from __future__ import annotations

import doctest

from {{ cookiecutter.package_name }} import _options, testing


def test_the_doubles_example_runs() -> None:
    result = doctest.testmod(testing, optionflags=doctest.ELLIPSIS)

    assert result.attempted > 0
    assert result.failed == 0


def test_the_options_example_runs() -> None:
    assert doctest.testmod(_options).failed == 0
