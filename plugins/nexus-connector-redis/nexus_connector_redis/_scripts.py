"""The Lua scripts, as the server runs them: EVALSHA first, EVAL when the server lost them."""

from __future__ import annotations

import hashlib
from importlib.resources import files

__all__ = ["SCRIPTS", "Script"]

_COMMON = ("admit", "record", "breaker")  # the scripts that need the breaker's rules


class Script:
    """One script's source and SHA1 (computed here, so no SCRIPT LOAD round trip is needed)."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __repr__(self) -> str:
        return f"Script({self.name}, sha={self.sha[:8]})"


def _load() -> dict[str, Script]:
    folder = files("nexus_connector_redis") / "lua"
    common = (folder / "common.lua").read_text(encoding="utf-8")
    scripts = {}
    for name in (
        "admit",
        "record",
        "breaker",
        "idem_begin",
        "idem_complete",
        "idem_release",
        "token_set",
        "token_unlock",
    ):
        body = (folder / f"{name}.lua").read_text(encoding="utf-8")
        scripts[name] = Script(name, common + "\n" + body if name in _COMMON else body)
    return scripts


#: Every script by name.
SCRIPTS = _load()
