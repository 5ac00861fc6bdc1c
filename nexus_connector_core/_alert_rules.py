"""The language of alert rules' ``when``: parsed and checked when the config loads, evaluated
by the leader (pure: what to read comes from `Condition.needs`, the values from `RuleData`).

    when = "burn_rate(payment, 1h) > 14.4 and burn_rate(payment, 5m) > 14.4"
    when = "breaker_open(payment, stripe) for 2m"
    when = "error_rate(email) > 20% for 5m"
    when = "p95(email.send) > 2s for 10m"

Grammar (keywords and names are case-sensitive)::

    rule       := condition [ "for" DURATION ]
    condition  := and { "or" and }
    and        := not { "and" not }
    not        := "not" not | comparison
    comparison := operand [ ( ">" | ">=" | "<" | "<=" | "==" | "!=" ) operand ]
    operand    := NUMBER | DURATION | PERCENT | call | "(" condition ")"
    call       := NAME "(" [ argument { "," argument } ] ")"

Numbers are written ``14.4``, durations ``500ms``, ``2s``, ``5m``, ``1h``, ``3d`` (seconds,
where a number is expected), percentages ``20%`` (0.2). A comparison is between numbers;
``and``, ``or``, ``not`` and the whole rule are about truths. A target is a connector's
name, or ``connector.operation`` for one operation's calls.

Functions (`FUNCTIONS`), windows defaulting to 5m:

- ``burn_rate(target, window)``: the highest burn rate of the target's SLO objectives;
- ``budget_left(target)``: the lowest share of error budget left over the SLO's window;
- ``attainment(target)``: the lowest attainment over the SLO's window;
- ``error_rate(target[, window])``: failed / all calls (failures the caller caused aside);
- ``calls(target[, window])``: how many calls counted;
- ``p50`` / ``p90`` / ``p95`` / ``p99(target[, window])``: the latency percentile of successful
  calls, in seconds (the upper bound of its histogram bucket: thresholds written in rules
  are bounds, so ``p95(x) > 2s`` is decided exactly);
- ``breaker_open(connector[, vendor])``: a breaker of the vendor (any vendor) is open now.

A value without data (no calls in the window) makes a comparison false. ``for D``: the
condition must hold at every evaluation for D before the alert fires.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol

from ._durations import UNITS
from ._slo import MAX_WINDOW, SloSpec, WindowCounts, check_window

__all__ = [
    "FUNCTIONS",
    "AlertRuleError",
    "Condition",
    "Needs",
    "ParsedRule",
    "RuleData",
    "RuleScope",
    "parse_rule",
]

Kind = Literal["number", "truth"]
DEFAULT_WINDOW = 300.0
_MAX_LENGTH = 2000
_MAX_DEPTH = 32


class AlertRuleError(ValueError):
    """A rule that cannot be parsed or checked: `message` and the 1-based `column`."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


# -- what a rule may name, and what it reads --------------------------------------------------


class RuleScope(Protocol):
    """What the config offers a rule: connectors, their operations, vendors and SLOs."""

    def operations(self, connector: str) -> Sequence[str] | None:
        """The operations of `connector`, or None when there is no such connector."""
        ...

    def vendors(self, connector: str) -> Sequence[str]: ...

    def slo(self, target: str) -> SloSpec | None:
        """The SLO named `target` (``payment`` or ``payment.capture``), if configured."""
        ...

    def connectors(self) -> Sequence[str]: ...


class RuleData(Protocol):
    """The values a rule is evaluated on (the leader reads them first: `Condition.needs`)."""

    def counts(self, connector: str, operation: str | None, window: float) -> WindowCounts: ...

    def slo(self, target: str) -> SloSpec: ...

    def breaker_open(self, connector: str, vendor: str | None) -> bool: ...


class Needs:
    """What a condition reads: (connector, window) count windows, (connector, vendor or
    None) breakers, and the latency thresholds it compares percentiles with (the latency
    histogram gets them as bounds, so those comparisons are exact)."""

    __slots__ = ("breakers", "thresholds", "windows")

    def __init__(self) -> None:
        self.windows: set[tuple[str, float]] = set()
        self.breakers: set[tuple[str, str | None]] = set()
        self.thresholds: set[float] = set()


# -- the tree -------------------------------------------------------------------------------


class Condition:
    """A node of a parsed rule: `kind` says whether it is a number or a truth."""

    kind: Kind = "truth"

    def value(self, data: RuleData) -> float | bool:
        raise NotImplementedError

    def holds(self, data: RuleData) -> bool:
        """The truth of a truth node on `data`."""
        return bool(self.value(data))

    def needs(self, into: Needs) -> None:
        """Add what evaluating this node reads."""


