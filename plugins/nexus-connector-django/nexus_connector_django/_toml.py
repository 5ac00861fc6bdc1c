"""A config given as a dict, written as TOML: for the CLI, which reads a file.

Each top-level key becomes ``key = <inline table or value>`` on one line; strings, numbers
(``inf`` and ``nan`` as TOML spells them), booleans, paths (as strings), lists and tables
are written; anything else (None, a date, an object) is a `ValueError` naming its key path.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps"]


def dumps(data: Mapping[str, Any], where: str) -> str:
    """`data` as a TOML document; `where` names `data` in error messages."""
    return "".join(
        f"{_key(key, where)} = {_value(v, f'{where}.{key}')}\n" for key, v in data.items()
    )


def _key(key: object, where: str) -> str:
    if not isinstance(key, str):
        raise ValueError(f"{where}: the key {key!r} is not a string")
    return _string(key, where)


def _string(text: str, where: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: a string that is not valid Unicode text") from None
    # JSON escapes the quote, the backslash and the C0 controls as TOML does; TOML wants
    # DEL escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str | os.PathLike):
        return _string(os.fspath(value) if not isinstance(value, str) else value, where)
    if isinstance(value, Mapping):
        items = ", ".join(
            f"{_key(key, where)} = {_value(item, f'{where}.{key}')}" for key, item in value.items()
        )
        return f"{{ {items} }}" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item, f"{where}[{i}]") for i, item in enumerate(value)) + "]"
    raise ValueError(
        f"{where}: a {type(value).__name__} cannot be written in a config file; use a string, "
        "number, boolean, list or dict (leave a key out instead of None)"
    )
