"""Fixtures for the Django integration's tests, run against the demo project in
``tests/demo_site`` (a minimal Django project on SQLite, as ``startproject`` makes one) under
pytest-django.

- ``pytest_configure`` puts the demo project on the path and sets it up as Django's
  settings, as ``manage.py`` would;
- every test starts with no manager built and ends with the process's managers closed;
- ``nexus_settings(config, email_connector=None)``: ``NEXUS_CONNECTOR`` for one test, with
  ``EMAIL_BACKEND`` ours (pytest-django's test environment swaps in Django's locmem
  backend);
- ``memory_email``: the ``email`` connector on the memory vendor; ``email_options`` its
  options;
- ``site_env``: the environment in which the demo project's ``manage.py`` finds its
  secrets; ``manage(*args, env=None, secrets=True)``: runs ``manage.py`` in a subprocess
  (``secrets=False``: without them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from nexus_connector_django import close_managers

SITE = Path(__file__).resolve().parent / "demo_site"
#: The secrets the demo project's connectors.toml reads (fake: nothing is sent with them).
SECRETS = {"SMTP_USER": "demo", "SMTP_PASSWORD": "demo-password", "STRIPE_SECRET_KEY": "sk_demo"}


def pytest_configure(config: pytest.Config) -> None:
    if str(SITE) not in sys.path:
        sys.path.insert(0, str(SITE))
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
    django.setup()


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
