"""The Lua scripts, as the server runs them: EVALSHA first, EVAL when the server lost them.

The guard scripts (admit, the admit that carries outcomes, record, breaker) are made for
each guard plan: the policy's numbers are written into the source and the blocks for
policies the plan lacks are left out, so a call sends two arguments and runs only what
applies. A connector has a handful of plans, so the server's script cache holds a handful
of scripts per connector.
"""

from __future__ import annotations

import hashlib
import math
import re
from importlib.resources import files
from string import Template

from nexus_connector_core.state import BreakerPolicy, GuardPlan

__all__ = ["SCRIPTS", "GuardScripts", "Script", "guard_scripts"]


class Script:
    """One script's source and SHA1 (computed here, so no SCRIPT LOAD round trip is needed)."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __repr__(self) -> str:
        return f"Script({self.name}, sha={self.sha[:8]})"


def _read(name: str) -> str:
    return (files("nexus_connector_redis") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


#: The scripts that need no plan, by name.
SCRIPTS = {
    name: Script(name, _read(name))
    for name in (
        "idem_begin",
        "idem_complete",
        "idem_release",
        "idem_extend",
        "token_set",
        "token_unlock",
        "slo_add",
        "slo_read",
        "lease_acquire",
        "lease_read",
        "lease_store",
        "lease_release",
        "limiter",
    )
}

_ADMIT = _read("admit")
_COMMON = _read("common")
_RECORD = _read("record")
_BREAKER = _read("breaker")
_BLOCK = re.compile(r"--\[\[([A-Z_]+)\n(.*?)\n\1\]\]\n", re.DOTALL)


def _keep(source: str, present: dict[str, bool]) -> str:
    """Keep the marked blocks whose policy the plan has, drop the others (nested too)."""
    while True:
        kept = _BLOCK.sub(lambda m: m.group(2) + "\n" if present[m.group(1)] else "", source)
        if kept == source:
            return kept
        source = kept


def _lua_string(text: str) -> str:
    """A Lua long-bracket string literal holding `text` exactly."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def _lua(value: float | int | bool | str) -> str:
    """A Lua literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and math.isinf(value):
        return "math.huge"
    return repr(value)


def _hash_ttl(plan: GuardPlan) -> int:
    """Seconds the scope hash lives once idle: well past every period its policies keep."""
    ttl = 3600
    if plan.breaker is not None:
        p = plan.breaker
        longest = max(p.open_for_max, p.open_for, p.half_open_max_wait)
        if p.window_type == "time":
            longest = max(longest, p.window)
        ttl = max(ttl, int(longest * 2 + 3600))
    if plan.budget is not None:
        ttl = max(ttl, int(plan.budget.window) + 2)
    if plan.limit is not None:
        ttl = max(ttl, int(plan.limit.capacity * plan.limit.interval) + 60)
    return ttl


def _header(plan: GuardPlan) -> str:
    """Where the plan's state lives in its scope hash, and for how long."""
    return (
        "local H = KEYS[1]\n"
        f"local P = {_lua_string(f'b:{plan.breaker_key}:')}\n"
        f"local G = {_lua_string(f'g:{plan.budget_key}:')}\n"
        f"local L = {_lua_string(f'l:{plan.limit_key}')}\n"
        f"local TTL = {_hash_ttl(plan)}\n"
    )


def _policy_table(policy: BreakerPolicy) -> str:
    fields = {
        "window_type": policy.window_type,
        "window": policy.window,
        "min_calls": policy.min_calls,
        "failure_rate": policy.failure_rate,
        "slow_rate": policy.slow_call_rate,
        "slow_duration": policy.slow_call_duration,
        "open_for": policy.open_for,
        "open_mult": policy.open_for_multiplier,
        "open_max": policy.open_for_max,
        "half_open_calls": policy.half_open_calls,
        "half_open_max_wait": policy.half_open_max_wait,
    }
    body = ", ".join(f"{name} = {_lua(value)}" for name, value in fields.items())
    return f"local p = {{{body}}}\n"


