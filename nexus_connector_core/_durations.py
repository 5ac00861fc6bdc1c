"""Durations as operators write them in SLOs and alert rules: ``30d``, ``6h``, ``5m``, ``2s``,
``500ms``, ``1.5s``.

>>> parse_duration("30d"), parse_duration("5m"), parse_duration("500ms")
(2592000.0, 300.0, 0.5)
>>> format_duration(21600.0), format_duration(0.25)
('6h', '250ms')
"""

from __future__ import annotations

import math
import re

__all__ = ["UNITS", "format_duration", "parse_duration"]

#: Seconds per unit.
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,9})?)(ms|s|m|h|d)")


def parse_duration(text: str) -> float:
    """Seconds in `text` (a number and one unit: ms, s, m, h, d); `ValueError` saying what is
    expected when it is not one."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        shown = repr(text) if isinstance(text, str) and len(text) <= 32 else "this value"
        raise ValueError(
            f"expected a duration such as 30s, 5m, 6h or 30d (a number and one unit of ms, s, "
            f"m, h, d), got {shown}"
        )
    return float(match.group(1)) * UNITS[match.group(2)]


def format_duration(seconds: float) -> str:
    """The shortest exact way to write `seconds` with one unit (``90s``, not ``1.5m``)."""
    if not math.isfinite(seconds):
        return str(seconds)
    for unit in ("d", "h", "m", "s"):
        count = seconds / UNITS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    millis = seconds * 1000
    if millis == int(millis):
        return f"{int(millis)}ms"
    return f"{seconds:g}s"
