"""The README's quick start runs as written: its connectors.toml, then each of its Python
examples (sync with `with`, async with `async with`), in a folder of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Quick start\n")
    return text[start : text.index("\n## ", start + 1)]


def test_the_quick_start_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    section = _quick_start()
    [toml] = re.findall(r"^```toml\n(.*?)^```$", section, re.M | re.S)
    examples = re.findall(r"^```python\n(.*?)^```$", section, re.M | re.S)
    assert any("async with AsyncConnectorManager" in code for code in examples)
    assert any("with ConnectorManager" in code for code in examples)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "connectors.toml").write_text(toml, encoding="utf-8")

    for code in examples:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})

    invoices = tmp_path / "var" / "invoices" / "2026"
    assert (invoices / "0042.pdf").read_bytes() == (invoices / "0043.pdf").read_bytes()
