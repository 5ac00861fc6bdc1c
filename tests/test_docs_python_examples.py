"""The Python on the documentation's pages: every block parses, every name it imports from
the library (the core and this repository's plugins) exists, and the getting-started page
runs as written — its connectors.toml, its two examples and the commands of "Check it".

Blocks that are whole files of a plugin or an application are run by the tests of their
pages (test_docs_examples.py, test_pytest_plugin.py); the rest are fragments of an
application (``manager`` and ``request`` are the reader's), so they are parsed and their
imports checked, not run."""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from nexus_connector_core.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_PYTHON = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
#: A block that is a file the page writes: "# nexus_connector_pigeon/plugin.py".
_FILE = re.compile(r"^# ([\w./-]+)\.py$", re.M)


def _blocks() -> Iterator[tuple[str, str]]:
    for page in sorted(DOCS.glob("*.md")):
        for index, block in enumerate(_PYTHON.findall(page.read_text(encoding="utf-8"))):
            yield f"{page.name}#{index}", block


def _parse(block: str, where: str) -> ast.Module:
    if block.lstrip().startswith("@") and "def " not in block:
        block += "def decorated() -> None: ...\n"  # a marker shown alone: what it decorates
    tree = compile(block, where, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    assert isinstance(tree, ast.Module)
    return tree


def _written_by(page: str) -> set[str]:
    """The top-level packages the page's own file blocks make (a plugin it walks through)."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return {path.split("/")[0] for path in _FILE.findall(text) if "/" in path}


BLOCKS = list(_blocks())


@pytest.mark.parametrize(("where", "block"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_every_python_example_parses(where: str, block: str) -> None:
    assert _parse(block, where).body, where


@pytest.mark.parametrize(("where", "block"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_every_name_an_example_imports_from_the_library_exists(where: str, block: str) -> None:
    own = _written_by(where.split("#", maxsplit=1)[0])
    missing = []
    for node in ast.walk(_parse(block, where)):
        if isinstance(node, ast.ImportFrom) and node.module:
            module, names = node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            module, names = "", [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            target = module or name
            if not target.startswith("nexus_connector") or target.split(".")[0] in own:
                continue
            imported = importlib.import_module(target)
            if module and not hasattr(imported, name):
                try:
                    importlib.import_module(f"{module}.{name}")
                except ModuleNotFoundError:
                    missing.append(f"{module}.{name}")
    assert not missing, f"{where} imports names the library does not have: {missing}"


def test_the_getting_started_page_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = DOCS / "getting-started.md"
    text = page.read_text(encoding="utf-8")
    first_call = text[text.index("## A first call") : text.index("## Switching vendor")]
    [toml] = re.findall(r"^```toml\n(.*?)^```$", first_call, re.M | re.S)
    sync, asynchronous = _PYTHON.findall(first_call)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "connectors.toml").write_text(toml, encoding="utf-8")

    exec(compile(sync, str(page), "exec"), {"__name__": "getting_started"})
    vendor_id, status = capsys.readouterr().out.split()
    exec(compile(asynchronous, str(page), "exec"), {"__name__": "getting_started"})

    assert vendor_id
    assert status == "succeeded"
    check_it = text[text.index("## Check it") :]
    [commands] = re.findall(r"^```sh\n(.*?)^```$", check_it, re.M | re.S)
    for line in commands.splitlines():
        args = shlex.split(line, comments=True)
        assert args[0] == "nexus-connector", line
        result = CliRunner().invoke(cli, args[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"
