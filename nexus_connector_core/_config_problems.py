"""Collecting configuration problems with the dotted key path of each.

msgspec reports ``$.retry[0]``; users read ``connectors.email.resilience.retry``. Values set
by environment variables say which variable set them.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import msgspec

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

    def convert(self, value: Any, type_: type[Any], path: KeyPath) -> Any:
        """msgspec.convert with msgspec's ``$.a[0]`` paths turned into ours."""
        try:
            return msgspec.convert(value, type_, str_keys=True)
        except msgspec.ValidationError as exc:
            message, at = _split_msgspec_error(str(exc))
            where = path + at
            unknown = re.fullmatch(r"Object contains unknown field `(.+)`", message)
            if unknown:
                key = unknown.group(1)
                allowed = _fields_at(type_, at)
                hint = difflib.get_close_matches(key, allowed, 1)
                message = f"unknown key {key!r}; expected one of: {', '.join(allowed)}"
                if hint:
                    message += f" (did you mean {hint[0]!r}?)"
                self.add((*where, key), message)
                return None
            missing = re.fullmatch(r"Object missing required field `(.+)`", message)
            if missing:
                self.add((*where, missing.group(1)), "missing required key")
                return None
            message = message.replace("Expected `object`", "expected a table").replace(
                "Expected `array`", "expected an array"
            )
            self.add(where, message[:1].lower() + message[1:])
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


def _fields_at(type_: Any, path: KeyPath) -> list[str]:
    for part in path:
        if not isinstance(part, str):
            continue
        info = msgspec.inspect.type_info(type_)
        if isinstance(info, msgspec.inspect.StructType):
            match = [f for f in info.fields if f.encode_name == part]
            if match:
                type_ = _struct_of(match[0].type)
    info = msgspec.inspect.type_info(type_)
    if isinstance(info, msgspec.inspect.StructType):
        return sorted(f.encode_name for f in info.fields)
    return []


def _struct_of(info: Any) -> Any:
    if isinstance(info, msgspec.inspect.StructType):
        return info.cls
    if isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            if isinstance(member, msgspec.inspect.StructType):
                return member.cls
    return None


# -- resolving ----------------------------------------------------------------------------
