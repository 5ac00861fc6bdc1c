"""The managers: connectors by name and category, adapters built once, the pipeline around
every call, the integration log, closing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import types
from typing import Any

import pytest

from nexus_connector_core import (
    EMBEDDED_DEFAULTS,
    AsyncConnectorManager,
    CallContext,
    ConnectorError,
    ConnectorManager,
    EmailConnector,
    EmailMessage,
    IntegrationLogRecord,
    MemoryCallLogger,
    PluginError,
    PluginRegistry,
    RateLimitExceededError,
    Registrar,
    SmsMessage,
    VendorUnavailableError,
    hookimpl,
)
from nexus_connector_core.pipeline import StepSettings, TransformMiddleware
from nexus_connector_core.testing import FakeClock

MESSAGE = EmailMessage(
    sender="shop@example.com", to=["ada@example.com"], subject="Hi", text="Hello"
)


def notify_customer(email: EmailConnector) -> str:
    """Application code: knows the category, never the vendor."""
    return email.send(MESSAGE).vendor


def _config(vendor: str = "memory", **extra: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"vendor": vendor, **extra}
    return {"connectors": {"email": table}, "observability": {"loggers": ["memory"]}}


@pytest.fixture
def installed() -> PluginRegistry:
    registry = PluginRegistry()
    registry.load_entry_points(environ={})
    return registry


def test_switching_vendor_in_the_config_changes_the_adapter_not_the_code(
    installed: PluginRegistry,
) -> None:
    environ = {"ACME_KEY": "k-123"}
    memory = ConnectorManager.from_config(_config("memory"), registry=installed, environ=environ)
    acme = ConnectorManager.from_config(
        _config("acme", credentials={"api_key": "env:ACME_KEY"}, options={"region": "us"}),
        registry=installed,
        environ=environ,
    )
    with memory, acme:
        assert notify_customer(memory.email) == "memory"
        assert notify_customer(acme.email) == "acme"
        assert type(memory.email.adapter).__name__ == "MemoryEmailAdapter"
        assert type(acme.email.adapter).__name__ == "AcmeEmailAdapter"
        assert acme.email.adapter.sent == [MESSAGE]
        assert [op for op, _ in memory.email.adapter.calls] == ["send"]


def test_a_vendor_module_is_imported_only_when_first_used() -> None:
    code = """
import sys
from nexus_connector_core import ConnectorManager, EmailMessage
m = ConnectorManager.from_config(
    {"connectors": {"email": {"vendor": "acme", "credentials": {"api_key": "x"}}}})
