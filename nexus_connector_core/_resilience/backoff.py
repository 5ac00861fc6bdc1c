"""How long to wait before the next attempt, and what a vendor's Retry-After means."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC
from typing import Literal

__all__ = ["Backoff", "parse_retry_after"]

# Delta-seconds as vendors send them: ASCII digits, some with a fraction or a sign.
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?")

Strategy = Literal["fixed", "linear", "exponential", "fibonacci", "decorrelated"]
Jitter = Literal["none", "full", "equal"]


class Backoff:
    """Delays between attempts.

    ``fixed``: `base` every time; ``linear``: `base` x n; ``exponential``: `base` x
    `multiplier`^(n-1); ``fibonacci``: `base` x F(n) (1, 1, 2, 3, 5...); ``decorrelated``:
    AWS's decorrelated jitter, random between `base` and 3 x the previous delay. Every delay
    is capped at `max_delay`, then jittered: ``full`` draws from [0, d], ``equal`` from
    [d/2, d] (decorrelated jitter is random already and ignores `jitter`).

    >>> Backoff("exponential", base=0.1, max_delay=1.0, jitter="none").delays(5)
    [0.1, 0.2, 0.4, 0.8, 1.0]
    """

    __slots__ = ("_random", "base", "jitter", "max_delay", "multiplier", "strategy")

    def __init__(
        self,
        strategy: Strategy = "exponential",
        *,
        base: float = 0.2,
        max_delay: float = 5.0,
        multiplier: float = 2.0,
        jitter: Jitter = "full",
        rng: random.Random | None = None,
    ) -> None:
        self.strategy = strategy
        self.base = base
        self.max_delay = max_delay
        self.multiplier = multiplier
        self.jitter = jitter
        self._random = rng or random.Random()

    def delay(self, retry: int, previous: float = 0.0) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        if self.strategy == "decorrelated":
            low = self.base
            high = max(previous * 3.0, low)
            return min(self.max_delay, self._random.uniform(low, high))
        if self.strategy == "fixed":
            raw = self.base
        elif self.strategy == "linear":
            raw = self.base * retry
        elif self.strategy == "fibonacci":
            a, b = 1, 1
            for _ in range(retry - 1):
                a, b = b, a + b
                if a * self.base > self.max_delay:
                    break
            raw = self.base * a
        else:
            try:
                raw = self.base * self.multiplier ** (retry - 1)
            except OverflowError:
                raw = self.max_delay
        capped = min(raw, self.max_delay)
        if self.jitter == "full":
            return self._random.uniform(0.0, capped)
        if self.jitter == "equal":
            return capped / 2.0 + self._random.uniform(0.0, capped / 2.0)
        return capped

    def delays(self, count: int) -> list[float]:
        """The first `count` delays, for display and tests."""
        out: list[float] = []
        previous = 0.0
        for retry in range(1, count + 1):
            previous = self.delay(retry, previous)
            out.append(previous)
        return out


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110).

    `now` is the current Unix time. A date in the past means 0; garbage means None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        seconds = float(text)
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    from email.utils import parsedate_to_datetime  # rare path; the email package is large

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # asctime and "-0000" dates: HTTP dates are always UTC
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - now, 0.0)
