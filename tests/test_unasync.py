"""The synchronous twins are generated from their asynchronous source and never drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_connector_core import _unasync

PACKAGE = Path(_unasync.__file__).parent


def test_every_synchronous_twin_is_what_its_source_generates() -> None:
    stale = [
        twin
        for source, twin in _unasync.TWINS.items()
        if (PACKAGE / twin).read_text(encoding="utf-8")
        != _unasync.generate(source, (PACKAGE / source).read_text(encoding="utf-8"))
    ]

    assert not stale, f"run `python -m nexus_connector_core._unasync` to regenerate {stale}"


def test_a_generated_twin_says_so_and_where_it_comes_from() -> None:
    for source, twin in _unasync.TWINS.items():
        first = (PACKAGE / twin).read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# Generated from {source} by nexus_connector_core._unasync: do not edit."


def test_imports_made_twice_by_the_substitution_are_made_once() -> None:
    source = (
        "from .._state import Admission, AsyncStateBackend, StateBackend\n"
        "from .x import (\n    AsyncIterator,\n    Iterator,\n    Mapping,\n)\n"
    )

    twin = _unasync.generate("x.py", source)

    assert "from .._state import Admission, StateBackend\n" in twin
    assert "from .x import (\n    Iterator,\n    Mapping,\n)\n" in twin


def test_tokens_pragmas_and_shields_become_their_synchronous_forms() -> None:
    source = '''"""Asynchronous steps."""

import asyncio


async def step(backend: AsyncStateBackend, clock: Clock) -> None:
    """Run asynchronously."""
    async with backend:
        await clock.asleep(1)
        await asyncio.shield(backend.aclose())
    mode = "async"  # unasync: mode = "sync"
    print("only async")  # unasync: delete
'''

    twin = _unasync.generate("x.py", source)

    assert twin == (
        "# Generated from x.py by nexus_connector_core._unasync: do not edit.\n"
        '"""Synchronous steps."""\n\n'
        "import asyncio\n\n\n"
        "def step(backend: StateBackend, clock: Clock) -> None:\n"
        '    """Run synchronously."""\n'
        "    with backend:\n"
        "        clock.sleep(1)\n"
        "        backend.close()\n"
        '    mode = "sync"\n'
    )


def test_check_mode_reports_a_stale_twin_without_writing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "_async_x.py").write_text("async def f() -> None:\n    await g()\n")
    (tmp_path / "_x.py").write_text("stale\n")
    monkeypatch.setattr(_unasync, "_PACKAGE", tmp_path)
    monkeypatch.setattr(_unasync, "TWINS", {"_async_x.py": "_x.py"})

    assert _unasync.main(["--check"]) == 1
    assert (tmp_path / "_x.py").read_text() == "stale\n"
    assert "_x.py" in capsys.readouterr().out
    assert _unasync.main([]) == 0
    assert (tmp_path / "_x.py").read_text().endswith("def f() -> None:\n    g()\n")
