"""Fixtures shared by the core's tests."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from nexus_connector_core import PluginRegistry
from nexus_connector_core.testing import FakeClock


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NEXUS_CONNECTOR* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("NEXUS_CONNECTOR") and name != "NEXUS_REQUIRE_SERVICES":
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> PluginRegistry:
    """The built-in plugin only: no installed plugin interferes."""
    return PluginRegistry()


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
