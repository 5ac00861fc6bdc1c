"""The examples of docs/plugins.md run: the whole Pigeon plugin of "The HTTP toolkit" is
written out from the documentation's code blocks (each headed by its file's path) and its
own tests pass against its own double, over real sockets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS_MD = ROOT / "docs" / "plugins.md"

#: A fenced block whose first line is a comment naming its file: "# tests/conftest.py".
_BLOCK = re.compile(r"^```(?:python|toml)\n# ([\w./-]+\.(?:py|toml))\n(.*?)^```$", re.M | re.S)


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_http_toolkit_example_is_a_whole_plugin_whose_tests_pass(tmp_path: Path) -> None:
    section = _section(PLUGINS_MD.read_text(encoding="utf-8"), "The HTTP toolkit")
    files = {path: f"# {path}\n{code}" for path, code in _BLOCK.findall(section)}
    assert {
        "pyproject.toml",
        "nexus_connector_pigeon/plugin.py",
        "nexus_connector_pigeon/_adapter.py",
        "nexus_connector_pigeon/testing.py",
        "tests/test_send.py",
    } <= set(files)
    for path, code in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(code, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"^3 passed", run.stdout, re.M), run.stdout
