"""Collecting configuration problems with the dotted key path of each.

msgspec reports ``$.retry[0]``; users read ``connectors.email.resilience.retry``. Values set
by environment variables say which variable set them.
"""

from __future__ import annotations

import copy
import difflib
import re
from typing import Any

import msgspec

from ._config_ranges import bounds_of, describe
from ._errors import ConfigError, VendorNotFoundError

__all__ = ["KeyPath", "Problems", "dotted"]

#: A key path: table keys and array indexes from the file's root.
KeyPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dotted(parts: KeyPath) -> str:
    """``connectors.email.retry[0]``: a key path as users read it."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f'."{part}"' if out else f'"{part}"'
    return out


class Problems:
    """Collects config problems with their paths, naming the env var that set a value."""

    def __init__(self, source: str, overrides: dict[tuple[str, ...], str]) -> None:
        self.source = source
        self.overrides = overrides
        self.items: list[ConfigError] = []

    def add(self, path: KeyPath, message: str) -> None:
        var = self._override_for(path)
        if var:
            message += f" (set by environment variable {var})"
        self.items.append(ConfigError(message, path=dotted(path) or None, source=self.source))

    def add_vendor_not_found(self, path: KeyPath, error: VendorNotFoundError) -> None:
        """Keep the specific class, so callers can catch `VendorNotFoundError`."""
        var = self._override_for(path)
        self.items.append(
            VendorNotFoundError(
                error.detail + (f" (set by environment variable {var})" if var else ""),
                category=error.category,
                vendor=error.requested,
                installed=error.installed,
                path=dotted(path),
                source=self.source,
            )
        )

    def _override_for(self, path: KeyPath) -> str | None:
        for length in range(len(path), 0, -1):
            var = self.overrides.get(tuple(str(p) for p in path[:length]))
            if var:
                return var
        return None

    def convert(
        self,
        value: Any,
        type_: type[Any],
        path: KeyPath,
        *,
        salvage: bool = False,
        reported: set[KeyPath] | None = None,
    ) -> Any:
        """msgspec.convert, reporting every problem of `value` with its key path.

        msgspec stops at the first problem; this records it, drops the offending key (or
        array item) from a copy and converts again, until the rest converts. Returns the
        converted value, or None when there was a problem; with `salvage`, what converted
        once the offending keys were dropped (for checking the rest of a table), None only
        when nothing could be salvaged. `reported` holds the paths within `value` whose
        problems were reported already (an operation's table merged over its connector's
        repeats the connector's problems): they are not reported again; those reported now
        are added.
        """
        try:
            return msgspec.convert(value, type_, str_keys=True)
        except msgspec.ValidationError as first:
            error = first
        data = copy.deepcopy(value)
        removed: dict[KeyPath, list[int]] = {}
        dropped: list[KeyPath] = []
        for _ in range(_MAX_PROBLEMS_PER_TABLE):
            problem = _explain(error, type_, data)
            if problem.table is not None and problem.follows_from(dropped):
                # Not a problem of its own (a key we dropped is now missing, a check across
                # keys failed for want of one): drop its whole table and go on.
                at = problem.table
            else:
                at = problem.at
                original = _original_path(at, removed)
                if reported is None or original not in reported:
                    self.add(path + original, problem.message)
                if reported is not None:
                    reported.add(original)
            if not _drop(data, at, removed):
                return None
            dropped.append(at)
            try:
                converted = msgspec.convert(data, type_, str_keys=True)
            except msgspec.ValidationError as exc:
                error = exc
                continue
            return converted if salvage else None
        return None

    def error(self) -> ConfigError | None:
        if not self.items:
            return None
        if len(self.items) == 1:
            return self.items[0]
        lines = "\n".join(
            f"  - {p.path}: {p.detail}" if p.path else f"  - {p.detail}" for p in self.items
        )
        error = ConfigError(f"{len(self.items)} problems:\n{lines}", source=self.source)
        error.problems = list(self.items)
        return error


_MAX_PROBLEMS_PER_TABLE = 64


class _Problem:
    """One msgspec error, explained: where (in the value as converted) and what."""

    __slots__ = ("at", "check", "message", "table")

    def __init__(
        self, at: KeyPath, message: str, *, table: KeyPath | None = None, check: bool = False
    ) -> None:
        self.at = at
        self.message = message
        #: The table the problem is in, for a missing key (`at` is the key) or a failed
        #: check across the table's keys (`check`).
        self.table = table
        self.check = check

    def follows_from(self, dropped: list[KeyPath]) -> bool:
        """Whether dropping one of `dropped` caused this problem: the missing key is one we
        dropped, or the failed check is about a key we dropped from its table."""
        if self.table is None:
            return False
        if not self.check:
            return self.at in dropped
        depth = len(self.table)
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", self.message))
        return any(
            d[:depth] == self.table and len(d) > depth and d[depth] in words for d in dropped
        )


def _explain(error: msgspec.ValidationError, type_: Any, data: Any) -> _Problem:
    message, at = _split_msgspec_error(str(error))
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", message)
    if unknown:
        key = unknown.group(1)
        allowed = _fields_at(type_, at)
        hint = difflib.get_close_matches(key, allowed, 1)
        text = f"unknown key {key!r}; expected one of: {', '.join(allowed)}"
        if hint:
            text += f" (did you mean {hint[0]!r}?)"
        return _Problem((*at, key), text)
    missing = re.fullmatch(r"Object missing required field `(.+)`", message)
    if missing:
        return _Problem((*at, missing.group(1)), "missing required key", table=at)
    info = _type_at(type_, at)
    if error.__cause__ is not None and not isinstance(error.__cause__, msgspec.MsgspecError):
        # A ValueError from a struct's own checks: its message starts with the field's name.
        return _field_check(message, at, info)
    bounds = bounds_of(info)
    if bounds is not None and _RANGE.fullmatch(message):
        return _Problem(at, f"must be a number {describe(bounds)}, got {_shown(data, at)}")
    literal = _literal_of(info)
    if literal is not None and message.startswith("Invalid enum value"):
        choices = ", ".join(repr(v) for v in literal.values)
        return _Problem(at, f"{message[0].lower()}{message[1:]}; expected one of: {choices}")
    message = message.replace("Expected `object`", "expected a table").replace(
        "Expected `array`", "expected an array"
    )
    return _Problem(at, message[:1].lower() + message[1:])


# msgspec's words for a number outside its bounds (or too large to be a float at all).
_RANGE = re.compile(
    r"Expected `(int|float)` [<>]=? \S+|Number out of range|Integer value out of range"
)
_FIELD_FIRST = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(:? )")


def _field_check(message: str, at: KeyPath, info: Any) -> _Problem:
    match = _FIELD_FIRST.match(message)
    fields = _field_names(info)
    if match and match.group(1) in fields:
        if match.group(2) == ": ":
            message = message[match.end() :]
        return _Problem((*at, match.group(1)), message, table=at, check=True)
    return _Problem(at, message, table=at, check=True)


def _shown(data: Any, at: KeyPath) -> str:
    """The offending number, for the message; only ever a number (a string may be a secret)."""
    value = _value_at(data, at)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "a value out of range"
    text = repr(value)
    return text if len(text) <= 24 else f"a number of {len(text)} digits"


def _value_at(data: Any, at: KeyPath) -> Any:
    for part in at:
        if isinstance(part, int):
            if not isinstance(data, list | tuple) or part >= len(data):
                return None
        elif not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _drop(data: Any, at: KeyPath, removed: dict[KeyPath, list[int]]) -> bool:
    """Remove the value at `at` from `data` (a key of a table, an item of an array)."""
    if not at:
        return False
    parent = _value_at(data, at[:-1])
    last = at[-1]
    if isinstance(last, str) and isinstance(parent, dict) and last in parent:
        del parent[last]
        return True
    if isinstance(last, int) and isinstance(parent, list) and last < len(parent):
        del parent[last]
        removed.setdefault(at[:-1], []).append(_original_index(last, removed.get(at[:-1], [])))
        return True
    return False


def _original_index(index: int, removed: list[int]) -> int:
    for gone in sorted(removed):
        if gone <= index:
            index += 1
    return index


def _original_path(at: KeyPath, removed: dict[KeyPath, list[int]]) -> KeyPath:
    """`at` in the value as written: array indexes shifted back over dropped items."""
    return tuple(
        _original_index(part, removed.get(at[:depth], [])) if isinstance(part, int) else part
        for depth, part in enumerate(at)
    )


def _split_msgspec_error(text: str) -> tuple[str, KeyPath]:
    match = re.fullmatch(r"(.*) - at `\$(.*)`", text, re.DOTALL)
    if match is None:
        return text, ()
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]", match.group(2)):
        if name:
            parts.append(name)
        elif index != "...":
            parts.append(int(index))
    return match.group(1), tuple(parts)


def _type_at(type_: Any, path: KeyPath) -> Any:
    """The msgspec type info of the value at `path` under `type_`; None when unknown."""
    info: Any = msgspec.inspect.type_info(type_)
    for part in path:
        info = _step(info, part)
        if info is None:
            return None
    return info


def _step(info: Any, part: str | int) -> Any:
    inspect = msgspec.inspect
    if isinstance(info, inspect.UnionType):
        for member in info.types:
            found = _step(member, part)
            if found is not None:
                return found
        return None
    if isinstance(part, str):
        if isinstance(info, inspect.StructType):
            match = [f for f in info.fields if f.encode_name == part]
            return match[0].type if match else None
        if isinstance(info, inspect.DictType):
            return info.value_type
        return None
    if isinstance(info, inspect.ListType | inspect.VarTupleType | inspect.SetType):
        return info.item_type
    if isinstance(info, inspect.TupleType) and part < len(info.item_types):
        return info.item_types[part]
    return None


def _field_names(info: Any) -> list[str]:
    inspect = msgspec.inspect
    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    for member in members:
        if isinstance(member, inspect.StructType):
            return [f.encode_name for f in member.fields]
    return []


def _literal_of(info: Any) -> Any:
    inspect = msgspec.inspect
    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    literals = [m for m in members if isinstance(m, inspect.LiteralType)]
    return literals[0] if literals else None


def _fields_at(type_: Any, path: KeyPath) -> list[str]:
    return sorted(_field_names(_type_at(type_, path)))
