"""The pipeline is a list of `Middleware`, composed once (`_pipeline.py`): the observer, the
plugins' middleware and the core steps, in the documented order; every vendor call of the
runtime goes through the one attempt step, and async attempts share one watchdog per event
loop in the process (issue 10)."""

from __future__ import annotations

import ast
import asyncio
import gc
import threading
import types
import weakref
from pathlib import Path
from typing import Any

import pytest

import nexus_connector_core
from nexus_connector_core import (
    AsyncConnectorManager,
    CallContext,
    ConnectorManager,
    PluginRegistry,
    Registrar,
    SmsMessage,
    hookimpl,
)
from nexus_connector_core._observe import Observer
from nexus_connector_core._resilience import _steps
from nexus_connector_core._resilience.cache import ReadCache
from nexus_connector_core._resilience.middleware import AttemptStep, FallbackStep, IdempotencyStep
from nexus_connector_core._resilience.watchdog import Watchdog, Watchdogs
from nexus_connector_core.pipeline import Middleware, StepSettings, TransformMiddleware

PACKAGE = Path(nexus_connector_core.__file__).resolve().parent
SMS = SmsMessage("+14155550100", "Your code is 4242")


class Tag(TransformMiddleware):
    def before(self, request: Any, ctx: CallContext) -> Any:
        ctx.extras["tagged"] = True
        return request


@pytest.fixture
def tagging(registry: PluginRegistry) -> PluginRegistry:
    @hookimpl
    def register_middleware(register: Registrar) -> None:
        register("tag", lambda settings: Tag())

    registry.register(
        types.SimpleNamespace(__name__="tag", register_middleware=register_middleware)
    )
    return registry


def _everything(tmp_path: Path) -> dict[str, Any]:
    """A connector with every step: middleware, idempotency, a cache, a fallback vendor."""
    files = {
        "category": "cloud_storage",
        "vendor": "memory",
        "fallback": [{"vendor": "filesystem", "options": {"root": str(tmp_path)}}],
        "middleware": ["tag"],
        "resilience": {"cache": {"ttl": 30.0}},
    }
    return {"connectors": {"files": files}}


def test_the_pipeline_is_its_middleware_in_the_documented_order(
    tagging: PluginRegistry, tmp_path: Path
) -> None:
    with ConnectorManager.from_config(_everything(tmp_path), registry=tagging) as manager:
        steps = manager.connector("files").pipeline("exists", keyed=True)

        assert [type(step) for step in steps] == [
            Observer,
            Tag,
            IdempotencyStep,
            ReadCache,
            FallbackStep,
            AttemptStep,
        ]
        assert all(isinstance(step, Middleware) for step in steps)
        # The check has teeth: a step written as a bare function is no Middleware.
        assert not isinstance(_steps.cached, Middleware)
        assert manager.connector("files").exists("report.pdf") is False


async def test_the_async_pipeline_is_the_same_middleware(
    tagging: PluginRegistry, tmp_path: Path
) -> None:
    config = _everything(tmp_path)
    async with AsyncConnectorManager.from_config(config, registry=tagging) as manager:
        files = manager.connector("files")
        steps = files.pipeline("exists", keyed=True)

        assert [type(step) for step in steps[2:]] == [
            IdempotencyStep,
            ReadCache,
            FallbackStep,
            AttemptStep,
        ]
        assert await files.exists("report.pdf", idempotency_key="k-1") is False


def test_a_read_without_a_key_leaves_the_idempotency_step_out(
    tagging: PluginRegistry, tmp_path: Path
) -> None:
    config = _everything(tmp_path)
    del config["connectors"]["files"]["middleware"]  # a middleware could set a key
    with ConnectorManager.from_config(config, registry=tagging) as manager:
        steps = manager.connector("files").pipeline("exists")

        assert [type(step) for step in steps] == [Observer, ReadCache, FallbackStep, AttemptStep]


