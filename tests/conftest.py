"""Fixtures shared by the core's tests."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import FakeClock


@pytest.fixture(scope="session")
def _discovery_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("discovery-cache")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, _discovery_cache: Path) -> None:
    """No NEXUS_CONNECTOR* variable of the developer's shell leaks into a test, and plugin
    discovery keeps its cache in the session's temporary folder, not the user's."""
    for name in list(os.environ):
        if name.startswith("NEXUS_CONNECTOR") and name != "NEXUS_REQUIRE_SERVICES":
            monkeypatch.delenv(name)
    monkeypatch.setenv("NEXUS_CONNECTOR_CACHE_DIR", str(_discovery_cache))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> PluginRegistry:
    """The built-in plugin only: no installed plugin interferes."""
    return PluginRegistry()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis for the tests that need one, by the repository's rule
    (`nexus_connector_redis.testing.redis_url`): ``REDIS_URL`` when set, else a
    ``redis-server`` started on a free 127.0.0.1 port for the session; without either the
    test is skipped, or fails with ``NEXUS_REQUIRE_SERVICES=1``."""
    if os.environ.get("NEXUS_REQUIRE_SERVICES") != "1":
        pytest.importorskip(
            "nexus_connector_redis", reason="pip install -e plugins/nexus-connector-redis"
        )
    from nexus_connector_redis.testing import redis_url as serving

    with serving(tmp_path_factory.mktemp("redis")) as url:
        yield url


#: make_distribution(name, entry_points={"ep": "module"}, modules={"module": "source"})
MakeDistribution = Callable[..., Path]


@pytest.fixture
def make_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MakeDistribution]:
    """Install distributions for this test only: real ``.dist-info`` metadata with entry
    points in the ``nexus_connector`` group, on a folder put first on ``sys.path``."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    made: list[str] = []

    def make(
        name: str,
        *,
        version: str = "1.0",
        entry_points: Mapping[str, str],
        modules: Mapping[str, str],
    ) -> Path:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
        )
        lines = "\n".join(f"{ep} = {target}" for ep, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[nexus_connector]\n{lines}\n", encoding="utf-8")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            made.append(module)
        return info

    yield make
    for module in made:
        sys.modules.pop(module, None)


class Telemetry:
    """What an application's OpenTelemetry SDK collected during a test."""

    def __init__(self, spans: Any, metrics: Any) -> None:
        self.span_exporter = spans
        self.metric_reader = metrics

    def spans(self) -> list[Any]:
        return list(self.span_exporter.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        """The data points of metric `name` collected so far."""
        data = self.metric_reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    """An OpenTelemetry SDK configured as an application would (global tracer and meter
    providers, in-memory exporters), removed after the test: the API lets a provider be
    set once per process, so the fixture resets the API's globals as OpenTelemetry's own
    test utilities do."""
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.util._once import Once

    def reset() -> None:
        trace._TRACER_PROVIDER = None
        trace._TRACER_PROVIDER_SET_ONCE = Once()
        metrics_internal._METER_PROVIDER = None
        metrics_internal._METER_PROVIDER_SET_ONCE = Once()

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    reset()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    try:
        yield Telemetry(exporter, reader)
    finally:
        reset()
        tracer_provider.shutdown()
        meter_provider.shutdown()