class _Number(Condition):
    kind: Kind = "number"

    def __init__(self, number: float) -> None:
        self.number = number

    def value(self, data: RuleData) -> float:
        return self.number


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class _Compare(Condition):
    def __init__(self, left: Condition, op: str, right: Condition) -> None:
        self.left, self.op, self.right = left, op, right

    def value(self, data: RuleData) -> bool:
        left, right = float(self.left.value(data)), float(self.right.value(data))
        if math.isnan(left) or math.isnan(right):
            return False  # no data: nothing to alert on
        return _COMPARE[self.op](left, right)

    def needs(self, into: Needs) -> None:
        self.left.needs(into)
        self.right.needs(into)
        for one, other in ((self.left, self.right), (self.right, self.left)):
            percentile = isinstance(one, _Call) and one.function in _PERCENTILES
            if percentile and isinstance(other, _Number) and 0 < other.number < math.inf:
                into.thresholds.add(other.number)


class _Logic(Condition):
    def __init__(self, op: str, parts: Sequence[Condition]) -> None:
        self.op, self.parts = op, tuple(parts)

    def value(self, data: RuleData) -> bool:
        if self.op == "not":
            return not self.parts[0].holds(data)
        if self.op == "and":
            return all(part.holds(data) for part in self.parts)
        return any(part.holds(data) for part in self.parts)

    def needs(self, into: Needs) -> None:
        for part in self.parts:
            part.needs(into)


class _Call(Condition):
    def __init__(
        self,
        function: str,
        kind: Kind,
        connector: str,
        operation: str | None,
        *,
        window: float,
        vendor: str | None = None,
    ) -> None:
        self.function, self.kind = function, kind
        self.connector, self.operation = connector, operation
        self.window, self.vendor = window, vendor

    @property
    def target(self) -> str:
        return self.connector if self.operation is None else f"{self.connector}.{self.operation}"

    def value(self, data: RuleData) -> float | bool:
        return _EVALUATE[self.function](self, data)

    def needs(self, into: Needs) -> None:
        if self.function == "breaker_open":
            into.breakers.add((self.connector, self.vendor))
        else:
            into.windows.add((self.connector, self.window))


# -- the functions --------------------------------------------------------------------------


def _slo_value(call: _Call, data: RuleData, pick: Literal["burn", "budget", "attain"]) -> float:
    spec = data.slo(call.target)
    counts = data.counts(call.connector, call.operation, call.window)
    values = []
    for objective in spec.objectives:
        bad, total = objective.bad_and_total(counts)
        if pick == "burn":
            values.append(objective.burn_rate(counts))
        elif not total:
            return math.nan
        elif pick == "budget":
            values.append(1.0 - bad / ((1.0 - objective.target) * total))
        else:
            values.append((total - bad) / total)
    return max(values) if pick == "burn" else min(values)


def _counts(call: _Call, data: RuleData) -> WindowCounts:
    return data.counts(call.connector, call.operation, call.window)


def _percentile(share: float) -> Callable[[_Call, RuleData], float]:
    def value(call: _Call, data: RuleData) -> float:
        found = _counts(call, data).percentile(share)
        return math.nan if found is None else found

    return value


_EVALUATE: dict[str, Callable[[_Call, RuleData], float | bool]] = {
    "burn_rate": lambda c, d: _slo_value(c, d, "burn"),
    "budget_left": lambda c, d: _slo_value(c, d, "budget"),
    "attainment": lambda c, d: _slo_value(c, d, "attain"),
    "error_rate": lambda c, d: _counts(c, d).error_rate if _counts(c, d).calls else math.nan,
    "calls": lambda c, d: float(_counts(c, d).calls),
    "p50": _percentile(0.50),
    "p90": _percentile(0.90),
    "p95": _percentile(0.95),
    "p99": _percentile(0.99),
    "breaker_open": lambda c, d: d.breaker_open(c.connector, c.vendor),
}

_PERCENTILES = ("p50", "p90", "p95", "p99")
#: Function -> (what it returns, its arguments as written in messages).
FUNCTIONS: Mapping[str, tuple[Kind, str]] = {
    "burn_rate": ("number", "target, window"),
    "budget_left": ("number", "target"),
    "attainment": ("number", "target"),
    "error_rate": ("number", "target[, window]"),
    "calls": ("number", "target[, window]"),
    "p50": ("number", "target[, window]"),
    "p90": ("number", "target[, window]"),
    "p95": ("number", "target[, window]"),
    "p99": ("number", "target[, window]"),
    "breaker_open": ("truth", "connector[, vendor]"),
}


