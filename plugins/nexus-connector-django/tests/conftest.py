"""Fixtures for the Django integration's tests, run against the demo project in
``tests/demo_site`` (a minimal Django project on SQLite, as ``startproject`` makes one) under
pytest-django.

Django is set up for one test module at a time (``django_project``), and unconfigured
after it: the repository's other tests run pytest sessions of their own, in this process and
in subprocesses, where pytest-django must find no Django configured (``DJANGO_SETTINGS_MODULE``
is never left in the environment) and no test environment already set up. pytest-django's
``django_test_environment``, ``django_db_setup`` and ``django_db_blocker`` are replaced to
match.

- every test starts with no manager built and ends with the process's managers closed;
- ``nexus_settings(config, email_connector=None)``: ``NEXUS_CONNECTOR`` for one test, with
  ``EMAIL_BACKEND`` ours (Django's test environment swaps in its locmem backend);
- ``memory_email``: the ``email`` connector on the memory vendor; ``email_options`` its
  options;
- ``site_env``: the environment in which the demo project's ``manage.py`` finds its
  secrets; ``manage(*args, env=None, secrets=True)``: runs ``manage.py`` in a subprocess
  (``secrets=False``: without them).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import django
import pytest
from nexus_connector_django import close_managers

SITE = Path(__file__).resolve().parent / "demo_site"
#: The secrets the demo project's connectors.toml reads (fake: nothing is sent with them).
SECRETS = {"SMTP_USER": "demo", "SMTP_PASSWORD": "demo-password", "STRIPE_SECRET_KEY": "sk_demo"}


def pytest_configure(config: pytest.Config) -> None:
    # The demo project importable, as manage.py makes it (tests import its views).
    if str(SITE) not in sys.path:
        sys.path.insert(0, str(SITE))


@pytest.fixture(scope="module", autouse=True)
def django_project() -> Iterator[None]:
    """Django set up with the demo project's settings (as manage.py sets it up) and its test
    environment, for one test module; then put back as it was."""
    from django.conf import settings
    from django.test.utils import setup_test_environment, teardown_test_environment
    from django.utils.functional import empty

    ours = not settings.configured
    if ours:
        before = os.environ.get("DJANGO_SETTINGS_MODULE")
        os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
        try:
            django.setup()  # the settings are read from the variable here
        finally:
            if before is None:
                del os.environ["DJANGO_SETTINGS_MODULE"]
            else:
                os.environ["DJANGO_SETTINGS_MODULE"] = before
    setup_test_environment(debug=False)
    yield
    teardown_test_environment()
    if ours:
        settings._wrapped = empty  # unconfigured again, as Django's own tests do it


@pytest.fixture(scope="module")
def django_test_environment(django_project: None) -> None:
    """pytest-django's, replaced: ``django_project`` sets Django's test environment up and
    tears it down with each module."""


@pytest.fixture(scope="module")
def django_db_setup(django_project: None) -> Iterator[None]:
    """pytest-django's, replaced: the test database (in memory) of one module."""
    from django.test.utils import setup_databases, teardown_databases

    created = setup_databases(verbosity=0, interactive=False)
    yield
    teardown_databases(created, verbosity=0)


@pytest.fixture(scope="module")
def django_db_blocker(django_project: None) -> Any:
    """pytest-django's, replaced: it blocks the database only when Django is set up before
    the session starts; set up later, nothing is blocked, and there is nothing to unblock."""
    return SimpleNamespace(block=contextlib.nullcontext, unblock=contextlib.nullcontext)


@pytest.fixture(autouse=True)
def _fresh_managers() -> Iterator[None]:
    close_managers()
    yield
    close_managers()


@pytest.fixture
def nexus_settings(settings: Any) -> Callable[..., None]:
    def apply(config: Any, email_connector: str | None = None) -> None:
        chosen = {"email_connector": email_connector} if email_connector else {}
        settings.NEXUS_CONNECTOR = {"config": config, **chosen}
        settings.EMAIL_BACKEND = "nexus_connector_django.EmailBackend"

    return apply


@pytest.fixture
def email_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def memory_email(nexus_settings: Callable[..., None], email_options: dict[str, Any]) -> None:
    email = {
        "vendor": "memory",
        "options": email_options,
        "resilience": {"retry": {"enabled": False}},
    }
    nexus_settings({"connectors": {"email": email}, "observability": {"loggers": []}})


@pytest.fixture
def site_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_CONNECTOR")}
    return {**env, **SECRETS, "DJANGO_SETTINGS_MODULE": "demo_site.settings"}


@pytest.fixture
def manage(site_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(
        *args: str, env: dict[str, str] | None = None, secrets: bool = True
    ) -> subprocess.CompletedProcess[str]:
        base = site_env if secrets else {k: v for k, v in site_env.items() if k not in SECRETS}
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=SITE,
            env={**base, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run