before = "nexus_connector_acme.adapter" in sys.modules
m.email.send(EmailMessage(sender="a@b.example", to=["c@d.example"], text="x"))
print(before, "nexus_connector_acme.adapter" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_adapters_are_built_once_and_reused(registry: PluginRegistry) -> None:
    with ConnectorManager.from_config(EMBEDDED_DEFAULTS, registry=registry) as manager:
        first = manager.email.adapter
        manager.email.send(MESSAGE)
        manager.email.send(MESSAGE)
        assert manager.email.adapter is first
        assert manager.connector("email") is manager.email
        assert len(first.calls) == 2


def test_named_connectors_of_one_category(registry: PluginRegistry) -> None:
    config = {
        "connectors": {
            "email": {"vendor": "memory"},
            "marketing": {"category": "email", "vendor": "memory"},
        }
    }
    with ConnectorManager.from_config(config, registry=registry) as manager:
        manager.connector("marketing", "email").send(MESSAGE)
        assert len(manager.connector("marketing").adapter.calls) == 1
        assert manager.email.adapter.calls == []


def test_asking_for_an_unconfigured_connector_lists_the_configured_ones(
    registry: PluginRegistry,
) -> None:
    with ConnectorManager.from_config(_config(), registry=registry) as manager:
        with pytest.raises(ConnectorError, match=r"no connector named 'sms'.*email \(email\)"):
            manager.sms.send(SmsMessage("+14155550100", "hi"))
        with pytest.raises(ConnectorError, match="is a email connector, not payment"):
            manager.connector("email", "payment")


def test_errors_say_where_they_happened(registry: PluginRegistry) -> None:
    config = _config(options={"fail_first": 1})
    with ConnectorManager.from_config(config, registry=registry) as manager:
        with pytest.raises(VendorUnavailableError) as caught:
            manager.email.send(MESSAGE)
    error = caught.value
    assert (error.connector, error.vendor, error.operation) == ("email", "memory", "send")
    assert error.retryable
    assert str(error).startswith("[email/memory.send] ")


def test_every_call_leaves_one_integration_log_record(registry: PluginRegistry) -> None:
    clock = FakeClock()
    config = _config(options={"fail_first": 1, "latency": 0.25})
    with ConnectorManager.from_config(config, registry=registry, clock=clock) as manager:
        with pytest.raises(VendorUnavailableError):
            manager.email.send(MESSAGE, idempotency_key="order-1")
        manager.email.send(MESSAGE)
        failed, ok = manager.call_log
    assert isinstance(failed, IntegrationLogRecord)
    assert (failed.status, failed.error_class, failed.vendor_status_code) == (
        "error",
        "VendorUnavailableError",
        503,
    )
    assert (failed.idempotency_key, failed.attempts, failed.duration_ms) == ("order-1", 1, 250.0)
    assert (ok.status, ok.connector, ok.vendor, ok.operation, ok.error_class) == (
        "ok",
        "email",
        "memory",
        "send",
        None,
    )
    assert failed.id != ok.id


def test_the_logging_logger_writes_one_json_line_per_call(
    registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nexus_connector.calls")
    with ConnectorManager.from_config(
        {**_config(), "observability": {"loggers": ["logging"]}}, registry=registry
    ) as manager:
        manager.email.send(MESSAGE)
        assert manager.call_log == []  # the memory logger is off
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert json.loads(record.getMessage())["operation"] == "send"
    assert record.integration.connector == "email"  # type: ignore[attr-defined]


def test_a_broken_call_logger_does_not_fail_the_call(
    registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def emit(self, record: IntegrationLogRecord) -> None:
            raise RuntimeError("disk full")

    with ConnectorManager.from_config(_config(), registry=registry, loggers=[Broken()]) as manager:
        assert manager.email.send(MESSAGE).vendor == "memory"
    assert "call logger" in caplog.text


def test_registered_middleware_runs_in_configured_order(registry: PluginRegistry) -> None:
    seen: list[str] = []

    class Mark(TransformMiddleware):
        def __init__(self, name: str, settings: StepSettings) -> None:
            self.name = name
            self.settings = settings

        def before(self, request: Any, ctx: CallContext) -> Any:
            seen.append(f"{self.name}:{self.settings.operation.name}:{ctx.attempt}")
            return request

        def after(self, result: Any, ctx: CallContext) -> Any:
            seen.append(f"{self.name}:after")
            return result

    @hookimpl
    def register_middleware(register: Registrar) -> None:
        register("outer", lambda settings: Mark("outer", settings))
        register("inner", lambda settings: Mark("inner", settings))
        register("absent", lambda settings: None)  # declines to join the pipeline

    registry.register(
        types.SimpleNamespace(__name__="marks", register_middleware=register_middleware)
    )
    config = _config(middleware=["outer", "inner", "absent"])
    with ConnectorManager.from_config(config, registry=registry) as manager:
        manager.email.send(MESSAGE)
    assert seen == ["outer:send:0", "inner:send:0", "inner:after", "outer:after"]


def test_middleware_can_translate_errors(registry: PluginRegistry) -> None:
    class Translate(TransformMiddleware):
        def on_error(self, error: Exception, ctx: CallContext) -> Exception | None:
            return ConnectorError(f"translated: {type(error).__name__}")

    @hookimpl
    def register_middleware(register: Registrar) -> None:
        register("translate", lambda settings: Translate())

    registry.register(types.SimpleNamespace(__name__="t", register_middleware=register_middleware))
    config = _config(middleware=["translate"], options={"fail_first": 1})
    with ConnectorManager.from_config(config, registry=registry) as manager:
        with pytest.raises(ConnectorError, match="translated: VendorUnavailableError") as caught:
            manager.email.send(MESSAGE)
    assert isinstance(caught.value.__cause__, VendorUnavailableError)


def test_a_key_a_middleware_sets_on_a_call_made_without_one_is_honoured(
    registry: PluginRegistry,
) -> None:
    class Keyed(TransformMiddleware):
        def before(self, request: Any, ctx: CallContext) -> Any:
            ctx.idempotency_key = "order-42"
            return request

    @hookimpl
    def register_middleware(register: Registrar) -> None:
        register("keyed", lambda settings: Keyed())

    registry.register(types.SimpleNamespace(__name__="k", register_middleware=register_middleware))
    with ConnectorManager.from_config(_config(middleware=["keyed"]), registry=registry) as manager:
        first = manager.email.send(MESSAGE)
        assert manager.email.send(MESSAGE) == first
        assert len(manager.email.adapter.calls) == 1
        assert [r.replayed for r in manager.call_log] == [False, True]


def test_calls_with_and_without_a_key_share_the_connectors_guard(
    registry: PluginRegistry,
) -> None:
    config = _config(resilience={"rate_limit": {"rate": 2, "per": 60.0}})
    with ConnectorManager.from_config(config, registry=registry) as manager:
        manager.email.send(MESSAGE)
        manager.email.send(MESSAGE, idempotency_key="k-1")
        with pytest.raises(RateLimitExceededError):
            manager.email.send(MESSAGE)
        with pytest.raises(RateLimitExceededError):
            manager.email.send(MESSAGE, idempotency_key="k-2")
        assert len(manager.email.adapter.calls) == 2


def _vendor_plugin(name: str, adapter: object) -> types.SimpleNamespace:
    @hookimpl
    def register_email_vendors(register: Registrar) -> None:
        register(name, adapter)

    return types.SimpleNamespace(__name__=name, register_email_vendors=register_email_vendors)


def test_an_adapter_missing_an_operation_is_a_plugin_error(registry: PluginRegistry) -> None:
    class HalfAdapter:
        def __init__(self, settings: object) -> None:
            pass

        def send(self, message: EmailMessage, ctx: CallContext) -> None:
            raise AssertionError("never called")

    registry.register(_vendor_plugin("half", HalfAdapter))
    with ConnectorManager.from_config(_config("half"), registry=registry) as manager:
        with pytest.raises(
            PluginError, match="does not implement EmailAdapter: missing send_batch"
        ):
            manager.email.send(MESSAGE)


def test_an_adapter_that_fails_to_start_names_the_vendor(registry: PluginRegistry) -> None:
    def explode(settings: object) -> None:
        raise OSError("no route to host")

    registry.register(_vendor_plugin("fragile", explode))
    with ConnectorManager.from_config(_config("fragile"), registry=registry) as manager:
        with pytest.raises(PluginError, match="'fragile' failed to start.*no route to host"):
            manager.email.send(MESSAGE)


def test_an_async_manager_needs_an_async_adapter(registry: PluginRegistry) -> None:
    registry.register(
        _vendor_plugin("synconly", "nexus_connector_core.vendors.memory.email:MemoryEmailAdapter")
    )
    manager = AsyncConnectorManager.from_config(_config("synconly"), registry=registry)
    with pytest.raises(PluginError, match="no asynchronous implementation"):
        _ = manager.email.adapter


def test_close_releases_adapters_and_later_calls_fail(registry: PluginRegistry) -> None:
    manager = ConnectorManager.from_config(_config(), registry=registry)
    adapter = manager.email.adapter
    closed: list[bool] = []
    adapter.close = lambda: closed.append(True)
    manager.close()
    manager.close()  # a second close does nothing
    assert closed == [True]
    assert manager.closed
    with pytest.raises(ConnectorError, match="manager is closed"):
        manager.email.send(MESSAGE)


async def test_the_async_manager_runs_the_same_pipeline(registry: PluginRegistry) -> None:
    clock = FakeClock()
    config = {
        "connectors": {
            "email": {"vendor": "memory", "options": {"latency": 0.5}},
            "sms": {"vendor": "memory"},
        },
        "observability": {"loggers": ["memory"]},
    }
    async with AsyncConnectorManager.from_config(config, registry=registry, clock=clock) as manager:
        receipt = await manager.email.send(MESSAGE)
        sms = await manager.sms.send(SmsMessage("+14155550100", "Your code is 4242"))
        status = await manager.sms.get_status(sms.vendor_id)
        assert type(manager.email.adapter).__name__ == "AsyncMemoryEmailAdapter"
        records = manager.call_log
    assert receipt.vendor == "memory"
    assert status.vendor_id == sms.vendor_id
    assert clock.sleeps == [0.5]
    assert [r.operation for r in records] == ["send", "send", "get_status"]
    assert manager.closed


async def test_async_errors_say_where_they_happened(registry: PluginRegistry) -> None:
    config = _config(options={"fail_first": 1, "failure": "auth"})
    async with AsyncConnectorManager.from_config(config, registry=registry) as manager:
        with pytest.raises(ConnectorError) as caught:
            await manager.email.send(MESSAGE)
    assert (type(caught.value).__name__, caught.value.connector) == ("AuthenticationError", "email")


def test_invoke_runs_an_operation_by_name(registry: PluginRegistry) -> None:
    with ConnectorManager.from_config(EMBEDDED_DEFAULTS, registry=registry) as manager:
        receipt = manager.connector("email").invoke("send", MESSAGE)
        assert receipt.vendor == "memory"
        with pytest.raises(TypeError, match="takes a EmailMessage, got str"):
            manager.connector("email").invoke("send", "hello")
        with pytest.raises(ConnectorError, match="no operation 'fly'"):
            manager.connector("email").invoke("fly", MESSAGE)


def test_the_manager_is_safe_to_share_between_threads(registry: PluginRegistry) -> None:
    from concurrent.futures import ThreadPoolExecutor

    log = MemoryCallLogger()
    with ConnectorManager.from_config(
        EMBEDDED_DEFAULTS, registry=registry, loggers=[log]
    ) as manager:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda _: manager.email.send(MESSAGE).vendor_id, range(400)))
        assert len(set(ids)) == 400
        assert len(manager.email.adapter.calls) == 400
        assert len(log.records()) == 400
