"""The dashboard in a real headless browser (Debian's chromium and chromium-driver, driven by
selenium): served by uvicorn on 127.0.0.1 behind a path prefix and a token, a breaker that
opens shows on the page within 2 s without a reload, an alert on it shows as firing, a
screenshot is saved (test-artifacts/dashboard.png, git-ignored), and the page's console holds
no error.

Without chromium, chromedriver or selenium the test is skipped with the reason; with
``NEXUS_REQUIRE_SERVICES=1`` (``.ci/run``, which installs them) it fails instead."""

from __future__ import annotations

import os
import shutil
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_connector_core import (
    ConnectorError,
    ConnectorManager,
    PluginRegistry,
    SmsMessage,
    SmsReceipt,
    VendorUnavailableError,
    hookimpl,
)
from nexus_connector_core.asgi import dashboard_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TOKEN = "dashboard-token-for-the-browser-test"
PREFIX = "/ops/dashboard"


def _webdriver() -> Any:
    """Selenium's webdriver module, or a skip (a failure with NEXUS_REQUIRE_SERVICES=1)
    naming what is missing."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    try:
        from selenium import webdriver
    except ImportError:
        webdriver = None
        missing.append("selenium (pip install selenium)")
    if missing:
        reason = (
            f"the browser test needs {', '.join(missing)}: apt-get install -y chromium "
            "chromium-driver; pip install selenium"
        )
        if os.environ.get("NEXUS_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return webdriver


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    webdriver = _webdriver()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-extensions",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
        "--window-size=1280,1400",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    monkeypatch.setenv("SE_OFFLINE", "true")  # never let selenium fetch a driver
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Switch:
    """An SMS vendor that fails while `failing` is set."""

    failing = False

    def __init__(self, settings: Any) -> None:
        pass

    def send(self, message: SmsMessage, ctx: Any) -> SmsReceipt:
        if Switch.failing:
            raise VendorUnavailableError("switched off")
        return SmsReceipt(vendor="switch", vendor_id="SM1", to=message.to)

    def get_status(self, request: Any, ctx: Any) -> Any:
        raise NotImplementedError


@hookimpl
def register_sms_vendors(register: Any) -> None:
    register("switch", Switch, async_impl=Switch)


@pytest.fixture
def manager() -> Iterator[ConnectorManager]:
    registry = PluginRegistry()
    registry.register(
        types.SimpleNamespace(__name__="switch", register_sms_vendors=register_sms_vendors)
    )
    config = {
        "observability": {"loggers": []},
        "alerting": {"evaluate_every": 0.3, "flush_every": 0.2},
        "connectors": {
            "sms": {
                "vendor": "switch",
                "resilience": {
                    "retry": {"max_attempts": 1},
                    "circuit_breaker": {
                        "window": 4,
                        "min_calls": 4,
                        "failure_rate": 0.5,
                        "open_for": 300.0,
                    },
                },
                "slo": {"availability": 0.99, "latency": {"p95": 0.5}},
            },
            "email": {"vendor": "memory"},
        },
        "alerts": {
            "sms-breaker": {"when": "breaker_open(sms, switch)", "summary": "SMS cannot send"}
        },
    }
    Switch.failing = False
    with ConnectorManager.from_config(config, registry=registry) as built:
        yield built


def mounted(prefix: str, app: Any) -> Any:
    """`app` under `prefix`, as a framework mounts it (Starlette's Mount: ``root_path`` gets
    the prefix, ``path`` stays whole)."""

    async def router(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path != prefix and not path.startswith(prefix + "/"):
                await send({"type": "http.response.start", "status": 404, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            scope = {**scope, "root_path": scope.get("root_path", "") + prefix}
        await app(scope, receive, send)

    return router


def _status(driver: Any, selector: str) -> str | None:
    """The ``data-status`` of the element `selector` finds, read in the page in one step: the
    page rebuilds its lists on every update, so an element found in one WebDriver command may
    be gone (stale) by the next."""
    status: str | None = driver.execute_script(
        "const found = document.querySelector(arguments[0]);"
        "return found ? found.getAttribute('data-status') : null;",
        selector,
    )
    return status


def _breaker(driver: Any) -> str | None:
    return _status(driver, 'span.breaker[data-connector="sms"][data-vendor="switch"]')


def _alert(driver: Any) -> str | None:
    return _status(driver, '#alert-list li[data-rule="sms-breaker"]')


def test_a_breaker_opening_shows_on_the_live_page_within_two_seconds(
    browser: Any, manager: ConnectorManager, serve: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    for _ in range(5):
        manager.sms.send(SmsMessage("+14155550100", "hello"))
    base = serve(mounted(PREFIX, dashboard_app(manager, token=TOKEN, interval=0.25)))

    browser.get(f"{base}{PREFIX}/?token={TOKEN}")  # sets the cookie, then the page loads
    assert browser.current_url == f"{base}{PREFIX}/"
    WebDriverWait(browser, 10).until(lambda d: _breaker(d) == "closed")
    WebDriverWait(browser, 10).until(lambda d: _alert(d) == "inactive")
    browser.execute_script("window.nexusLoadedOnce = true;")  # gone if the page reloads

    Switch.failing = True
    for _ in range(4):
        with pytest.raises(ConnectorError):
            manager.sms.send(SmsMessage("+14155550100", "hello"))
    assert manager.health(checks=False).connectors["sms"].vendors[0].breaker == "open"
    opened = time.monotonic()
    WebDriverWait(browser, 2.0, poll_frequency=0.05).until(lambda d: _breaker(d) == "open")
    shown_after = time.monotonic() - opened
    assert shown_after < 2.0
    assert browser.execute_script("return window.nexusLoadedOnce === true;")

    WebDriverWait(browser, 10).until(lambda d: _alert(d) == "firing")
    text = browser.find_element("css selector", 'article[data-connector="sms"]').text
    assert "VendorUnavailableError" in text  # the last errors
    assert "availability" in text  # the SLO panel

    ARTIFACTS.mkdir(exist_ok=True)
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    shutil.copyfile(shot, ARTIFACTS / "dashboard.png")
    assert shot.stat().st_size > 10_000

    problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert problems == []


def test_without_its_token_the_dashboard_answers_401(
    browser: Any, manager: ConnectorManager, serve: Any
) -> None:
    base = serve(mounted(PREFIX, dashboard_app(manager, token=TOKEN)))
    browser.get(f"{base}{PREFIX}/?token=wrong-token-of-some-length")
    assert "needs its token" in browser.page_source
    assert _breaker(browser) is None
