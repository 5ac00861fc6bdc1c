"""Write the synchronous twins from their asynchronous source (as httpcore does).

The pipeline's I/O drivers, the connectors' faces and the manager exist twice, once for
``await`` and once without. They are written once, asynchronously; this module derives each
synchronous twin by substituting tokens (``async def`` -> ``def``, ``await x`` -> ``x``,
``AsyncStateBackend`` -> ``StateBackend``, ``asyncio.shield(x)`` -> ``x``...). The twins are
build artifacts, not sources: git ignores them, the build (``hatch_build.py``, also on an
editable install) writes them, and their first line says not to edit them;
tests/test_unasync.py fails when a twin differs from what its source generates.

    python -m nexus_connector_core._unasync          # regenerate every twin
    python -m nexus_connector_core._unasync --check  # exit 1 if one is out of date

A source line may end with a pragma for what token substitution cannot express:
``# unasync: <code>`` replaces the line by ``<code>`` (indentation kept), and
``# unasync: delete`` drops it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["TWINS", "generate", "main"]

_PACKAGE = Path(__file__).parent

#: Each asynchronous source and the synchronous twin generated from it.
TWINS: dict[str, str] = {
    "_async_connectors.py": "_connectors.py",
    "_async_manager.py": "_manager.py",
    "_resilience/_async_steps.py": "_resilience/_steps.py",
    "webhooks/_async_entry.py": "webhooks/_entry.py",
}

#: Whole words replaced, in this order.
_WORDS: list[tuple[str, str]] = [
    ("async def", "def"),
    ("async with", "with"),
    ("async for", "for"),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("asynccontextmanager", "contextmanager"),
    ("AsyncIterator", "Iterator"),
    ("ASYNC_CONNECTOR_TYPES", "CONNECTOR_TYPES"),
    ("aclose", "close"),
    ("asleep", "sleep"),
    ("_async_connectors", "_connectors"),
    ("_async_manager", "_manager"),
    ("_async_steps", "_steps"),
    ("_async_entry", "_entry"),
    ("averify", "verify"),
    ("acheck_adapter", "check_adapter"),
    ("areceive", "receive"),
    ("Asynchronously", "Synchronously"),
    ("asynchronously", "synchronously"),
    ("Asynchronous", "Synchronous"),
    ("asynchronous", "synchronous"),
]
#: ``AsyncEmailConnector`` -> ``EmailConnector``, ``AsyncStateBackend`` -> ``StateBackend``.
_ASYNC_NAME = re.compile(r"\bAsync(?=[A-Z])")
_AWAIT = re.compile(r"\bawait ")
#: ``asyncio.shield(x)`` on one line is ``x``: a synchronous call cannot be cancelled midway.
_SHIELD = re.compile(r"\basyncio\.shield\((.*)\)$", re.MULTILINE)
_PRAGMA = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*# unasync: (?P<then>.*)$")
_HEADER = "# Generated from {source} by nexus_connector_core._unasync: do not edit.\n"
_IMPORT = re.compile(
    r"^from (?P<module>[\w.]+) import (?:(?P<open>\()(?P<names>[^)]*)\)|(?P<line>[^(\n]+))$",
    re.MULTILINE,
)


def _line(line: str) -> str | None:
    match = _PRAGMA.match(line)
    if match is None:
        return line
    then = match["then"].strip()
    return None if then == "delete" else f"{match['indent']}{then}"


def generate(source: str, text: str) -> str:
    """The synchronous twin of the asynchronous module `text` (named `source`)."""
    lines = [kept for line in text.splitlines() if (kept := _line(line)) is not None]
    code = "\n".join(lines) + "\n"
    for word, replacement in _WORDS:
        code = re.sub(rf"\b{re.escape(word)}\b", replacement, code)
    code = _ASYNC_NAME.sub("", code)
    code = _AWAIT.sub("", code)
    code = _SHIELD.sub(r"\1", code)
    return _HEADER.format(source=source) + _dedupe_imports(code)


def _dedupe_imports(code: str) -> str:
    """Names imported twice (``AsyncX, X`` became ``X, X``) imported once."""

    def once(match: re.Match[str]) -> str:
        listed = match["names"] if match["open"] else match["line"]
        names = [n.strip() for n in listed.replace("\n", " ").split(",") if n.strip()]
        unique = list(dict.fromkeys(names))
        if len(unique) == len(names):
            return match[0]
        if match["open"]:
            inner = "".join(f"    {name},\n" for name in unique)
            return f"from {match['module']} import (\n{inner})"
        return f"from {match['module']} import {', '.join(unique)}"

    return _IMPORT.sub(once, code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if a twin is out of date")
    args = parser.parse_args(argv)
    stale = []
    for source, twin in TWINS.items():
        wanted = generate(source, (_PACKAGE / source).read_text(encoding="utf-8"))
        path = _PACKAGE / twin
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == wanted:
            continue
        stale.append(twin)
        if not args.check:
            path.write_text(wanted, encoding="utf-8")
    if args.check and stale:
        print(f"out of date (run python -m nexus_connector_core._unasync): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
