"""The exception tree, as docs/exceptions.md and the docstring of _errors.py draw it, is the
tree of the classes: every public error, each under its parent, nothing else."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import nexus_connector_core
from nexus_connector_core import ConnectorError, _errors

ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"^(?P<indent>[│├└─ ]*)(?P<name>[A-Z]\w+Error)\b")


def _drawn(text: str) -> dict[str, str | None]:
    """Each class of a drawn tree with its parent (by the column its name starts at)."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        found = _LINE.match(line.strip("\n"))
        if not found:
            continue
        column = len(found.group("indent"))
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[found.group("name")] = stack[-1][1] if stack else None
        stack.append((column, found.group("name")))
    return parents


def _classes() -> dict[str, str | None]:
    public = {
        name: obj
        for name in dir(nexus_connector_core)
        if inspect.isclass(obj := getattr(nexus_connector_core, name))
        and issubclass(obj, ConnectorError)
    }
    tree: dict[str, str | None] = {}
    for name, cls in public.items():
        bases = [b for b in cls.__bases__ if issubclass(b, ConnectorError)]
        tree[name] = bases[0].__name__ if bases else None
    return tree


@pytest.mark.parametrize(
    "where",
    ["docs/exceptions.md", "nexus_connector_core/_errors.py"],
)
def test_the_drawn_exception_tree_is_the_class_tree(where: str) -> None:
    text = (
        (ROOT / where).read_text(encoding="utf-8")
        if where.endswith(".md")
        else inspect.getdoc(_errors) or ""
    )
    start = text.index("ConnectorError\n")
    end = text.find("```", start)  # the end of the Markdown's block; a docstring has none
    block = text[start:] if end == -1 else text[start:end]

    assert _drawn(block) == _classes()
