"""The README's example runs: its ``connectors.toml`` (switched to fsspec's ``memory``
protocol by environment overrides, as a test environment would) and its Python, as written,
from the application's folder."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```(toml|python)\n(.*?)^```$", re.M | re.S)


def test_the_example_stores_reads_lists_and_deletes_an_invoice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _BLOCK.findall(README.read_text(encoding="utf-8"))
    toml = next(code for kind, code in blocks if kind == "toml")
    python = next(code for kind, code in blocks if kind == "python")
    (tmp_path / "connectors.toml").write_text(toml, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    root = f"/nexus-readme/{secrets.token_hex(6)}"
    overrides = {
        "OPTIONS": f'{{ protocol = "memory", root = "{root}" }}',
        "CREDENTIALS__TOKEN": "env:GCS_TOKEN",  # the file's secret, from the environment
    }
    for name, value in overrides.items():
        monkeypatch.setenv(f"NEXUS_CONNECTOR__CONNECTORS__INVOICES__{name}", value)
    monkeypatch.setenv("GCS_TOKEN", "a-token")
    namespace: dict[str, Any] = {}

    exec(python, namespace)  # the README's own code, as written
    with namespace["manager"] as manager:
        deleted = not manager.connector("invoices").exists("2026/0042.pdf")

    stored = namespace["stored"]
    assert namespace["pdf"] == b"%PDF-1.7 ..."
    assert (stored.key, stored.content_type, stored.metadata) == (
        "2026/0042.pdf",
        "application/pdf",
        {"customer": "C-17"},
    )
    assert namespace["page"].next_cursor is None
    assert deleted