class GuardScripts:
    """The scripts of one plan: admit; carrying, the admit that first records outcomes of
    earlier attempts; record; breaker (all but admit None without a breaker)."""

    __slots__ = ("admit", "breaker", "carrying", "record")

    def __init__(
        self,
        admit: Script,
        carrying: Script | None = None,
        record: Script | None = None,
        breaker: Script | None = None,
    ) -> None:
        self.admit = admit
        self.carrying = carrying
        self.record = record
        self.breaker = breaker


def _hmget(fields: list[str], numbers: dict[str, str]) -> dict[str, str]:
    """`numbers` with the admit script's HMGET: its fields and where each lands in the
    reply (fields of absent policies are not read, and their blocks are gone)."""
    names = {
        "'x'": "x",
        "P .. 'h'": "h",
        "P .. 'q'": "q",
        "L": "tat",
        "G .. 'h'": "gh",
        "bucket": "bucket",
        "P .. 'rg'": "rg",
        "P .. 'ri'": "ri",
        "P .. 'old'": "old",
    }
    where = {f"i_{names[field]}": str(index) for index, field in enumerate(fields, 1)}
    return numbers | where | {"fields": ", ".join(fields)}


def guard_scripts(plan: GuardPlan) -> GuardScripts:
    """The scripts for `plan`, its numbers written in."""
    breaker, limit, budget = plan.breaker, plan.limit, plan.budget
    present = {
        "BREAKER": breaker is not None,
        "LIMIT": limit is not None,
        "LIMIT_IN_HASH": limit is not None and not plan.limit_per_caller,
        "LIMIT_OWN_KEY": limit is not None and plan.limit_per_caller,
        "BUDGET": budget is not None,
        "OUTCOMES": False,
    }
    admit = _keep(_ADMIT, present)
    numbers: dict[str, str] = {}
    if breaker is not None:
        numbers |= {
            "count_window": _lua(breaker.window_type == "count"),
            "window": _lua(breaker.window),
            "min_calls": _lua(breaker.min_calls),
            "failure_rate": _lua(breaker.failure_rate),
            "slow_rate": _lua(breaker.slow_call_rate),
            "slow_duration": _lua(breaker.slow_call_duration),
            "half_open_max_wait": _lua(breaker.half_open_max_wait),
            "half_open_calls": _lua(breaker.half_open_calls),
            "open_for": _lua(breaker.open_for),
            "open_mult": _lua(breaker.open_for_multiplier),
            "open_cap": _lua(max(breaker.open_for_max, breaker.open_for)),
        }
    if limit is not None:
        numbers |= {
            "interval": _lua(limit.interval),
            "tolerance": _lua((limit.capacity - 1) * limit.interval),
        }
    if budget is not None:
        window = int(budget.window)
        numbers |= {
            "budget_window": _lua(window),
            "budget_ratio": _lua(budget.ratio),
            "budget_floor": _lua(budget.min_per_second * budget.window),
        }
    fields = ["'x'"]
    if breaker is not None:
        fields += ["P .. 'h'", "P .. 'q'"]
    if limit is not None and not plan.limit_per_caller:
        fields.append("L")
    if budget is not None:
        fields += ["G .. 'h'", "bucket"]
    header = _header(plan)
    admit_script = Script("admit", header + Template(admit).substitute(_hmget(fields, numbers)))
    if breaker is None:
        return GuardScripts(admit_script)
    rules = _policy_table(breaker) + _COMMON
    # The carrying admission also reads the breaker's window, to record outcomes in it; the
    # breaker's full rules are one function, whose own functions are made only when it runs
    # (making them costs the server more than the common case's whole work).
    fields += ["P .. 'rg'", "P .. 'ri'", "P .. 'old'"]
    record_fully = (
        "local function record_fully(h, q, rg, ri, old, now)\n"
        f"{rules}return carry(h, q, rg, ri, old, now)\nend\n"
    )
    carrying = _keep(_ADMIT, present | {"OUTCOMES": True})
    carrying = Template(carrying).substitute(_hmget(fields, numbers))
    return GuardScripts(
        admit_script,
        Script("admit_carrying", header + record_fully + carrying),
        Script("record", header + rules + _RECORD),
        Script("breaker", header + rules + _BREAKER),
    )
