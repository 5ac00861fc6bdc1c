"""The range of every numeric setting: declared once on the field, checked at load.

A numeric field of a config struct is written ``Annotated[float, between(0.001, DAY)]``.
msgspec checks the bounds when a config is loaded (``nan`` and ``inf`` fail them: every bound
is finite), `check_ranges` checks them again when a struct is built in Python, and
`numeric_settings` lists them for the documentation's range tables (a test compares the two).

Why bounds at all: ``inf``, ``nan``, ``1e-300`` or ``2**70`` seconds, slots or calls pass a
"> 0" check and then crash later, far from the config (an ``OverflowError`` computing a
delay, a ``MemoryError`` allocating a window, a Redis ``ResponseError`` on an expiry in
milliseconds). Each bound is far beyond any sensible value and well inside what every state
backend can store.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec

__all__ = [
    "DAY",
    "YEAR",
    "Fraction",
    "Seconds",
    "Wait",
    "Bounds",
    "between",
    "bounds_of",
    "check_ranges",
    "describe",
    "numeric_settings",
]

#: The longest duration a timeout, wait or open period may be set to: a day.
DAY = 86_400.0
#: The longest time a stored outcome or cached result may be kept: a year.
YEAR = 365 * DAY


def between(low: float, high: float, *, above: bool = False) -> msgspec.Meta:
    """The bounds of a numeric field: ``low <= value <= high`` (``low < value`` with
    `above`)."""
    if above:
        return msgspec.Meta(gt=low, le=high)
    return msgspec.Meta(ge=low, le=high)


#: Seconds something may take or last: a millisecond to a day.
Seconds = Annotated[float, between(0.001, DAY)]
#: Seconds to wait, where 0 means "not at all": up to a day.
Wait = Annotated[float, between(0.0, DAY)]
#: A rate threshold: above 0 and at most 1.
Fraction = Annotated[float, between(0.0, 1.0, above=True)]


class Bounds(msgspec.Struct, frozen=True):
    """The bounds of one numeric field, as msgspec reports them."""

    kind: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def admits(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return not (
            (self.ge is not None and not value >= self.ge)
            or (self.gt is not None and not value > self.gt)
            or (self.le is not None and not value <= self.le)
            or (self.lt is not None and not value < self.lt)
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def describe(bounds: Bounds) -> str:
    """``from 1 to 100``, ``above 0 and at most 1``: the range as the docs and errors say it."""
    parts = []
    if bounds.ge is not None:
        parts.append(f"from {_number(bounds.ge)}")
    elif bounds.gt is not None:
        parts.append(f"above {_number(bounds.gt)}")
    if bounds.le is not None:
        parts.append(
            f"to {_number(bounds.le)}" if bounds.ge is not None else f"at most {_number(bounds.le)}"
        )
    elif bounds.lt is not None:
        parts.append(f"below {_number(bounds.lt)}")
    return " and ".join(parts) if bounds.ge is None else " ".join(parts)


def bounds_of(info: Any) -> Bounds | None:
    """The bounds of a field from its msgspec type info (an optional number counts too)."""
    if isinstance(info, msgspec.inspect.UnionType):
        numbers = [bounds_of(member) for member in info.types]
        found = [b for b in numbers if b is not None]
        return found[0] if len(found) == 1 else None
    if isinstance(info, msgspec.inspect.FloatType | msgspec.inspect.IntType):
        kind = "int" if isinstance(info, msgspec.inspect.IntType) else "float"
        return Bounds(kind, ge=info.ge, gt=info.gt, le=info.le, lt=info.lt)
    return None


_FIELDS: dict[type[Any], list[tuple[str, Bounds, bool]]] = {}


def _bounded_fields(cls: type[Any]) -> list[tuple[str, Bounds, bool]]:
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = []
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        for field in info.fields:
            kind = field.type
            many = isinstance(kind, msgspec.inspect.VarTupleType | msgspec.inspect.ListType)
            if isinstance(kind, msgspec.inspect.VarTupleType | msgspec.inspect.ListType):
                kind = kind.item_type
            bounds = bounds_of(kind)
            if bounds is not None:
                fields.append((field.name, bounds, many))
        _FIELDS[cls] = fields
    return fields


def check_ranges(struct: msgspec.Struct) -> None:
    """Refuse a field outside its declared range with a `ValueError` naming the field.

    msgspec checks the bounds when it decodes; this checks a struct built in Python too
    (call it first in ``__post_init__``). A setting that is a number or a word (``delay =
    "p95"``) is checked when it is a number.
    """
    for name, bounds, many in _bounded_fields(type(struct)):
        value = getattr(struct, name)
        for item in value if many else (value,):
            if item is None or isinstance(item, str) or bounds.admits(item):
                continue
            raise ValueError(f"{name} must be a number {describe(bounds)}, got {item!r}")


def numeric_settings(cls: type[Any], prefix: str = "") -> Iterator[tuple[str, Bounds | None]]:
    """Every numeric setting under struct `cls`, nested tables included, as ``(dotted key,
    bounds)``; None bounds: an unbounded number (a test refuses those)."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        key = f"{prefix}{field.encode_name}"
        kind = field.type
        members = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
        structs = [m.cls for m in members if isinstance(m, msgspec.inspect.StructType)]
        if structs:
            yield from numeric_settings(structs[0], f"{key}.")
            continue
        if isinstance(kind, msgspec.inspect.VarTupleType | msgspec.inspect.ListType):
            members = (kind.item_type,)
        numeric = [
            m for m in members if isinstance(m, msgspec.inspect.FloatType | msgspec.inspect.IntType)
        ]
        if numeric:
            yield key, bounds_of(numeric[0])