# -- reading a rule -------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|%)?(?![A-Za-z0-9_]))
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?)
      | (?P<op>>=|<=|==|!=|>|<)
      | (?P<punct>[(),])""",
    re.VERBOSE,
)
_KEYWORDS = ("and", "or", "not", "for")


class _Token:
    __slots__ = ("column", "kind", "text")

    def __init__(self, kind: str, text: str, column: int) -> None:
        self.kind, self.text, self.column = kind, text, column

    def describe(self) -> str:
        return "the end of the rule" if self.kind == "end" else repr(self.text)


def _tokens(text: str) -> list[_Token]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise AlertRuleError(f"unexpected character {text[at]!r}", at + 1)
        kind = match.lastgroup or ""
        if kind != "space":
            word = match.group()
            tokens.append(_Token("keyword" if word in _KEYWORDS else kind, word, at + 1))
        at = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _number(token: _Token) -> tuple[float, str]:
    """The value of a number token, in seconds for a duration, and its unit ('' or '%')."""
    match = re.fullmatch(r"([0-9.]+)(ms|s|m|h|d|%)?", token.text)
    assert match is not None
    value, unit = float(match.group(1)), match.group(2) or ""
    if unit == "%":
        return value / 100.0, "%"
    if unit:
        return value * UNITS[unit], unit
    return value, ""


class ParsedRule:
    """A checked rule: its `condition`, how long it must hold (`hold`), and what it reads."""

    def __init__(self, condition: Condition, hold: float) -> None:
        self.condition = condition
        self.hold = hold
        self.needs = Needs()
        condition.needs(self.needs)

    def holds(self, data: RuleData) -> bool:
        return self.condition.holds(data)


def parse_rule(text: str, scope: RuleScope) -> ParsedRule:
    """Parse and check a rule against the config (`scope`); `AlertRuleError` with the
    column of the first problem."""
    if not text.strip():
        raise AlertRuleError("the rule is empty; write a condition such as error_rate(x) > 5%", 1)
    if len(text) > _MAX_LENGTH:
        raise AlertRuleError(f"a rule may be at most {_MAX_LENGTH} characters", _MAX_LENGTH + 1)
    return _Parser(_tokens(text), scope).rule()


class _Parser:
    def __init__(self, tokens: list[_Token], scope: RuleScope) -> None:
        self.tokens = tokens
        self.at = 0
        self.scope = scope
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def accept(self, text: str) -> _Token | None:
        if self.token.text == text and self.token.kind in ("keyword", "op", "punct"):
            return self.take()
        return None

    def expect(self, text: str, what: str) -> _Token:
        found = self.accept(text)
        if found is None:
            raise AlertRuleError(
                f"expected {what}, found {self.token.describe()}", self.token.column
            )
        return found

    def rule(self) -> ParsedRule:
        start = self.token
        condition = self.condition()
        self._truth(condition, start, "the rule")
        hold = 0.0
        if self.accept("for"):
            token = self.take()
            if token.kind != "number" or _number(token)[1] in ("", "%"):
                raise AlertRuleError(
                    f"expected a duration such as 2m after 'for', found {token.describe()}",
                    token.column,
                )
            hold = _number(token)[0]
            if not 0 < hold <= MAX_WINDOW:
                raise AlertRuleError("'for' must be more than 0 and at most 90d", token.column)
        if self.token.kind != "end":
            expected = (
                "the end of the rule" if hold else "'and', 'or', 'for' or the end of the rule"
            )
            hint = " ('for' goes last, once)" if self.token.text == "for" else ""
            raise AlertRuleError(
                f"expected {expected}, found {self.token.describe()}{hint}", self.token.column
            )
        return ParsedRule(condition, hold)

    def condition(self) -> Condition:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise AlertRuleError("the rule nests too deeply", self.token.column)
        try:
            return self._joined("or", self.conjunction)
        finally:
            self.depth -= 1

    def conjunction(self) -> Condition:
        return self._joined("and", self.negation)

    def _joined(self, op: str, part: Callable[[], Condition]) -> Condition:
        start = self.token
        parts = [part()]
        while True:
            token = self.accept(op)
            if token is None:
                break
            self._truth(parts[-1], start, f"the left of '{op}'")
            start = self.token
            parts.append(part())
            self._truth(parts[-1], start, f"the right of '{op}'")
        return parts[0] if len(parts) == 1 else _Logic(op, parts)

    def negation(self) -> Condition:
        if self.accept("not"):
            start = self.token
            inner = self.negation()
            self._truth(inner, start, "'not'")
            return _Logic("not", [inner])
        return self.comparison()

    def comparison(self) -> Condition:
        left_token = self.token
        left = self.operand()
        if self.token.kind != "op":
            return left
        op = self.take()
        right_token = self.token
        right = self.operand()
        for side, token in ((left, left_token), (right, right_token)):
            if side.kind != "number":
                raise AlertRuleError(
                    f"'{op.text}' compares numbers, but this is a truth (drop the comparison, "
                    "or compare a number)",
                    token.column,
                )
        return _Compare(left, op.text, right)

    def operand(self) -> Condition:
        token = self.token
        if token.kind == "number":
            self.take()
            return _Number(_number(token)[0])
        if self.accept("("):
            inner = self.condition()
            self.expect(")", "')'")
            return inner
        if token.kind == "name":
            return self.call()
        raise AlertRuleError(
            f"expected a number, a function such as error_rate(...) or '(', found "
            f"{token.describe()}",
            token.column,
        )

    def _truth(self, node: Condition, token: _Token, where: str) -> None:
        if node.kind != "truth":
            raise AlertRuleError(
                f"{where} must be a truth, such as a comparison (> 14.4) or breaker_open(...), "
                "not a number",
                token.column,
            )

    # -- calls --------------------------------------------------------------------------------

    def call(self) -> Condition:
        name = self.take()
        if name.text not in FUNCTIONS:
            close = difflib.get_close_matches(name.text, FUNCTIONS, 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise AlertRuleError(
                f"unknown function {name.text!r}{hint}; known: {', '.join(FUNCTIONS)}",
                name.column,
            )
        kind, signature = FUNCTIONS[name.text]
        self.expect("(", f"'(' after {name.text}")
        args: list[_Token] = []
        if not self.accept(")"):
            while True:
                token = self.take()
                if token.kind not in ("name", "number"):
                    raise AlertRuleError(
                        f"expected an argument of {name.text}({signature}), found "
                        f"{token.describe()}",
                        token.column,
                    )
                args.append(token)
                if self.accept(")"):
                    break
                self.expect(",", f"',' or ')' in {name.text}({signature})")
        return self._checked(name, kind, signature, args)

    def _checked(self, name: _Token, kind: Kind, signature: str, args: list[_Token]) -> Condition:
        function = name.text
        required = signature.split("[", maxsplit=1)[0].count(",") + 1
        allowed = signature.count(",") + 1
        if not required <= len(args) <= allowed:
            count = f"{required}" if required == allowed else f"{required} or {allowed}"
            raise AlertRuleError(
                f"{function}({signature}) takes {count} arguments, got {len(args)}", name.column
            )
        first = args[0]
        if first.kind != "name":
            raise AlertRuleError(
                f"the first argument of {function} is a connector, got {first.text!r}",
                first.column,
            )
        connector, _, operation = first.text.partition(".")
        self._target(connector, operation or None, first, function)
        if function == "breaker_open":
            return self._breaker(name, connector, operation, args)
        window = DEFAULT_WINDOW
        if function in ("budget_left", "attainment"):
            spec = self.scope.slo(first.text)
            assert spec is not None  # checked by _target
            window = spec.window
        elif len(args) == 2:
            window = self._window(args[1], function)
        return _Call(function, kind, connector, operation or None, window=window)

    def _target(self, connector: str, operation: str | None, token: _Token, function: str) -> None:
        operations = self.scope.operations(connector)
        if operations is None:
            known = self.scope.connectors()
            close = difflib.get_close_matches(connector, known, 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise AlertRuleError(
                f"no connector {connector!r}{hint}; configured: {', '.join(known) or 'none'}",
                token.column,
            )
        if operation is not None:
            if function == "breaker_open":
                raise AlertRuleError(
                    "breaker_open takes a connector and a vendor: breaker_open(payment, stripe)",
                    token.column,
                )
            if operation not in operations:
                raise AlertRuleError(
                    f"connector {connector!r} has no operation {operation!r}; it has: "
                    f"{', '.join(operations)}",
                    token.column + len(connector) + 1,
                )
        if function in ("burn_rate", "budget_left", "attainment") and (
            self.scope.slo(token.text) is None
        ):
            raise AlertRuleError(
                f"{function} needs an SLO for {token.text!r}: add [connectors.{connector}.slo]"
                + (f" with an operations.{operation} table" if operation else ""),
                token.column,
            )

    def _window(self, token: _Token, function: str) -> float:
        if token.kind != "number" or _number(token)[1] in ("", "%"):
            raise AlertRuleError(
                f"the window of {function} is a duration such as 5m or 1h, got {token.text!r}",
                token.column,
            )
        try:
            return check_window(token.text)
        except ValueError as exc:
            raise AlertRuleError(str(exc), token.column) from None

    def _breaker(
        self, name: _Token, connector: str, operation: str, args: list[_Token]
    ) -> Condition:
        vendor = None
        if len(args) == 2:
            token = args[1]
            vendors = self.scope.vendors(connector)
            if token.kind != "name" or token.text not in vendors:
                raise AlertRuleError(
                    f"connector {connector!r} has no vendor {token.text!r}; its chain: "
                    f"{', '.join(vendors)}",
                    token.column,
                )
            vendor = token.text
        return _Call("breaker_open", "truth", connector, None, window=0.0, vendor=vendor)