def test_one_vendor_and_nothing_else_is_the_attempt_step_observing_the_call() -> None:
    config = {"connectors": {"sms": {"vendor": "memory"}}, "observability": {"loggers": ["memory"]}}
    with ConnectorManager.from_config(config) as manager:
        (alone,) = manager.sms.pipeline("send")
        keyed = manager.sms.pipeline("send", keyed=True)

        assert isinstance(alone, AttemptStep)
        assert isinstance(alone.observer, Observer)
        assert [type(step) for step in keyed] == [Observer, IdempotencyStep, AttemptStep]
        assert keyed[2].observer is None  # observed once, by the observer outside
        manager.sms.send(SMS)
        assert len(manager.call_log) == 1


def test_a_middleware_factory_sees_the_step_settings(tagging: PluginRegistry) -> None:
    seen: list[StepSettings] = []

    @hookimpl
    def register_middleware(register: Registrar) -> None:
        register("spy", seen.append)  # returns None: joins no pipeline

    tagging.register(types.SimpleNamespace(__name__="spy", register_middleware=register_middleware))
    config = {"connectors": {"sms": {"vendor": "memory", "middleware": ["spy", "tag"]}}}
    with ConnectorManager.from_config(config, registry=tagging) as manager:
        steps = manager.sms.pipeline("send")

    assert [type(step) for step in steps] == [Observer, Tag, IdempotencyStep, AttemptStep]
    assert [(s.connector, s.vendor, s.operation.name) for s in seen] == [("sms", "memory", "send")]


# -- one way to call a vendor, one watchdog per event loop -----------------------------------


def _calls(path: Path) -> list[str]:
    """The dotted names `path` calls (``x.y(...)`` as ``x.y``, ``f(...)`` as ``f``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                found.append(func.id)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                found.append(f"{func.value.id}.{func.attr}")
    return found


SOURCES = {
    str(path.relative_to(PACKAGE)): _calls(path)
    for path in sorted(PACKAGE.rglob("*.py"))
    if path.name not in {"_steps.py", "_connectors.py", "_manager.py", "_entry.py"}  # twins
}


def test_every_vendor_call_goes_through_the_attempt_step() -> None:
    # The connectors' pipelines and the OAuth2 token requests alike.
    callers = {
        module
        for module, calls in SOURCES.items()
        if {"_steps.attempts", "_async_steps.attempts"} & set(calls)
    }
    users = {module for module, calls in SOURCES.items() if "AttemptStep" in calls}

    assert callers == {"_resilience/middleware.py"}
    assert users == {"_connector_base.py", "auth/_oauth2.py"}


def test_the_process_has_one_watchdog_registry() -> None:
    makers = {module for module, calls in SOURCES.items() if "Watchdogs" in calls}

    assert makers == {"_resilience/watchdog.py"}


def test_a_closed_loop_leaves_the_registry_when_the_next_loop_arrives() -> None:
    watchdogs = Watchdogs()

    async def own() -> tuple[asyncio.AbstractEventLoop, Watchdog]:
        return asyncio.get_running_loop(), watchdogs()

    first_loop, first = asyncio.run(own())
    gone = weakref.ref(first_loop)
    del first_loop, first
    second_loop, second = asyncio.run(own())
    gc.collect()

    assert gone() is None
    assert second._loop is second_loop


def test_loops_in_several_threads_each_have_their_own_watchdog() -> None:
    watchdogs = Watchdogs()
    barrier = threading.Barrier(4)
    found: list[tuple[asyncio.AbstractEventLoop, Watchdog, Watchdog]] = []

    async def own() -> None:
        mine = watchdogs()
        barrier.wait()  # all four loops are running at once
        await asyncio.sleep(0)
        found.append((asyncio.get_running_loop(), mine, watchdogs()))

    threads = [threading.Thread(target=asyncio.run, args=(own(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(found) == 4
    assert all(first is again and first._loop is loop for loop, first, again in found)
    assert len({id(first) for _, first, _ in found}) == 4
